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

// TestCapacityHybridFloorEndToEnd serves the committed bundle with headroom 1.3 and floor 1.4 set in the
// scaling thresholds: through RecommendCapacityBatch the recent peak is the largest of the
// last horizon_steps raw samples as float32 (the golden windows lie on the grid, one sample
// per bin, so the core's value feature is the sample), and the floor decides where it is
// above the forecast's units (edge/spike_last).
func TestCapacityHybridFloorEndToEnd(t *testing.T) {
	dir := testbundle.Copy(t)
	testbundle.EditManifest(t, dir, `"headroom": 1.16,`, `"headroom": 1.3,`)
	testbundle.EditManifest(t, dir, `"floor": 0.0,`, `"floor": 1.4,`)
	e, err := runtime.Open(context.Background(), dir, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := b.Goldens["scaling"]
	series := make([]engine.Series, len(g.Runs))
	for i, r := range g.Runs {
		series[i] = engine.Series{Timestamps: r.Timestamps, Values: r.Values}
	}
	res, err := e.RecommendCapacityBatch(context.Background(), series)
	if err != nil {
		t.Fatal(err)
	}
	floorWins := 0
	for i, r := range res {
		v := series[i].Values
		peak := math.Inf(-1)
		for _, x := range v[len(v)-3:] {
			peak = math.Max(peak, float64(float32(x)))
		}
		byForecast := math.Ceil(math.Max(r.PredictedPeakMHz, 0) * 1.3 / 100)
		byFloor := math.Ceil(math.Max(peak, 0) * 1.4 / 100)
		want := math.Max(math.Max(byForecast, byFloor), 1) * 100
		if r.CapacityMHz != want || float64(r.Units)*100 != want {
			t.Errorf("series %d: %v MHz (%d units), want %v (forecast %v, recent peak %v)", i,
				r.CapacityMHz, r.Units, want, r.PredictedPeakMHz, peak)
		}
		if byFloor > byForecast {
			floorWins++
		}
	}
	if floorWins == 0 {
		t.Fatalf("the floor decided none of %d golden windows", len(res))
	}
}
