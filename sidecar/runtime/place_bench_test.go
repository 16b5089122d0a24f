package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// BenchmarkPlaceVM1000 times one PlaceVM over 1,000 hosts (the golden's first request,
// its hosts replicated with distinct IDs) per op: validation, constraints, factors, one
// model run over the feasible hosts and one over the occlusion rows. Budget: 5 ms p99.
// Sub-benchmarks: the model scored by ONNX Runtime, then by the feature core's tree
// evaluator (the same bits; docs/serving.md "PlaceVM speed").
func BenchmarkPlaceVM1000(b *testing.B) {
	e := openDefault(b)
	_, g := testbundle.Placement(b)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	ctx := context.Background()
	for _, scorer := range []string{"onnxruntime", "core-trees"} {
		b.Run(scorer, func(b *testing.B) {
			if scorer == "core-trees" {
				b.Cleanup(runtime.AttachCoreTreesForTest(b, e))
			} else {
				b.Cleanup(runtime.DetachCoreTreesForTest(e))
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := e.PlaceVM(ctx, r); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}
