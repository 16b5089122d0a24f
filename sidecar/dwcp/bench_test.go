//go:build cgo

package dwcp_test

import (
	"context"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/dwcp"
)

// BenchmarkDetect is one Detect on a full window (seven series of 577 samples copied, one
// model batch): in-process and through a sidecar on a Unix socket.
func BenchmarkDetect(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b)
	for _, tc := range []struct {
		name string
		eng  dwcp.AnomalyEngine
	}{{"inprocess", online(eng)}, {"uds", sidecar(b, eng)}} {
		b.Run(tc.name, func(b *testing.B) {
			d, err := dwcp.NewDetector(ctx, tc.eng, dwcp.DetectorConfig{})
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for ; i < d.Window(); i++ {
				if _, err := d.Detect(ctx, linkMetrics(i, -1)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if _, err := d.Detect(ctx, linkMetrics(i, -1)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPlaceVM is one PlaceVM over the six example nodes (mapping + engine).
func BenchmarkPlaceVM(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b)
	for _, tc := range []struct {
		name string
		eng  dwcp.PlacementEngine
	}{{"inprocess", online(eng)}, {"uds", sidecar(b, eng)}} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := dwcp.NewPlacer(ctx, tc.eng, dwcp.PlacerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.SetNodes(exampleNodes()); err != nil {
				b.Fatal(err)
			}
			vm := &dwcp.VM{ID: "web-3", RequestedCPU: 4, RequestedMemory: 8 * gib, AntiAffinityGroup: "web", AffinityGroup: "shop"}
			b.ResetTimer()
			for range b.N {
				if _, err := p.PlaceVM(ctx, vm, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
