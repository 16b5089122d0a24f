package runtime_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// typedCall runs one typed call of a family on one series; shared by tests and benchmarks.
func typedCall(ctx context.Context, e engine.Engine, family string, s engine.Series) error {
	var err error
	switch family {
	case "pba":
		_, err = e.ForecastBandwidth(ctx, s)
	case "anomaly":
		_, err = e.AnomalyScore(ctx, s)
	case "scaling":
		_, err = e.RecommendCapacity(ctx, s)
	case "link":
		_, err = e.ForecastLink(ctx, s)
	}
	return err
}

// BenchmarkInProcess times one typed call (features + model run) per op for each model
// and reports the latency percentiles.
func BenchmarkInProcess(b *testing.B) {
	e := openDefault(b)
	ctx := context.Background()
	for _, family := range []string{"anomaly", "scaling", "pba", "link"} {
		s := goldenSeries(b, family)[0]
		b.Run(family, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if err := typedCall(ctx, e, family, s); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkInProcessBatch64 times one typed batch call of 64 series.
func BenchmarkInProcessBatch64(b *testing.B) {
	e := openDefault(b)
	ctx := context.Background()
	for _, family := range []string{"anomaly", "scaling", "pba", "link"} {
		one := goldenSeries(b, family)[0]
		s := make([]engine.Series, 64)
		for i := range s {
			s[i] = one
		}
		b.Run(family, func(b *testing.B) {
			var err error
			for b.Loop() {
				switch family {
				case "pba":
					_, err = e.ForecastBandwidthBatch(ctx, s)
				case "anomaly":
					_, err = e.AnomalyScoreBatch(ctx, s)
				case "scaling":
					_, err = e.RecommendCapacityBatch(ctx, s)
				case "link":
					_, err = e.ForecastLinkBatch(ctx, s)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
