package server_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// TestErrors sends each kind of bad request through the sidecar and checks the gRPC code
// on the wire, the engine code on the client side (errors.Is with the sentinel), the
// message (the engine's own, where the engine made the error), and that the sidecar then
// answers a good request.
func TestErrors(t *testing.T) {
	const maxBatch = 8
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), maxBatch)
	srv, target := serveEngine(t, "unix", eng, eng, server.Config{MaxBatch: maxBatch})
	rec := &codeRecorder{}
	c := dial(t, target, client.WithDialOptions(grpc.WithUnaryInterceptor(rec.intercept)))

	row, _ := goldenRows(t, "anomaly")
	row = row[:len(row)/int(goldenBundle(t).Goldens["anomaly"].InputShape[0])]
	with := func(i int, v float64) []float64 {
		r := append([]float64(nil), row...)
		r[i] = v
		return r
	}
	pba := goldenSeries(t, "pba")[0]
	gap := engine.Series{Timestamps: append([]int64(nil), pba.Timestamps...), Values: pba.Values}
	gap.Timestamps[len(gap.Timestamps)-1] += 300
	anomaly := goldenSeries(t, "anomaly")[0]
	short := engine.Series{Timestamps: anomaly.Timestamps[:5], Values: anomaly.Values[:5]}
	scaling := goldenSeries(t, "scaling")[0]
	tooMany := make([]engine.Series, maxBatch+1)
	for i := range tooMany {
		tooMany[i] = scaling
	}

	tests := []struct {
		name     string
		call     func(ctx context.Context, e engine.Engine) error
		grpcCode string
		want     *engine.Error // a sentinel
		fromEng  bool          // the sidecar passes it to the engine: same message in-process
	}{
		{"feature row too short", predict("anomaly", "", row[:len(row)-1]), "InvalidArgument", engine.ErrInvalidInput, true},
		{"feature row too long", predict("anomaly", "", append(with(0, 1), 1)), "InvalidArgument", engine.ErrInvalidInput, true},
		{"NaN feature", predict("anomaly", "", with(3, math.NaN())), "InvalidArgument", engine.ErrInvalidInput, true},
		{"+Inf feature", predict("anomaly", "", with(0, math.Inf(1))), "InvalidArgument", engine.ErrInvalidInput, true},
		{"-Inf feature", predict("anomaly", "", with(5, math.Inf(-1))), "InvalidArgument", engine.ErrInvalidInput, true},
		{"beyond float32", predict("anomaly", "", with(1, 1e300)), "InvalidArgument", engine.ErrInvalidInput, true},
		{"unknown model", predict("nope", "", row), "NotFound", engine.ErrNotFound, true},
		{"unknown version", predict("anomaly", "99", row), "NotFound", engine.ErrNotFound, true},
		{"no model", predict("", "", row), "InvalidArgument", engine.ErrInvalidInput, false},
		{"zero rows", predictBatch("anomaly", 0, row), "InvalidArgument", engine.ErrInvalidInput, false},
		{"negative rows", predictBatch("anomaly", -1, row), "InvalidArgument", engine.ErrInvalidInput, false},
		{"rows do not divide features", predictBatch("anomaly", 2, append(row, row[1:]...)), "InvalidArgument", engine.ErrInvalidInput, false},
		{"too many rows", predictBatch("anomaly", maxBatch+1, repeat(row, maxBatch+1)), "InvalidArgument", engine.ErrTooLarge, false},
		{"too many series", func(ctx context.Context, e engine.Engine) error {
			_, err := e.RecommendCapacityBatch(ctx, tooMany)
			return err
		}, "InvalidArgument", engine.ErrTooLarge, false},
		{"empty series", anomalyScore(engine.Series{}), "InvalidArgument", engine.ErrInvalidInput, true},
		{"short series", anomalyScore(short), "InvalidArgument", engine.ErrInvalidInput, true},
		{"values do not fit the schema", anomalyScore(engine.Series{Timestamps: anomaly.Timestamps, Values: anomaly.Values[1:]}),
			"InvalidArgument", engine.ErrInvalidInput, true},
		{"gap in timestamps", func(ctx context.Context, e engine.Engine) error {
			_, err := e.ForecastBandwidth(ctx, gap)
			return err
		}, "InvalidArgument", engine.ErrInvalidInput, true},
		{"gap in one series of a batch", func(ctx context.Context, e engine.Engine) error {
			_, err := e.ForecastBandwidthBatch(ctx, []engine.Series{pba, gap})
			return err
		}, "InvalidArgument", engine.ErrInvalidInput, true},
		{"NaN sample", anomalyScore(engine.Series{Timestamps: anomaly.Timestamps,
			Values: append(append([]float64(nil), anomaly.Values[:len(anomaly.Values)-1]...), math.NaN())}),
			"InvalidArgument", engine.ErrInvalidInput, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctx, c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (%v), want %v", err, engine.CodeOf(err), tc.want.Code)
			}
			if got := rec.code(); got != tc.grpcCode {
				t.Errorf("gRPC code %s, want %s", got, tc.grpcCode)
			}
			if tc.fromEng {
				inErr := tc.call(ctx, eng)
				if inErr == nil || inErr.Error() != err.Error() {
					t.Errorf("message through the sidecar\n  %v\nin-process\n  %v", err, inErr)
				}
			}
			if _, err := c.AnomalyScore(ctx, anomaly); err != nil {
				t.Fatalf("the next good request failed: %v", err)
			}
		})
	}
	if n := metric(t, srv.Registry(), "dwcp_ml_requests_total",
		map[string]string{"method": "Predict", "model": "unknown", "code": "NotFound"}); n != 1 {
		t.Errorf("dwcp_ml_requests_total{Predict,unknown,NotFound} = %v, want 1", n)
	}
	if n := metric(t, srv.Registry(), "dwcp_ml_request_duration_seconds",
		map[string]string{"method": "AnomalyScore", "model": "anomaly"}); n < float64(len(tests)) {
		t.Errorf("%v AnomalyScore durations observed, want at least %d", n, len(tests))
	}
}

// TestContextErrors: a caller's canceled or expired context comes back as CodeCanceled
// wrapping the context's own error, as in-process.
func TestContextErrors(t *testing.T) {
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "tcp", eng, eng, server.Config{})
	c := dial(t, target)
	s := goldenSeries(t, "anomaly")[0]

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline", expired, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AnomalyScore(tc.ctx, s)
			if !errors.Is(err, engine.ErrCanceled) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want CodeCanceled wrapping %v", err, tc.want)
			}
			if _, err := eng.AnomalyScore(tc.ctx, s); !errors.Is(err, engine.ErrCanceled) || !errors.Is(err, tc.want) {
				t.Fatalf("in-process: got %v", err)
			}
		})
	}
}

// TestPanicRecovery: a panic in the engine answers Internal, is counted, and the sidecar
// keeps serving.
func TestPanicRecovery(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	srv, target := serveEngine(t, "unix", panicky{eng}, eng, server.Config{})
	rec := &codeRecorder{}
	c := dial(t, target, client.WithDialOptions(grpc.WithUnaryInterceptor(rec.intercept)))

	_, err := c.RecommendCapacity(ctx, goldenSeries(t, "scaling")[0])
	if !errors.Is(err, engine.ErrInternal) || rec.code() != "Internal" || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("got %v (gRPC %s), want Internal naming the panic", err, rec.code())
	}
	if n := metric(t, srv.Registry(), "dwcp_ml_panics_total", map[string]string{"method": "RecommendCapacity"}); n != 1 {
		t.Errorf("dwcp_ml_panics_total = %v, want 1", n)
	}
	if n := metric(t, srv.Registry(), "dwcp_ml_requests_total",
		map[string]string{"method": "RecommendCapacity", "code": "Internal"}); n != 1 {
		t.Errorf("dwcp_ml_requests_total{RecommendCapacity,Internal} = %v, want 1", n)
	}
	if _, err := c.AnomalyScore(ctx, goldenSeries(t, "anomaly")[0]); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}

// panicky is an engine whose RecommendCapacity panics, as a bug would.
type panicky struct{ engine.Engine }

func (panicky) RecommendCapacity(context.Context, engine.Series) (engine.CapacityRecommendation, error) {
	var m map[string]int
	m["boom"]++ // a nil-map write: a runtime panic
	return engine.CapacityRecommendation{}, nil
}

func predict(model, version string, row []float64) func(context.Context, engine.Engine) error {
	return func(ctx context.Context, e engine.Engine) error {
		_, err := e.Predict(ctx, model, version, row)
		return err
	}
}

func predictBatch(model string, rows int, features []float64) func(context.Context, engine.Engine) error {
	return func(ctx context.Context, e engine.Engine) error {
		_, err := e.PredictBatch(ctx, model, "", rows, features)
		return err
	}
}

func anomalyScore(s engine.Series) func(context.Context, engine.Engine) error {
	return func(ctx context.Context, e engine.Engine) error {
		_, err := e.AnomalyScore(ctx, s)
		return err
	}
}

func repeat(row []float64, n int) []float64 {
	var out []float64
	for range n {
		out = append(out, row...)
	}
	return out
}
