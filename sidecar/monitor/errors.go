package monitor

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; every error of Actual and Drift matches one with errors.Is.
var (
	// ErrInvalidActual: the actual cannot be scored (unknown kind, empty entity, a NaN or
	// ±Inf value, a negative demand for Capacity, a label other than 0 or 1 for Flag).
	ErrInvalidActual = errors.New("invalid actual")
	// ErrNoPrediction: no served prediction waits for (kind, entity, ts): never served,
	// already joined, or dropped (PendingTTL, MaxPending).
	ErrNoPrediction = errors.New("no served prediction waiting")
	// ErrNoReference: the key has no drift reference (SetReference).
	ErrNoReference = errors.New("no drift reference")
	// ErrInvalidReference: SetReference was given a reference the feature core refuses.
	ErrInvalidReference = errors.New("invalid drift reference")
	// ErrShape: a tensor given to ObserveInputTensor / ObserveOutputTensor does not split
	// into the rows and columns of the reference.
	ErrShape = errors.New("tensor shape does not fit the drift reference")
)

// ActualError is the error of Actual: which actual, why, and the sentinel (Err) it
// matches.
type ActualError struct {
	Kind   Kind
	Entity string
	TS     int64
	Value  float64
	Reason string // what is wrong, for ErrInvalidActual
	Err    error  // ErrInvalidActual or ErrNoPrediction
}

func (e *ActualError) Error() string {
	s := "monitor: actual " + e.Kind.String() + " " + strconv.Quote(e.Entity) + " at " +
		strconv.FormatInt(e.TS, 10) + " = " + strconv.FormatFloat(e.Value, 'g', -1, 64) + ": " + e.Err.Error()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the sentinel.
func (e *ActualError) Unwrap() error { return e.Err }

// keyError names the key of a drift failure.
func keyError(k Key, err error) error {
	return fmt.Errorf("monitor: %s: %w", k, err)
}
