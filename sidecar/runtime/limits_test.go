package runtime_test

import (
	"context"
	"errors"
	"math"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// extend returns s with extra samples prepended, one step apart before the first, each a
// copy of the first sample's values (outside the window, so their values do not matter).
func extend(s engine.Series, extra int, step int64) engine.Series {
	ch := len(s.Values) / len(s.Timestamps)
	n := extra + len(s.Timestamps)
	out := engine.Series{Timestamps: make([]int64, 0, n), Values: make([]float64, 0, n*ch)}
	for k := extra; k > 0; k-- {
		out.Timestamps = append(out.Timestamps, s.Timestamps[0]-int64(k)*step)
		out.Values = append(out.Values, s.Values[:ch]...)
	}
	out.Timestamps = append(out.Timestamps, s.Timestamps...)
	out.Values = append(out.Values, s.Values...)
	return out
}

// set returns a copy of s with channel ch of sample k set to v.
func set(s engine.Series, k, ch int, v float64) engine.Series {
	channels := len(s.Values) / len(s.Timestamps)
	c := engine.Series{Timestamps: s.Timestamps, Values: append([]float64(nil), s.Values...)}
	c.Values[k*channels+ch] = v
	return c
}

// invalidWith requires an InvalidInput error whose message contains want.
func invalidWith(t *testing.T, err error, want string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != engine.CodeInvalidInput || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want InvalidInput containing %q", err, want)
	}
}

func TestSeriesLength(t *testing.T) {
	eng := openDefault(t)
	ctx := context.Background()
	pba := goldenSeries(t, "pba")[0]
	need := len(pba.Timestamps) // the golden runs are exactly one window
	if need != 23 {
		t.Fatalf("the pba golden run has %d samples; this test's messages expect a 23-sample window", need)
	}
	cases := []struct {
		name  string
		extra int
		want  string // "" = accepted
	}{
		{"window only", 0, ""},
		{"at the limit", runtime.DefaultSeriesSlack, ""},
		{"one over", runtime.DefaultSeriesSlack + 1, "series 0 has 312 samples; pba uses the last 23, at most 311 are accepted (-max-series-slack 288)"},
		{"4M samples", 4_000_000 - need, "series 0 has 4000000 samples; pba uses the last 23, at most 311 are accepted (-max-series-slack 288)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := eng.ForecastBandwidth(ctx, extend(pba, c.extra, 300))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			invalidWith(t, err, c.want)
		})
	}
	t.Run("refused before any copy", func(t *testing.T) {
		long := extend(pba, 4_000_000-need, 300)
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		for range 6 { // the 6 calls that doubled resident memory
			_, err := eng.ForecastBandwidth(ctx, long)
			invalidWith(t, err, "4000000 samples")
		}
		goruntime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Fatalf("6 refused 4 M-sample calls allocated %d bytes; the refusal must come before any copy", grew)
		}
	})
	t.Run("batch: the long series is named", func(t *testing.T) {
		_, err := eng.ForecastBandwidthBatch(ctx, []engine.Series{pba, pba, extend(pba, 1000, 300)})
		invalidWith(t, err, "series 2 has 1023 samples")
	})
	t.Run("every typed call", func(t *testing.T) {
		anomaly, scaling := goldenSeries(t, "anomaly")[0], goldenSeries(t, "scaling")[0]
		_, err := eng.AnomalyScore(ctx, extend(anomaly, 100_000, 300))
		invalidWith(t, err, "(-max-series-slack 288)")
		_, err = eng.RecommendCapacityBatch(ctx, []engine.Series{extend(scaling, 100_000, 300)})
		invalidWith(t, err, "(-max-series-slack 288)")
	})
}

// TestLimitsConfig sets every limit through runtime.Config and requires it to be the one
// enforced and named.
func TestLimitsConfig(t *testing.T) {
	l := runtime.Limits{SeriesSlack: 4, MaxCores: 2, MaxMHzPerCore: 1000, MaxKBps: 10, MaxMemPct: 150, MaxMetric: 5}
	eng, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	pba, anomaly, scaling := goldenSeries(t, "pba")[0], goldenSeries(t, "anomaly")[0], goldenSeries(t, "scaling")[0]
	small := func(s engine.Series) engine.Series { // every value within the small bounds
		c := engine.Series{Timestamps: s.Timestamps, Values: make([]float64, len(s.Values))}
		for i := range c.Values {
			c.Values[i] = 1
		}
		return c
	}
	forecast := func(s engine.Series) error { _, err := eng.ForecastBandwidth(ctx, s); return err }
	score := func(s engine.Series) error { _, err := eng.AnomalyScore(ctx, s); return err }
	capacity := func(s engine.Series) error { _, err := eng.RecommendCapacity(ctx, s); return err }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"slack", forecast(extend(small(pba), 5, 300)), "at most 27 are accepted (-max-series-slack 4)"},
		{"cores", forecast(set(small(pba), 0, 0, 201)), "cpu_pct is 201, above 200 (100 x -max-cores)"},
		{"mem", forecast(set(small(pba), 1, 1, 151)), "mem_pct is 151, above 150 (-max-mem-pct)"},
		{"kbps", forecast(set(small(pba), 2, 2, 11)), "disk_read_kbs is 11, above 10 (-max-kbps)"},
		{"metric", score(set(small(anomaly), 3, 0, 6)), "value is 6, above 5 (-max-metric)"},
		{"demand", capacity(set(small(scaling), 4, 0, 2001)), "value is 2001, above 2000 (-max-cores x -max-mhz-per-core)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { invalidWith(t, c.err, c.want) })
	}
	for name, err := range map[string]error{"pba": forecast(extend(small(pba), 4, 300)),
		"anomaly": score(small(anomaly)), "scaling": capacity(small(scaling))} {
		if err != nil {
			t.Errorf("%s within the limits: %v", name, err)
		}
	}
}

// TestPhysicalRanges uses the default limits: the values are refused naming the
// series, sample, channel and bound; the largest real values and the bounds themselves
// are accepted; below zero and non-finite values stay the feature core's refusals.
func TestPhysicalRanges(t *testing.T) {
	eng := openDefault(t)
	ctx := context.Background()
	pba, anomaly, scaling := goldenSeries(t, "pba")[0], goldenSeries(t, "anomaly")[0], goldenSeries(t, "scaling")[0]
	forecast := func(s engine.Series) error { _, err := eng.ForecastBandwidth(ctx, s); return err }
	score := func(s engine.Series) error { _, err := eng.AnomalyScore(ctx, s); return err }
	capacity := func(s engine.Series) error {
		_, err := eng.RecommendCapacityBatch(ctx, []engine.Series{scaling, s})
		return err
	}
	refused := []struct {
		name string
		err  error
		want string
	}{
		{"cpu 1,000,000 %", forecast(set(pba, 3, 0, 1e6)), "series 0, sample 3: cpu_pct is 1e+06, above 25600 (100 x -max-cores)"},
		{"net 1e9 KB/s", forecast(set(pba, 0, 5, 1e9)), "series 0, sample 0: net_tx_kbs is 1e+09, above 1e+08 (-max-kbps)"},
		{"mem 1e5 %", forecast(set(pba, 22, 1, 1e5)), "sample 22: mem_pct is 100000, above 10000 (-max-mem-pct)"},
		{"3e38 MHz", capacity(set(scaling, 1, 0, 3e38)), "series 1, sample 1: value is 3e+38, above 2.56e+06 (-max-cores x -max-mhz-per-core)"},
		{"metric 1e20", score(set(anomaly, 0, 0, 1e20)), "value is 1e+20, above 1e+15 (-max-metric)"},
		{"negative: the core's", forecast(set(pba, 22, 4, -1)), `featurecore: window: sample 22, channel "net_rx_kbs": negative value`},
		{"+Inf: the core's", capacity(set(scaling, 2, 0, math.Inf(1))), `featurecore: window: sample 2, channel "value": infinite value`},
		{"NaN: the core's", score(set(anomaly, 2, 0, math.NaN())), `featurecore: window: sample 2, channel "value": missing sample (NaN)`},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) { invalidWith(t, c.err, c.want) })
	}
	accepted := map[string]error{
		"Bitbrains cpu_pct 154.5":   forecast(set(pba, 3, 0, 154.5)),
		"Bitbrains mem_pct 6400":    forecast(set(pba, 3, 1, 6400)),
		"Bitbrains net 816997 KB/s": forecast(set(pba, 3, 5, 816997)),
		"cpu_pct at the bound":      forecast(set(pba, 3, 0, 25600)),
		"2.56e6 MHz, the bound":     capacity(set(scaling, 1, 0, 2.56e6)),
		"NAB 8.64e8 bytes":          score(set(anomaly, 1, 0, 8.64e8)),
	}
	for name, err := range accepted {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
