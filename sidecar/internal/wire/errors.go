package wire

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// Domain is the google.rpc.ErrorInfo domain of the errors the sidecar's engine returns.
const Domain = "dwcp.ml"

// reasons are the ErrorInfo reasons, one per engine.Code; part of the wire API, so they
// never change (the Code numbers may).
var reasons = map[engine.Code]string{
	engine.CodeInternal:         "INTERNAL",
	engine.CodeInvalidInput:     "INVALID_INPUT",
	engine.CodeNotFound:         "NOT_FOUND",
	engine.CodeTooLarge:         "TOO_LARGE",
	engine.CodeBadBundle:        "BAD_BUNDLE",
	engine.CodeMismatch:         "MISMATCH",
	engine.CodeLibrary:          "LIBRARY",
	engine.CodeUnavailable:      "UNAVAILABLE",
	engine.CodeCanceled:         "CANCELED",
	engine.CodeNoFeasibleHost:   "NO_FEASIBLE_HOST",
	engine.CodePermissionDenied: "PERMISSION_DENIED",
}

// GRPCCode is the gRPC code of an engine error. A canceled call is DeadlineExceeded when
// its deadline passed (in err or in the server's ctx), Canceled otherwise.
func GRPCCode(ctx context.Context, err error) codes.Code {
	switch engine.CodeOf(err) {
	case engine.CodeInvalidInput, engine.CodeTooLarge:
		return codes.InvalidArgument
	case engine.CodeNotFound:
		return codes.NotFound
	case engine.CodeBadBundle, engine.CodeMismatch, engine.CodeLibrary, engine.CodeNoFeasibleHost:
		return codes.FailedPrecondition
	case engine.CodeUnavailable:
		return codes.Unavailable
	case engine.CodePermissionDenied:
		return codes.PermissionDenied
	case engine.CodeCanceled:
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return codes.DeadlineExceeded
		}
		return codes.Canceled
	}
	return codes.Internal
}

// Status turns an engine error into a gRPC status error whose message is err's text and
// whose ErrorInfo carries the engine code, op, model and message, so ErrorFromStatus
// rebuilds the same *engine.Error on the client. A *engine.NoFeasibleHostError in err's
// chain travels too, as a NoFeasibleHost detail.
func Status(ctx context.Context, err error) error {
	var e *engine.Error
	if !errors.As(err, &e) {
		e = &engine.Error{Code: engine.CodeOf(err), Msg: err.Error()}
	}
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error() // what e.Error() prints in that case
	}
	st := status.New(GRPCCode(ctx, err), e.Error())
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{
		Reason: reasons[e.Code], Domain: Domain,
		Metadata: map[string]string{"op": e.Op, "model": e.Model, "msg": msg},
	}}
	var nf *engine.NoFeasibleHostError
	if errors.As(err, &nf) {
		details = append(details, noFeasibleToProto(nf))
	}
	if withInfo, derr := st.WithDetails(details...); derr == nil {
		st = withInfo
	}
	return st.Err()
}

// ErrorFromStatus turns an error of a gRPC call to target into an *engine.Error. Errors
// the sidecar's engine made come back with their code, op, model and message; errors of
// gRPC itself (transport, deadline, message size) get the closest code, op and model of
// the call, and a message naming target.
func ErrorFromStatus(err error, target, op, model string) *engine.Error {
	st, ok := status.FromError(err)
	if !ok {
		return &engine.Error{Code: engine.CodeUnavailable, Op: op, Model: model,
			Msg: fmt.Sprintf("sidecar %s: %v", target, err), Err: err}
	}
	var ctxErr error
	switch st.Code() {
	case codes.Canceled:
		ctxErr = context.Canceled
	case codes.DeadlineExceeded:
		ctxErr = context.DeadlineExceeded
	}
	var cause error = ctxErr
	for _, d := range st.Details() {
		if nf, ok := d.(*pb.NoFeasibleHost); ok {
			cause = noFeasibleFromProto(nf)
		}
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != Domain {
			continue
		}
		for code, reason := range reasons {
			if reason == info.GetReason() {
				md := info.GetMetadata()
				return &engine.Error{Code: code, Op: md["op"], Model: md["model"], Msg: md["msg"], Err: cause}
			}
		}
	}
	e := &engine.Error{Code: engine.CodeInternal, Op: op, Model: model, Err: ctxErr,
		Msg: fmt.Sprintf("sidecar %s: %s: %s", target, st.Code(), st.Message())}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded:
		e.Code = engine.CodeCanceled
	case codes.Unavailable:
		e.Code = engine.CodeUnavailable
	case codes.InvalidArgument, codes.OutOfRange:
		e.Code = engine.CodeInvalidInput
	case codes.ResourceExhausted: // a message above the size limit
		e.Code = engine.CodeTooLarge
	case codes.NotFound:
		e.Code = engine.CodeNotFound
	case codes.FailedPrecondition:
		e.Code = engine.CodeBadBundle
	case codes.PermissionDenied, codes.Unauthenticated:
		e.Code = engine.CodePermissionDenied
	}
	return e
}
