package dwcp

import (
	"math"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday, on the 300 s grid

func at(step int) time.Time { return t0.Add(time.Duration(step) * 5 * time.Minute) }

func TestSizeClassAndPercentile(t *testing.T) {
	for _, tc := range []struct{ x, want float64 }{
		{0, 100}, {100, 100}, {100.5, 200}, {200, 200}, {201, 500}, {500, 500}, {501, 1000},
		{999.9999999999999, 1000}, {1000, 1000}, {1001, 2000}, {7.3e6, 1e7},
	} {
		if got := sizeClass(tc.x); got != tc.want {
			t.Errorf("sizeClass(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	// numpy: repr(float(np.percentile(x, 95))) of these; and workload.size_class above.
	for _, tc := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{1, 2}, 1.95},
		{[]float64{12, 1, 11, 2, 10, 3, 9, 4, 8, 5, 7, 6}, 11.45},
		{[]float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000}, 449.9999999999993},
	} {
		if got := percentile95(tc.x); got != tc.want {
			t.Errorf("percentile95(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	hist := repeat(engine.Resources{2600, 4096, 0, 0}, 12)
	hist[11*4+2], hist[11*4+3] = 3000, 150 // one busy sample of disk and network
	if got := ioRequests(hist); got != [2]float64{2000, 100} {
		t.Errorf("ioRequests = %v, want [2000 100] (p95 1350 and 67.5)", got)
	}
}

func TestAnomalyBands(t *testing.T) {
	const th = -0.27990489298649357 // the default bundle's threshold
	third := (0.5 - th) / 3
	for _, tc := range []struct {
		score float64
		sev   SeverityLevel
		conf  float64
	}{
		{th, SeverityInfo, 0.5},
		{th + third - 1e-9, SeverityInfo, 0.5 + 0.5*(third-1e-9)/(0.5-th)},
		{th + third, SeverityWarning, 0.5 + 0.5/3},
		{th + 2*third, SeverityCritical, 0.5 + 1.0/3},
		{0.4999, SeverityCritical, 0.5 + 0.5*(0.4999-th)/(0.5-th)},
		{-0.5, SeverityInfo, 0.5 + 0.5*(-0.5-th)/(0.5-th)}, // below the threshold: under 0.5
	} {
		if got := AnomalySeverity(tc.score, th); got != tc.sev {
			t.Errorf("AnomalySeverity(%v) = %v, want %v", tc.score, got, tc.sev)
		}
		if got := AnomalyConfidence(tc.score, th); math.Abs(got-tc.conf) > 1e-12 {
			t.Errorf("AnomalyConfidence(%v) = %v, want %v", tc.score, got, tc.conf)
		}
	}
	for _, s := range []SeverityLevel{SeverityInfo, SeverityWarning, SeverityCritical, 7} {
		if s.String() != map[SeverityLevel]string{0: "info", 1: "warning", 2: "critical", 7: "unknown"}[s] {
			t.Errorf("%d: %s", s, s)
		}
	}
}

func TestExpectedValue(t *testing.T) {
	for _, tc := range []struct {
		w    []float64
		want float64
	}{
		{[]float64{1, 5, 3, 9}, 5}, // above the range [1, 5]: its top
		{[]float64{4, 5, 3, 1}, 3}, // below [3, 5]: its bottom
		{[]float64{4, 8, 2, 6}, 6}, // inside: itself
		{[]float64{7, 7, 7, 7}, 7}, // constant
	} {
		if got := expectedValue(tc.w); got != tc.want {
			t.Errorf("expectedValue(%v) = %v, want %v", tc.w, got, tc.want)
		}
	}
}

func TestTrend(t *testing.T) {
	for _, tc := range []struct {
		forecast, recent float64
		want             TrendDirection
	}{
		{1000, 1000, TrendStable}, {1100, 1000, TrendStable}, {1100.0001, 1000, TrendIncreasing},
		{900, 1000, TrendStable}, {899.9, 1000, TrendDecreasing}, {0, 0, TrendStable}, {5, 0, TrendIncreasing},
	} {
		if got := Trend(tc.forecast, tc.recent, 0.1); got != tc.want {
			t.Errorf("Trend(%v, %v) = %v, want %v", tc.forecast, tc.recent, got, tc.want)
		}
	}
}

func TestIntervalConfidence(t *testing.T) {
	for _, tc := range []struct{ lo, up, want float64 }{
		{90, 110, 0.9}, {50, 150, 0.5}, {0, 10, 0}, {0, 0, 1}, {100, 100, 1},
	} {
		if got := IntervalConfidence(tc.lo, tc.up); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("IntervalConfidence(%v, %v) = %v, want %v", tc.lo, tc.up, got, tc.want)
		}
	}
}
