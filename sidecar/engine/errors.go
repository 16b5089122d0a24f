package engine

import (
	"context"
	"errors"
	"fmt"
)

// Code classifies an error; callers branch on it (and the sidecar maps it to a gRPC code).
type Code int

const (
	CodeInternal     Code = iota // a bug or an ONNX Runtime failure (gRPC Internal)
	CodeInvalidInput             // bad request: shape, NaN/Inf, range, gap in a series (InvalidArgument)
	CodeNotFound                 // unknown model or version (NotFound)
	CodeTooLarge                 // batch larger than the engine's limit (InvalidArgument)
	CodeBadBundle                // corrupt or inconsistent bundle: sha256, JSON, goldens (FailedPrecondition)
	CodeMismatch                 // bundle made for another feature core, schema, opset or ORT (FailedPrecondition)
	CodeLibrary                  // ONNX Runtime library missing or unusable (FailedPrecondition)
	CodeUnavailable              // engine closed or sidecar unreachable (Unavailable)
	CodeCanceled                 // the caller's context ended (Canceled / DeadlineExceeded)
	// CodeNoFeasibleHost: a valid placement request whose hard constraints leave no host
	// (FailedPrecondition: the same request fails again until the cluster changes). Err is
	// a *NoFeasibleHostError listing every host and why.
	CodeNoFeasibleHost
	// CodePermissionDenied: the caller may not make this call (an admin call from a peer
	// that is not allowed, or a reload of a directory outside the bundle root).
	CodePermissionDenied
	// CodeStoreFull: the online feature store holds its maximum number of entities, so a
	// new entity's samples are refused (gRPC ResourceExhausted, reason STORE_FULL).
	CodeStoreFull
)

var codeNames = [...]string{"internal", "invalid input", "not found", "batch too large",
	"bad bundle", "mismatch", "onnxruntime library", "unavailable", "canceled", "no feasible host", "permission denied", "store full"}

func (c Code) String() string {
	if c < 0 || int(c) >= len(codeNames) {
		return fmt.Sprintf("code(%d)", int(c))
	}
	return codeNames[c]
}

// Sentinels, one per Code, for errors.Is.
var (
	ErrInternal         = &Error{Code: CodeInternal}
	ErrInvalidInput     = &Error{Code: CodeInvalidInput}
	ErrNotFound         = &Error{Code: CodeNotFound}
	ErrTooLarge         = &Error{Code: CodeTooLarge}
	ErrBadBundle        = &Error{Code: CodeBadBundle}
	ErrMismatch         = &Error{Code: CodeMismatch}
	ErrLibrary          = &Error{Code: CodeLibrary}
	ErrUnavailable      = &Error{Code: CodeUnavailable}
	ErrCanceled         = &Error{Code: CodeCanceled}
	ErrNoFeasibleHost   = &Error{Code: CodeNoFeasibleHost}
	ErrPermissionDenied = &Error{Code: CodePermissionDenied}
	ErrStoreFull        = &Error{Code: CodeStoreFull}
)

// Error is every error an Engine returns.
type Error struct {
	Code  Code
	Op    string // the call, e.g. "predict", "load"
	Model string // the model concerned, if any
	// Check names the bundle check (spec/bundle/checks.json) that refused a bundle, so
	// callers and tests can branch on it; "" for every other error.
	Check string
	Msg   string // what was wrong, and what to do
	Err   error  // the cause (e.g. a *featurecore.Error, context.DeadlineExceeded), if any
}

// Errorf builds an *Error; a %w verb in format sets Err.
func Errorf(code Code, op, model, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Code: code, Op: op, Model: model, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

func (e *Error) Error() string {
	s := "dwcp-ml"
	if e.Op != "" {
		s += ": " + e.Op
	}
	if e.Model != "" {
		s += " " + e.Model
	}
	if e.Check != "" {
		s += ": check " + e.Check
	}
	if e.Msg != "" {
		return s + ": " + e.Msg
	}
	if e.Err != nil {
		return s + ": " + e.Err.Error()
	}
	return s + ": " + e.Code.String()
}

// Is matches a sentinel of the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Op == "" && t.Model == "" && t.Check == "" && t.Msg == "" && t.Err == nil
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of the first *Error in err's chain, CodeCanceled for a bare
// context error, and CodeInternal otherwise.
func CodeOf(err error) Code {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return CodeCanceled
	}
	return CodeInternal
}
