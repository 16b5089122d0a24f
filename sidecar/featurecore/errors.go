package featurecore

// #include "feature_core.h"
import "C"

import (
	"strconv"
	"strings"
)

// Status mirrors the C enum fc_status: the outcome of a feature core call.
type Status int32

// The statuses of fc_status, with the C values.
const (
	StatusOK              Status = C.FC_OK
	StatusNullPointer     Status = C.FC_ERR_NULL_POINTER
	StatusUnknownSchema   Status = C.FC_ERR_UNKNOWN_SCHEMA
	StatusBadParams       Status = C.FC_ERR_BAD_PARAMS
	StatusLength          Status = C.FC_ERR_LENGTH
	StatusOutputSize      Status = C.FC_ERR_OUTPUT_SIZE
	StatusMissing         Status = C.FC_ERR_MISSING
	StatusInfinite        Status = C.FC_ERR_INFINITE
	StatusNegative        Status = C.FC_ERR_NEGATIVE
	StatusTimeOrder       Status = C.FC_ERR_TIME_ORDER
	StatusTimeGap         Status = C.FC_ERR_TIME_GAP
	StatusRange           Status = C.FC_ERR_RANGE
	StatusTimeRange       Status = C.FC_ERR_TIME_RANGE
	StatusZeroCapacity    Status = C.FC_ERR_ZERO_CAPACITY
	StatusEdgeOrder       Status = C.FC_ERR_EDGE_ORDER
	StatusEmpty           Status = C.FC_ERR_EMPTY
	StatusConstant        Status = C.FC_ERR_CONSTANT
	StatusTreeUnsupported Status = C.FC_ERR_TREE_UNSUPPORTED
	StatusTreeShape       Status = C.FC_ERR_TREE_SHAPE
)

const statusCount = C.FC_STATUS_COUNT

// String returns the stable C name of the status ("FC_ERR_TIME_GAP", from
// fc_status_name); "FC_ERR_UNKNOWN_STATUS" for a value outside the enum.
func (s Status) String() string { return statusNames[s.index()] }

// Message returns the C core's one-sentence explanation of the status and how to fix the
// input (fc_status_message).
func (s Status) Message() string { return statusMessages[s.index()] }

// Err returns the sentinel error of the status (ErrMissing for StatusMissing, ...), nil for
// StatusOK.
func (s Status) Err() error {
	if s == StatusOK {
		return nil
	}
	if s > StatusOK && s < statusCount {
		return sentinels[s]
	}
	return &statusError{s}
}

// index maps every value outside the enum to the extra "unknown" slot of the tables.
func (s Status) index() int {
	if s < 0 || s >= statusCount {
		return statusCount
	}
	return int(s)
}

// Names and messages are read from the C core once, so the Go strings cannot drift from it.
var statusNames, statusMessages = func() (names, messages [statusCount + 1]string) {
	for i := range names {
		names[i] = C.GoString(C.fc_status_name(C.fc_status(i)))
		messages[i] = C.GoString(C.fc_status_message(C.fc_status(i)))
	}
	return
}()

// statusError is the type of the sentinel errors.
type statusError struct{ s Status }

func (e *statusError) Error() string { return "featurecore: " + e.s.Message() }

// Sentinel errors, one per failing status. Every error returned by this package is an
// *Error that matches exactly one of them with errors.Is:
//
//	if errors.Is(err, featurecore.ErrMissing) { ... drop the window ... }
var (
	ErrNullPointer   error = &statusError{StatusNullPointer}
	ErrUnknownSchema error = &statusError{StatusUnknownSchema}
	ErrBadParams     error = &statusError{StatusBadParams}
	ErrLength        error = &statusError{StatusLength}
	ErrOutputSize    error = &statusError{StatusOutputSize}
	ErrMissing       error = &statusError{StatusMissing}
	ErrInfinite      error = &statusError{StatusInfinite}
	ErrNegative      error = &statusError{StatusNegative}
	ErrTimeOrder     error = &statusError{StatusTimeOrder}
	ErrTimeGap       error = &statusError{StatusTimeGap}
	ErrRange         error = &statusError{StatusRange}
	ErrTimeRange     error = &statusError{StatusTimeRange}
	ErrZeroCapacity  error = &statusError{StatusZeroCapacity}
	ErrEdgeOrder     error = &statusError{StatusEdgeOrder}
	ErrEmpty         error = &statusError{StatusEmpty}
	ErrConstant      error = &statusError{StatusConstant}
	// ErrTreeUnsupported and ErrTreeShape come only from NewTrees.
	ErrTreeUnsupported error = &statusError{StatusTreeUnsupported}
	ErrTreeShape       error = &statusError{StatusTreeShape}
)

var sentinels = [statusCount]error{
	StatusNullPointer:     ErrNullPointer,
	StatusUnknownSchema:   ErrUnknownSchema,
	StatusBadParams:       ErrBadParams,
	StatusLength:          ErrLength,
	StatusOutputSize:      ErrOutputSize,
	StatusMissing:         ErrMissing,
	StatusInfinite:        ErrInfinite,
	StatusNegative:        ErrNegative,
	StatusTimeOrder:       ErrTimeOrder,
	StatusTimeGap:         ErrTimeGap,
	StatusRange:           ErrRange,
	StatusTimeRange:       ErrTimeRange,
	StatusZeroCapacity:    ErrZeroCapacity,
	StatusEdgeOrder:       ErrEdgeOrder,
	StatusEmpty:           ErrEmpty,
	StatusConstant:        ErrConstant,
	StatusTreeUnsupported: ErrTreeUnsupported,
	StatusTreeShape:       ErrTreeShape,
}

// Error is the error every call of this package returns: the C status and where the
// core found the first bad input (the fields of fc_error). Index, Channel and Feature are
// -1 when not relevant; ChannelName and FeatureName are the schema's names for Channel
// and Feature ("" when -1).
//
// For PlaceFactors (Op "place") Index is the candidate host, Channel the input column
// (ChannelName like "host_usage.mem_mb", see PlaceColumnName) and Feature the factor
// (FeatureName like "host_mean_cpu", see PlaceFactorNames).
//
// For the drift statistics (Op "drift ln", "quantile edges", "histogram", "psi", "ks")
// Index is the element of the array at fault and Channel that array (ChannelName
// "values", "edges", "ref" or "live"); Feature is -1.
type Error struct {
	Op      string // "window", "windows", "grid", "resample", "params", "schema", "place", "place params" or a drift op
	Status  Status
	Index   int64 // sample index; a bin index for a StatusRange error of Resample; a host for "place"; an element for drift; a stream for "partition"
	Channel int   // input channel index; an input column for "place"; an array for drift; an argument for "partition"
	Feature int   // feature index (a feature row's column, or the Center/Scale entry); a factor for "place"

	ChannelName string
	FeatureName string
}

// Error reads like
//
//	featurecore: window: sample 12, channel "net_rx_kbs": missing sample (NaN) inside the window: ...
//	featurecore: place: host 3, column "host_usage.mem_mb": negative value on a channel ...
//	featurecore: histogram: element 2, array "edges": drift bin edges must be ...
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("featurecore: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	n := 0
	sep := func() {
		if n > 0 {
			b.WriteString(", ")
		}
		n++
	}
	place := e.Op == "place"
	drift := isDriftOp(e.Op)
	partition := e.Op == opPartition
	drift = drift || e.Op == opTrees || e.Op == opTreesScore // element of an array, like drift
	if e.Index >= 0 {
		sep()
		switch {
		case place:
			b.WriteString("host ")
		case e.Op == "resample" && e.Status == StatusRange:
			b.WriteString("bin ")
		case drift:
			b.WriteString("element ")
		case partition:
			b.WriteString("stream ")
		default:
			b.WriteString("sample ")
		}
		b.WriteString(strconv.FormatInt(e.Index, 10))
	}
	if e.Channel >= 0 {
		sep()
		switch {
		case place:
			b.WriteString("column ")
		case drift:
			b.WriteString("array ")
		case partition:
			b.WriteString("argument ")
		default:
			b.WriteString("channel ")
		}
		writeName(&b, e.ChannelName, e.Channel)
	}
	if e.Feature >= 0 {
		sep()
		if place {
			b.WriteString("factor ")
		} else {
			b.WriteString("feature ")
		}
		writeName(&b, e.FeatureName, e.Feature)
	}
	if n > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Status.Message())
	return b.String()
}

func writeName(b *strings.Builder, name string, i int) {
	if name == "" {
		b.WriteString(strconv.Itoa(i))
		return
	}
	b.WriteString(strconv.Quote(name))
}

// Is reports whether target is the sentinel of e.Status, so that
// errors.Is(err, ErrMissing) holds for a missing-sample error.
func (e *Error) Is(target error) bool { return target != nil && target == e.Status.Err() }

// Unwrap returns the sentinel of e.Status.
func (e *Error) Unwrap() error { return e.Status.Err() }

// newError converts a failing window-feature call into an *Error, naming the channel and
// feature from schema.
func newError(op string, schema Schema, st C.fc_status, ce *C.fc_error) error {
	return locatedError(op, st, ce, schema.channelName, schema.featureName)
}

// locatedError converts a failing C call into an *Error; channelName and featureName name
// the fc_error's channel and feature indexes when they are set.
func locatedError(op string, st C.fc_status, ce *C.fc_error, channelName, featureName func(int) string) error {
	e := &Error{
		Op:      op,
		Status:  Status(st),
		Index:   int64(ce.index),
		Channel: int(ce.channel),
		Feature: int(ce.feature),
	}
	if e.Channel >= 0 {
		e.ChannelName = channelName(e.Channel)
	}
	if e.Feature >= 0 {
		e.FeatureName = featureName(e.Feature)
	}
	return e
}

// noError is the fc_error value passed to every call: "not relevant" everywhere, so a
// status the core returns without filling fc_error still reads correctly.
func noError() C.fc_error {
	return C.fc_error{status: C.FC_OK, index: -1, channel: -1, feature: -1}
}
