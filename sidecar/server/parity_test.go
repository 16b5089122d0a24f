package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// TestParity: every answer through the sidecar, over a Unix socket and over TCP, has the
// bits of the same engine's answer in-process: each typed call on every golden run, singly
// and as one batch, Predict on every golden input row and PredictBatch on all of them, and
// Versions.
func TestParity(t *testing.T) {
	eng := openEngine(t, testbundle.Dir(), 0)
	ctx := context.Background()
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			_, target := serveEngine(t, network, eng, eng, server.Config{})
			c := dial(t, target)
			typed := []struct {
				model string
				one   func(engine.Engine, engine.Series) (any, error)
				batch func(engine.Engine, []engine.Series) (any, error)
			}{
				{"pba",
					func(e engine.Engine, s engine.Series) (any, error) { return e.ForecastBandwidth(ctx, s) },
					func(e engine.Engine, s []engine.Series) (any, error) { return e.ForecastBandwidthBatch(ctx, s) }},
				{"anomaly",
					func(e engine.Engine, s engine.Series) (any, error) { return e.AnomalyScore(ctx, s) },
					func(e engine.Engine, s []engine.Series) (any, error) { return e.AnomalyScoreBatch(ctx, s) }},
				{"scaling",
					func(e engine.Engine, s engine.Series) (any, error) { return e.RecommendCapacity(ctx, s) },
					func(e engine.Engine, s []engine.Series) (any, error) { return e.RecommendCapacityBatch(ctx, s) }},
				{"link",
					func(e engine.Engine, s engine.Series) (any, error) { return e.ForecastLink(ctx, s) },
					func(e engine.Engine, s []engine.Series) (any, error) { return e.ForecastLinkBatch(ctx, s) }},
			}
			for _, tc := range typed {
				t.Run(tc.model, func(t *testing.T) {
					series := goldenSeries(t, tc.model)
					for i, s := range series {
						same(t, fmt.Sprintf("series %d", i), func(e engine.Engine) (any, error) { return tc.one(e, s) }, eng, c)
					}
					same(t, "batch", func(e engine.Engine) (any, error) { return tc.batch(e, series) }, eng, c)

					rows, n := goldenRows(t, tc.model)
					rowLen := len(rows) / n
					for i := range n {
						row := rows[i*rowLen : (i+1)*rowLen]
						same(t, "predict row", func(e engine.Engine) (any, error) { return e.Predict(ctx, tc.model, "", row) }, eng, c)
					}
					same(t, "predict batch", func(e engine.Engine) (any, error) {
						return e.PredictBatch(ctx, tc.model, "", n, rows)
					}, eng, c)
				})
			}
			same(t, "versions", func(e engine.Engine) (any, error) { return e.Versions(ctx) }, eng, c)
		})
	}
}

// same runs call on the engine in-process and through the sidecar and requires the same
// answer, to the bit.
func same(t *testing.T, what string, call func(engine.Engine) (any, error), in, remote engine.Engine) {
	t.Helper()
	want, err := call(in)
	if err != nil {
		t.Fatalf("%s in-process: %v", what, err)
	}
	got, err := call(remote)
	if err != nil {
		t.Fatalf("%s through the sidecar: %v", what, err)
	}
	if err := sameBits(got, want); err != nil {
		t.Errorf("%s: sidecar and in-process differ: %v", what, err)
	}
}
