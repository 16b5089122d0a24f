package runtime_test

import (
	"context"
	"math"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

var defaultBundle = testbundle.Dir()

// openDefault opens the committed bundle; the test fails (never skips) without ONNX Runtime.
func openDefault(t testing.TB) *runtime.Engine {
	t.Helper()
	e, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestGoldenParity computes, for every model of the committed bundle, the features of the
// golden raw samples and the predictions for them through the public API, one run at a
// time and as one batch, and requires the bits of the Python goldens.
func TestGoldenParity(t *testing.T) {
	e := openDefault(t)
	b, err := bundle.Load(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range b.Manifest.Models {
		t.Run(m.Name, func(t *testing.T) {
			g := b.Goldens[m.Name]
			rows := int(g.InputShape[0])
			in := make([]float64, len(g.Input))
			for i, v := range g.Input {
				in[i] = float64(v)
			}
			out, err := e.PredictBatch(ctx, m.Name, m.Version, rows, in)
			if err != nil {
				t.Fatal(err)
			}
			requireBits(t, "output", g.Output, out)
			if m.Schema == bundle.PlacementKind {
				return // PlaceVM's parity: TestPlaceGolden and TestPlaceGoldenBits
			}

			series := make([]engine.Series, len(g.Runs))
			for i, r := range g.Runs {
				series[i] = engine.Series{Timestamps: r.Timestamps, Values: r.Values}
			}
			if len(series) != rows {
				t.Fatalf("%d runs for %d rows: each golden run must be one window", len(series), rows)
			}
			got := typedOutputs(t, e, m.Family, series)
			requireBits(t, "typed output", g.Output, got)
		})
	}
}

// typedOutputs runs the family's typed batch call and returns its raw model outputs.
func typedOutputs(t *testing.T, e *runtime.Engine, family string, s []engine.Series) []float64 {
	t.Helper()
	ctx := context.Background()
	var out []float64
	switch family {
	case runtime.FamilyBandwidth:
		res, err := e.ForecastBandwidthBatch(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			out = append(out, r.Lower, r.Point, r.Upper)
		}
	case runtime.FamilyAnomaly:
		res, err := e.AnomalyScoreBatch(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			out = append(out, r.Score)
		}
	case runtime.FamilyCapacity:
		res, err := e.RecommendCapacityBatch(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			out = append(out, r.PredictedPeakMHz)
		}
	case runtime.FamilyLink:
		res, err := e.ForecastLinkBatch(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			out = append(out, r.LowerMbps, r.PointMbps, r.UpperMbps, r.LatencyMs, r.LossRatio, r.JitterMs)
		}
	default:
		t.Fatalf("no typed call for family %s", family)
	}
	return out
}

func requireBits(t *testing.T, label string, want []float32, got []float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d values, golden %d", label, len(got), len(want))
	}
	for i := range want {
		g := float32(got[i])
		if float64(g) != got[i] || math.Float32bits(g) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d]: golden 0x%08x (%g), got %v (0x%08x)", label, i,
				math.Float32bits(want[i]), want[i], got[i], math.Float32bits(g))
		}
	}
}
