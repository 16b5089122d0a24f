package wire

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// TestErrorRoundTrip: every engine error crosses the wire with its code, op, model and
// message (so Error() is the same text), under the documented gRPC code.
func TestErrorRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		err  error
		code codes.Code
	}{
		{engine.Errorf(engine.CodeInvalidInput, "predict", "anomaly", "feature %d is NaN", 3), codes.InvalidArgument},
		{engine.Errorf(engine.CodeTooLarge, "predict", "anomaly", "9 rows"), codes.InvalidArgument},
		{engine.Errorf(engine.CodeNotFound, "predict", "nope", "unknown model"), codes.NotFound},
		{engine.Errorf(engine.CodeBadBundle, "reload", "", "sha256"), codes.FailedPrecondition},
		{engine.Errorf(engine.CodeMismatch, "load bundle", "pba", "schema hash"), codes.FailedPrecondition},
		{engine.Errorf(engine.CodeLibrary, "open", "", "no libonnxruntime"), codes.FailedPrecondition},
		{engine.Errorf(engine.CodeUnavailable, "versions", "", "closed"), codes.Unavailable},
		{engine.Errorf(engine.CodePermissionDenied, "reload", "", "uid 65534 may not reload"), codes.PermissionDenied},
		{engine.Errorf(engine.CodeCanceled, "predict", "", "%w", context.Canceled), codes.Canceled},
		{engine.Errorf(engine.CodeCanceled, "predict", "", "%w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{engine.Errorf(engine.CodeInternal, "predict", "pba", "ORT failed"), codes.Internal},
		{&engine.Error{Code: engine.CodeInternal, Op: "run", Err: errors.New("cause only")}, codes.Internal},
		{&engine.Error{Code: engine.CodeNotFound}, codes.NotFound},
		{fmt.Errorf("wrapped: %w", engine.Errorf(engine.CodeNotFound, "predict", "x", "unknown")), codes.NotFound},
		{errors.New("not an engine error"), codes.Internal},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			st := Status(ctx, tc.err)
			if got := status.Code(st); got != tc.code {
				t.Errorf("gRPC code %v, want %v", got, tc.code)
			}
			back := ErrorFromStatus(st, "unix:///x.sock", "client op", "client model")
			var want *engine.Error // the engine error in tc.err; any other error becomes one
			if !errors.As(tc.err, &want) {
				want = &engine.Error{Code: engine.CodeOf(tc.err), Msg: tc.err.Error()}
			}
			if got := status.Convert(st).Message(); got != want.Error() {
				t.Errorf("status message %q, want %q", got, want.Error())
			}
			if back.Code != want.Code || back.Op != want.Op || back.Model != want.Model {
				t.Errorf("got %+v, want %+v", back, want)
			}
			if back.Error() != want.Error() {
				t.Errorf("message %q, want %q", back.Error(), want.Error())
			}
			if tc.code == codes.DeadlineExceeded && !errors.Is(back, context.DeadlineExceeded) {
				t.Errorf("%v does not wrap context.DeadlineExceeded", back)
			}
		})
	}
}

// TestCanceledByServerDeadline: the engine's canceled error is DeadlineExceeded when the
// server's context ran out of time.
func TestCanceledByServerDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	err := engine.Errorf(engine.CodeCanceled, "predict", "", "gave up")
	if got := GRPCCode(ctx, err); got != codes.DeadlineExceeded {
		t.Fatalf("got %v", got)
	}
}

// TestStatusWithoutInfo: statuses gRPC makes itself get the nearest code, the client's op
// and model, and the target in the message.
func TestStatusWithoutInfo(t *testing.T) {
	tests := []struct {
		code codes.Code
		want engine.Code
	}{
		{codes.Unavailable, engine.CodeUnavailable},
		{codes.DeadlineExceeded, engine.CodeCanceled},
		{codes.Canceled, engine.CodeCanceled},
		{codes.ResourceExhausted, engine.CodeTooLarge},
		{codes.InvalidArgument, engine.CodeInvalidInput},
		{codes.NotFound, engine.CodeNotFound},
		{codes.FailedPrecondition, engine.CodeBadBundle},
		{codes.Unimplemented, engine.CodeInternal},
		{codes.Unknown, engine.CodeInternal},
	}
	for _, tc := range tests {
		t.Run(tc.code.String(), func(t *testing.T) {
			e := ErrorFromStatus(status.Error(tc.code, "transport says no"), "127.0.0.1:9400", "versions", "m")
			if e.Code != tc.want || e.Op != "versions" || e.Model != "m" {
				t.Errorf("got %+v, want code %v", e, tc.want)
			}
			if want := "dwcp-ml: versions m: sidecar 127.0.0.1:9400: " + tc.code.String() + ": transport says no"; e.Error() != want {
				t.Errorf("message %q, want %q", e.Error(), want)
			}
		})
	}
	if e := ErrorFromStatus(errors.New("no status"), "t", "op", ""); e.Code != engine.CodeUnavailable {
		t.Errorf("a non-status error: %+v", e)
	}
}

// TestTypesRoundTrip: answers and versions come back equal, times in UTC as the runtime
// gives them.
func TestTypesRoundTrip(t *testing.T) {
	ref := engine.ModelRef{Name: "pba", Version: "0.1.0", Bundle: "default-1"}
	f := engine.BandwidthForecast{Lower: 1.5, Point: -0.0, Upper: 3e300, QuantileLower: 0.1, QuantileUpper: 0.9,
		Horizon: 15 * time.Minute, ValidUntil: time.Unix(1373221800, 0).UTC(), Model: ref}
	if got := ForecastFromProto(ForecastToProto(f)); !reflect.DeepEqual(got, f) {
		t.Errorf("forecast: %+v, want %+v", got, f)
	}
	a := engine.AnomalyResult{Score: 0.25, Threshold: 0.2045516613351983, Anomalous: true, Model: ref}
	if got := AnomalyFromProto(AnomalyToProto(a)); !reflect.DeepEqual(got, a) {
		t.Errorf("anomaly: %+v, want %+v", got, a)
	}
	c := engine.CapacityRecommendation{PredictedPeakMHz: 6185.4, Units: 81, CapacityMHz: 8100, Headroom: 1.3,
		UnitMHz: 100, Horizon: 900*time.Second + 1, Model: ref}
	if got := CapacityFromProto(CapacityToProto(c)); !reflect.DeepEqual(got, c) {
		t.Errorf("capacity: %+v, want %+v", got, c)
	}
	v := engine.Versions{Bundle: "b", BundleDir: "/d", FeatureCore: "1.1.0", ONNXRuntime: "1.32.0",
		LoadedAt: time.Unix(1700000000, 123456789).UTC(),
		Models: []engine.ModelInfo{{Name: "pba", Family: "pba", Version: "0.1.0", Schema: "vm", SchemaHash: "0af4",
			SHA256: "2f6e", InputShape: []int64{-1, 12, 14}, OutputShape: []int64{-1, 3}, WindowSamples: 23,
			StepSeconds: 300, Thresholds: map[string]float64{"quantile_lower": 0.1}}}}
	if got := VersionsFromProto(VersionsToProto(v)); !reflect.DeepEqual(got, v) {
		t.Errorf("versions: %+v, want %+v", got, v)
	}
	if got := VersionsFromProto(VersionsToProto(engine.Versions{})); !got.LoadedAt.IsZero() {
		t.Errorf("a zero LoadedAt came back as %v", got.LoadedAt)
	}
}
