package main

import (
	"errors"
	"flag"
	"math"
	"strconv"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// limitFlags registers the flags of the typed calls' limits on fs, with their defaults in l.
func limitFlags(fs *flag.FlagSet, l *runtime.Limits) {
	*l = runtime.Limits{
		SeriesSlack: runtime.DefaultSeriesSlack, MaxCores: runtime.DefaultMaxCores,
		MaxMHzPerCore: runtime.DefaultMaxMHzPerCore, MaxKBps: runtime.DefaultMaxKBps,
		MaxMemPct: runtime.DefaultMaxMemPct, MaxMetric: runtime.DefaultMaxMetric,
	}
	fs.Var((*positiveInt)(&l.SeriesSlack), "max-series-slack", "samples a series may have beyond the model's window; longer ones are refused")
	fs.Var((*positiveFloat)(&l.MaxCores), "max-cores", "most cores of a VM: cpu_pct is refused above 100 x this")
	fs.Var((*positiveFloat)(&l.MaxMHzPerCore), "max-mhz-per-core", "CPU demand (MHz) is refused above -max-cores x this")
	fs.Var((*positiveFloat)(&l.MaxKBps), "max-kbps", "disk and network throughput (KB/s) is refused above this")
	fs.Var((*positiveFloat)(&l.MaxMemPct), "max-mem-pct", "mem_pct is refused above this")
	fs.Var((*positiveFloat)(&l.MaxMetric), "max-metric", "the anomaly model's metric is refused above this")
}

var (
	errNotPositive = errors.New("must be a finite number > 0")
	errNotCount    = errors.New("must be an integer >= 1")
)

// positiveInt is an int flag that refuses values < 1 (0 would silently mean the default).
type positiveInt int

func (p *positiveInt) String() string { return strconv.Itoa(int(*p)) }

func (p *positiveInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return errNotCount
	}
	*p = positiveInt(v)
	return nil
}

// positiveFloat is a float flag that refuses non-finite values and values <= 0.
type positiveFloat float64

func (p *positiveFloat) String() string { return strconv.FormatFloat(float64(*p), 'g', -1, 64) }

func (p *positiveFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return errNotPositive
	}
	*p = positiveFloat(v)
	return nil
}
