package wire_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// Request kinds of FuzzRequest: the first byte of an input picks the message type.
const (
	kindPredict byte = iota
	kindForecast
	kindAnomaly
	kindCapacity
	kindPlace
	numKinds
)

// fuzzEngine is the default bundle opened once per fuzzing process (opening takes ~0.3 s).
var fuzzEngine = sync.OnceValues(func() (*runtime.Engine, error) {
	return runtime.Open(context.Background(), testbundle.Dir(), runtime.Config{})
})

// FuzzRequest decodes bytes as one request message (the kind byte picks which), converts
// it to engine types with this package, as the server's handlers do, and runs it through
// the engine's validation (batch size, series length and physical limits, the feature
// core's checks, placement constraints) and, when valid, the model. It must never panic;
// every failure must be an *engine.Error with a known code that crosses the wire
// (Status, ErrorFromStatus) with that code; every answer must be finite.
//
// The seeds (real requests from the default bundle's goldens, and one just past each
// limit) run in every `go test`; fuzz with
// `go test -run '^$' -fuzz FuzzRequest -fuzztime 60s ./sidecar/internal/wire`.
func FuzzRequest(f *testing.F) {
	eng, err := fuzzEngine()
	if err != nil {
		f.Fatalf("opening %s (set ONNXRUNTIME_LIB to the wheel's libonnxruntime.so): %v", testbundle.Dir(), err)
	}
	for _, seed := range seeds(f) {
		f.Add(seed.kind, seed.data)
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		ctx := context.Background()
		msg, call := request(eng, kind%numKinds)
		if proto.Unmarshal(data, msg) != nil {
			return // grpc answers a message that does not decode before any handler
		}
		if err := call(ctx); err != nil {
			requireEngineError(t, ctx, err)
		}
	})
}

// request returns an empty message of kind and the call that sends it, decoded, to eng and
// checks the answers.
// TestFuzzSeeds requires the seeds to reach the engine's answers and its limits, so the
// fuzzer starts from requests that get past decoding and conversion.
func TestFuzzSeeds(t *testing.T) {
	eng, err := fuzzEngine()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds(t) {
		msg, call := request(eng, s.kind)
		if err := proto.Unmarshal(s.data, msg); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		err := call(context.Background())
		if s.refused != (engine.CodeOf(err) == engine.CodeInvalidInput) || (!s.refused && err != nil) {
			t.Errorf("seed %d (kind %d, refused %t): %v", i, s.kind, s.refused, err)
		}
	}
}

func request(eng *runtime.Engine, kind byte) (proto.Message, func(context.Context) error) {
	switch kind {
	case kindPredict:
		req := &pb.PredictRequest{}
		return req, func(ctx context.Context) error {
			out, err := eng.PredictBatch(ctx, req.GetModel(), req.GetVersion(), int(req.GetRows()), req.GetFeatures())
			return errOr(err, allFinite(out...))
		}
	case kindForecast:
		req := &pb.ForecastBandwidthRequest{}
		return req, typed(req.GetSeries, eng.ForecastBandwidthBatch, func(f engine.BandwidthForecast, s engine.Series) bool {
			return allFinite(f.Lower, f.Point, f.Upper) && wire.ForecastToProto(f).GetValidUntilUnix() > s.Timestamps[len(s.Timestamps)-1]
		})
	case kindAnomaly:
		req := &pb.AnomalyScoreRequest{}
		return req, typed(req.GetSeries, eng.AnomalyScoreBatch, func(a engine.AnomalyResult, _ engine.Series) bool {
			return allFinite(a.Score, a.Threshold) && a.Threshold != 0
		})
	case kindCapacity:
		req := &pb.RecommendCapacityRequest{}
		return req, typed(req.GetSeries, eng.RecommendCapacityBatch, func(c engine.CapacityRecommendation, _ engine.Series) bool {
			return allFinite(c.PredictedPeakMHz, c.CapacityMHz) && c.Units > 0 && c.Horizon > 0
		})
	default:
		req := &pb.PlaceVMRequest{}
		return req, func(ctx context.Context) error {
			in, err := wire.PlacementRequestsFromProto(req.GetRequests())
			if err != nil {
				return nil // the server answers InvalidArgument with this text
			}
			_, err = eng.PlaceVMBatch(ctx, in)
			return err
		}
	}
}

// typed converts the series of a typed request, calls batch and checks every answer.
func typed[A any](series func() []*pb.Series, batch func(context.Context, []engine.Series) ([]A, error),
	sane func(A, engine.Series) bool) func(context.Context) error {
	return func(ctx context.Context) error {
		in := wire.SeriesFromProto(series())
		out, err := batch(ctx, in)
		if err != nil {
			return err
		}
		for i, a := range out {
			if !sane(a, in[i]) {
				return errInsane
			}
		}
		return nil
	}
}

var errInsane = errors.New("an answer with status OK is not finite or not in its range")

func errOr(err error, ok bool) error {
	if err == nil && !ok {
		return errInsane
	}
	return err
}

func allFinite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// requireEngineError requires err to be an *engine.Error with a known code that survives
// the trip through a gRPC status.
func requireEngineError(t *testing.T, ctx context.Context, err error) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code.String() == "" || ee.Code < engine.CodeInternal || ee.Code > engine.CodePermissionDenied {
		t.Fatalf("not an *engine.Error with a known code: %T %v", err, err)
	}
	if back := wire.ErrorFromStatus(wire.Status(ctx, err), "fuzz", "", ""); back.Code != ee.Code {
		t.Fatalf("code %v came back as %v over the wire: %v", ee.Code, back.Code, err)
	}
}

type seed struct {
	kind    byte
	data    []byte
	refused bool // the seed is past a limit: InvalidInput; otherwise answered
}

// seeds are real requests marshalled as a client sends them: each golden run of every
// typed family (one at a time and as a batch), a golden Predict row, the golden placement
// requests, and requests just past the series-length and physical limits.
func seeds(f testing.TB) []seed {
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		f.Fatal(err)
	}
	var out []seed
	add := func(kind byte, m proto.Message, refused ...bool) {
		data, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, seed{kind, data, len(refused) > 0})
	}
	kinds := map[string]byte{runtime.FamilyBandwidth: kindForecast, runtime.FamilyAnomaly: kindAnomaly,
		runtime.FamilyCapacity: kindCapacity}
	for _, m := range b.Manifest.Models {
		g := b.Goldens[m.Name]
		rowLen := len(g.Input) / int(g.InputShape[0])
		row := make([]float64, rowLen)
		for i, v := range g.Input[:rowLen] {
			row[i] = float64(v)
		}
		add(kindPredict, &pb.PredictRequest{Model: m.Name, Rows: 1, Features: row})
		kind, ok := kinds[m.Family]
		if !ok {
			continue
		}
		var all []*pb.Series
		for _, r := range g.Runs {
			s := &pb.Series{Timestamps: r.Timestamps, Values: r.Values}
			all = append(all, s)
			add(kind, typedRequest(kind, s))
		}
		add(kind, typedRequest(kind, all...))
		add(kind, typedRequest(kind, longer(all[0], runtime.DefaultSeriesSlack+1, m.FeatureParams.StepSeconds)), true)
		big := &pb.Series{Timestamps: all[0].Timestamps, Values: append([]float64(nil), all[0].Values...)}
		big.Values[0] = 3e38 // 3e38 MHz, 3e38 % CPU: beyond every bound
		add(kind, typedRequest(kind, big), true)
	}
	_, g := testbundle.Placement(f)
	reqs := make([]engine.PlacementRequest, len(g.Placements))
	for i, p := range g.Placements {
		reqs[i] = p.Request
		add(kindPlace, &pb.PlaceVMRequest{Requests: wire.PlacementRequestsToProto(reqs[i : i+1])})
	}
	add(kindPlace, &pb.PlaceVMRequest{Requests: wire.PlacementRequestsToProto(reqs)})
	return out
}

func typedRequest(kind byte, s ...*pb.Series) proto.Message {
	switch kind {
	case kindForecast:
		return &pb.ForecastBandwidthRequest{Series: s}
	case kindAnomaly:
		return &pb.AnomalyScoreRequest{Series: s}
	}
	return &pb.RecommendCapacityRequest{Series: s}
}

// longer returns s with extra samples before its first, one step apart, copying its first sample.
func longer(s *pb.Series, extra int, step int64) *pb.Series {
	ch := len(s.Values) / len(s.Timestamps)
	out := &pb.Series{}
	for k := extra; k > 0; k-- {
		out.Timestamps = append(out.Timestamps, s.Timestamps[0]-int64(k)*step)
		out.Values = append(out.Values, s.Values[:ch]...)
	}
	out.Timestamps = append(out.Timestamps, s.Timestamps...)
	out.Values = append(out.Values, s.Values...)
	return out
}
