package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
)

// BenchmarkPlaceVM1000 times one PlaceVM over 1,000 hosts (the golden's first request,
// its hosts replicated with distinct IDs) per op: validation, constraints, factors, one
// model run over the feasible hosts and one over the occlusion rows. Budget: 5 ms p99.
func BenchmarkPlaceVM1000(b *testing.B) {
	e := openDefault(b)
	_, g := testbundle.Placement(b)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	ctx := context.Background()
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
}
