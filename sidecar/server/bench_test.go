package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// BenchmarkSidecarUDS times one typed call (one series) per op through the sidecar on a
// Unix socket, per model, and reports the latency percentiles; compare with the runtime's
// BenchmarkInProcess on the same inputs for the cost of the sidecar.
func BenchmarkSidecarUDS(b *testing.B) { benchSidecar(b, "unix") }

// BenchmarkSidecarTCP is BenchmarkSidecarUDS over loopback TCP.
func BenchmarkSidecarTCP(b *testing.B) { benchSidecar(b, "tcp") }

func benchSidecar(b *testing.B, network string) {
	ctx := context.Background()
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, network, eng, eng, server.Config{})
	c := dial(b, target)
	calls := []struct {
		model string
		call  func(engine.Series) error
	}{
		{"anomaly", func(s engine.Series) error { _, err := c.AnomalyScore(ctx, s); return err }},
		{"scaling", func(s engine.Series) error { _, err := c.RecommendCapacity(ctx, s); return err }},
		{"pba", func(s engine.Series) error { _, err := c.ForecastBandwidth(ctx, s); return err }},
		{"link", func(s engine.Series) error { _, err := c.ForecastLink(ctx, s); return err }},
	}
	for _, bc := range calls {
		s := goldenSeries(b, bc.model)[0]
		b.Run(bc.model, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if err := bc.call(s); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkShadow times one typed call per op through the sidecar on a Unix socket
// without and with a shadow slot (the same bundle under another version), and reports the
// latency percentiles: the difference is what a shadow costs the caller (the shadow's run
// competes for the same cores; it never blocks the call).
func BenchmarkShadow(b *testing.B) {
	ctx := context.Background()
	for _, model := range []string{"anomaly", "pba"} {
		for _, shadow := range []bool{false, true} {
			name := model + "/none"
			if shadow {
				name = model + "/shadow"
			}
			b.Run(name, func(b *testing.B) {
				_, target, _ := rolloutServer(b, server.Config{})
				c := dial(b, target)
				if shadow {
					if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", ShadowDir: testbundle.WithVersion(b, "shadow-3")}); err != nil {
						b.Fatal(err)
					}
				}
				s := goldenSeries(b, model)[0]
				s.Entity = "vm-1"
				call := func() error { _, err := c.AnomalyScore(ctx, s); return err }
				if model == "pba" {
					call = func() error { _, err := c.ForecastBandwidth(ctx, s); return err }
				}
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					if err := call(); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				reportPercentiles(b, lat)
			})
		}
	}
}
