package runtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// extend returns s with extra samples prepended, one step apart before the first, each a
// copy of the first sample's values (outside the window, so their values do not matter).
func extend(s engine.Series, extra int, step int64) engine.Series {
	ch := len(s.Values) / len(s.Timestamps)
	out := engine.Series{Timestamps: make([]int64, 0, extra+len(s.Timestamps)), Values: make([]float64, 0, (extra+len(s.Timestamps))*ch)}
	for k := extra; k > 0; k-- {
		out.Timestamps = append(out.Timestamps, s.Timestamps[0]-int64(k)*step)
		out.Values = append(out.Values, s.Values[:ch]...)
	}
	out.Timestamps = append(out.Timestamps, s.Timestamps...)
	out.Values = append(out.Values, s.Values...)
	return out
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
	g := goldenSeries(t, "pba")[0]
	need := len(g.Timestamps) // the golden runs are exactly one window
	cases := []struct {
		name  string
		extra int
		want  string // "" = accepted
	}{
		{"window only", 0, ""},
		{"at the limit", runtime.DefaultSeriesSlack, ""},
		{"one over", runtime.DefaultSeriesSlack + 1, "at most"},
		{"4M samples", 4_000_000 - need, "series 0 has 4000000 samples; pba uses the last"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := eng.ForecastBandwidth(ctx, extend(g, c.extra, 300))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			invalidWith(t, err, c.want)
			invalidWith(t, err, "(-max-series-slack 288)")
		})
	}
}

func TestPhysicalRanges(t *testing.T) {
	eng := openDefault(t)
	ctx := context.Background()
	set := func(s engine.Series, channel, value int, v float64, channels int) engine.Series {
		c := engine.Series{Timestamps: s.Timestamps, Values: append([]float64(nil), s.Values...)}
		c.Values[value*channels+channel] = v
		return c
	}
	pba, scaling := goldenSeries(t, "pba")[0], goldenSeries(t, "scaling")[0]
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"cpu 1,000,000 %", func() error {
			_, err := eng.ForecastBandwidth(ctx, set(pba, 0, 3, 1e6, 6))
			return err
		}, "series 0, sample 3: cpu_pct is 1e+06, above 25600 (100 x -max-cores)"},
		{"net 1e9 KB/s", func() error {
			_, err := eng.ForecastBandwidth(ctx, set(pba, 5, 0, 1e9, 6))
			return err
		}, "net_tx_kbs is 1e+09, above 1e+08 (-max-kbps)"},
		{"3e38 MHz", func() error {
			_, err := eng.RecommendCapacity(ctx, set(scaling, 0, 1, 3e38, 1))
			return err
		}, "value is 3e+38, above 2.56e+06 (-max-cores x -max-mhz-per-core)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { invalidWith(t, c.call(), c.want) })
	}
	if _, err := eng.RecommendCapacity(ctx, set(scaling, 0, 1, 2.5e6, 1)); err != nil {
		t.Fatalf("2.5e6 MHz, within the bound: %v", err)
	}
}
