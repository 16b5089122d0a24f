package dwcp

import (
	"errors"
	"fmt"
)

// Sentinels, one per kind of bad input or state; every error an adapter returns for a bad
// input is an *InputError (or *WarmingUpError, *NoFeasibleNodeError) that matches one of
// them with errors.Is. Errors of the engine itself (a bad bundle, an unreachable sidecar)
// come wrapped with %w, so engine.CodeOf and errors.Is(err, engine.ErrUnavailable) work.
var (
	ErrNil         = errors.New("nil input")
	ErrNotFinite   = errors.New("value is NaN or infinite")
	ErrNegative    = errors.New("value is negative")
	ErrNoTimestamp = errors.New("zero timestamp")
	// ErrTimeOrder: a sample older than any window of the entity reads (the store drops
	// it); a sample out of order inside the window is the feature core's to place.
	ErrTimeOrder      = errors.New("sample older than the oldest bin any window reads")
	ErrTimeRange      = errors.New("timestamp outside 1970 .. 9999")
	ErrEntityFull     = errors.New("the store holds the entity's maximum of samples inside its window span")
	ErrEmptyHistory   = errors.New("empty history")
	ErrWarmingUp      = errors.New("history shorter than the model's window")
	ErrUnknownTarget  = errors.New("unknown target type")
	ErrNoCapacity     = errors.New("no CPU capacity for the target")
	ErrHorizon        = errors.New("horizon the model does not forecast")
	ErrEmptyID        = errors.New("empty ID")
	ErrDuplicateID    = errors.New("duplicate ID")
	ErrZeroCapacity   = errors.New("capacity is zero")
	ErrOverAvailable  = errors.New("available exceeds total")
	ErrNoNodes        = errors.New("no nodes")
	ErrNoModel        = errors.New("the bundle has no model of the family")
	ErrNoFeasibleNode = errors.New("no feasible node")
	ErrMixedLinks     = errors.New("samples of different links")
	ErrRatio          = errors.New("a ratio must lie in 0..1 (0.01 = 1 %)")
	ErrBadConfig      = errors.New("bad adapter configuration")
)

// InputError is a bad input: the call, the field (e.g. "MetricVector.Latency",
// "Node[3].TotalMemory"), its value and the sentinel it matches.
type InputError struct {
	Op    string // "detect", "predict", "place vm", ...
	Field string
	Value any
	Err   error // one of the sentinels
}

func (e *InputError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("dwcp: %s: %s: %v", e.Op, e.Field, e.Err)
	}
	return fmt.Sprintf("dwcp: %s: %s = %v: %v", e.Op, e.Field, e.Value, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(op, field string, value any, err error) *InputError {
	return &InputError{Op: op, Field: field, Value: value, Err: err}
}

// WarmingUpError: the entity's window in the store does not hold every bin yet: the
// feature core's resampling of its held samples gives Have of the Need bins the model
// reads (engine.Window); Need - Have more samples on the grid are needed.
type WarmingUpError struct {
	Op     string
	Entity string
	Have   int
	Need   int
}

func (e *WarmingUpError) Error() string {
	return fmt.Sprintf("dwcp: %s: %s: %d of the %d samples of the model's window (one per step): %v",
		e.Op, e.Entity, e.Have, e.Need, ErrWarmingUp)
}

func (e *WarmingUpError) Unwrap() error { return ErrWarmingUp }

// engineErr wraps an engine error with the adapter's call.
func engineErr(op string, err error) error { return fmt.Errorf("dwcp: %s: %w", op, err) }
