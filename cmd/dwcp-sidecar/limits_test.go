package main

import (
	"io"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

func TestLimitFlags(t *testing.T) {
	defaults := runtime.Limits{SeriesSlack: runtime.DefaultSeriesSlack, MaxCores: runtime.DefaultMaxCores,
		MaxMHzPerCore: runtime.DefaultMaxMHzPerCore, MaxKBps: runtime.DefaultMaxKBps,
		MaxMemPct: runtime.DefaultMaxMemPct, MaxMetric: runtime.DefaultMaxMetric}
	modified := func(f func(*runtime.Limits)) runtime.Limits { l := defaults; f(&l); return l }
	tests := []struct {
		args []string
		want runtime.Limits
		err  string
	}{
		{nil, defaults, ""},
		{[]string{"-max-series-slack", "12"}, modified(func(l *runtime.Limits) { l.SeriesSlack = 12 }), ""},
		{[]string{"-max-cores", "64"}, modified(func(l *runtime.Limits) { l.MaxCores = 64 }), ""},
		{[]string{"-max-mhz-per-core", "4000"}, modified(func(l *runtime.Limits) { l.MaxMHzPerCore = 4000 }), ""},
		{[]string{"-max-kbps", "1.25e6"}, modified(func(l *runtime.Limits) { l.MaxKBps = 1.25e6 }), ""},
		{[]string{"-max-mem-pct", "200"}, modified(func(l *runtime.Limits) { l.MaxMemPct = 200 }), ""},
		{[]string{"-max-metric", "1e9"}, modified(func(l *runtime.Limits) { l.MaxMetric = 1e9 }), ""},
		{[]string{"-max-series-slack", "0"}, defaults, `invalid value "0" for flag -max-series-slack: must be an integer >= 1`},
		{[]string{"-max-series-slack", "1.5"}, defaults, "must be an integer >= 1"},
		{[]string{"-max-cores", "-1"}, defaults, `invalid value "-1" for flag -max-cores: must be a finite number > 0`},
		{[]string{"-max-kbps", "NaN"}, defaults, "must be a finite number > 0"},
		{[]string{"-max-metric", "+Inf"}, defaults, "must be a finite number > 0"},
		{[]string{"-max-mem-pct", "0"}, defaults, "must be a finite number > 0"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseFlags(append([]string{"-unix", t.TempDir() + "/s.sock"}, tc.args...), io.Discard)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.limits != tc.want:
				t.Fatalf("limits %+v, want %+v", cfg.limits, tc.want)
			}
		})
	}
}
