package runtime

import "math"

// Defaults of Limits, used for every zero field.
const (
	// DefaultSeriesSlack is one day of 5-minute samples beyond a model's window.
	DefaultSeriesSlack = 288
	// DefaultMaxCores bounds the cores of one VM (cpu_pct is per core, so 100 x cores).
	DefaultMaxCores = 256
	// DefaultMaxMHzPerCore bounds the clock of one core in CPU demand (MHz).
	DefaultMaxMHzPerCore = 10000
	// DefaultMaxKBps bounds disk and network throughput (KB/s, 1e8 = 100 GB/s).
	DefaultMaxKBps = 1e8
	// DefaultMaxMemPct bounds mem_pct: usage above the provisioned memory is real in the
	// Bitbrains traces (up to 6400 %), so the bound is 100 times the provisioned memory.
	DefaultMaxMemPct = 10000
)

// Limits bound what one typed call may carry. A zero field means its default.
type Limits struct {
	// SeriesSlack is how many samples a series may have beyond the model's window: only
	// the most recent window is used, so a longer series is refused rather than copied.
	SeriesSlack int
	// MaxCores bounds cpu_pct (100 x MaxCores) and, with MaxMHzPerCore, CPU demand in MHz.
	MaxCores float64
	// MaxMHzPerCore bounds CPU demand (the scaling family's value): MaxCores x MaxMHzPerCore.
	MaxMHzPerCore float64
	// MaxKBps bounds the disk and network channels of the vm schema (KB/s).
	MaxKBps float64
	// MaxMemPct bounds mem_pct of the vm schema.
	MaxMemPct float64
}

// withDefaults returns l with every zero (or negative) field set to its default.
func (l Limits) withDefaults() Limits {
	if l.SeriesSlack <= 0 {
		l.SeriesSlack = DefaultSeriesSlack
	}
	def := func(v *float64, d float64) {
		if !(*v > 0) {
			*v = d
		}
	}
	def(&l.MaxCores, DefaultMaxCores)
	def(&l.MaxMHzPerCore, DefaultMaxMHzPerCore)
	def(&l.MaxKBps, DefaultMaxKBps)
	def(&l.MaxMemPct, DefaultMaxMemPct)
	return l
}

// bound is the largest value a channel accepts and how the bound is made, for the error.
type bound struct {
	max  float64
	from string
}

// bounds returns the upper bound of each channel, keyed by schema channel name. The
// metric schema's value is CPU demand in MHz only for the scaling family; for the anomaly
// family it is any metric (NAB: bytes, counts), bounded only by the model's float32 input.
// Lower bounds (>= 0) and finiteness are the feature core's (fc_window), not repeated here.
func (l Limits) bounds(family string) map[string]bound {
	b := map[string]bound{
		"cpu_pct":           {100 * l.MaxCores, "100 x -max-cores"},
		"mem_pct":           {l.MaxMemPct, "-max-mem-pct"},
		"disk_read_kbs":     {l.MaxKBps, "-max-kbps"},
		"disk_write_kbs":    {l.MaxKBps, "-max-kbps"},
		"net_rx_kbs":        {l.MaxKBps, "-max-kbps"},
		"net_tx_kbs":        {l.MaxKBps, "-max-kbps"},
		"packet_loss_ratio": {1, "a ratio"},
		"value":             {math.MaxFloat32, "the float32 range"},
	}
	if family == FamilyCapacity {
		b["value"] = bound{l.MaxCores * l.MaxMHzPerCore, "-max-cores x -max-mhz-per-core"}
	}
	return b
}

// checkLength refuses series i of n samples when it is longer than the window plus the slack.
func (m *model) checkLength(op string, l Limits, i, n int) error {
	if most := m.samples + l.SeriesSlack; n > most {
		return invalid(op, m.entry.Name, "series %d has %d samples; %s uses the last %d, at most %d are accepted "+
			"(-max-series-slack %d)", i, n, m.entry.Name, m.samples, most, l.SeriesSlack)
	}
	return nil
}

// checkRanges refuses a value above its channel's physical bound in the samples of the
// window, values row-major with m.channels per sample, first the index of values[0].
func (m *model) checkRanges(op string, b map[string]bound, i, first int, values []float64) error {
	names := m.params.Schema.Channels()
	for c, name := range names {
		lim, ok := b[name]
		if !ok {
			continue
		}
		for k := c; k < len(values); k += len(names) {
			if v := values[k]; v > lim.max {
				return invalid(op, m.entry.Name, "series %d, sample %d: %s is %g, above %g (%s)",
					i, first+k/len(names), name, v, lim.max, lim.from)
			}
		}
	}
	return nil
}

// maxUnits caps the capacity units of one answer; a unit count above it comes from
// thresholds no real VM has (and could overflow int).
const maxUnits = 1 << 40

// capacityUnits sizes capacity from the forecast q with the scaling thresholds, refusing
// anything that is not a finite, representable answer.
func capacityUnits(model string, q float64, t map[string]float64) (int, float64, error) {
	if math.IsNaN(q) || math.IsInf(q, 0) {
		return 0, 0, internal(model, "the forecast is %g; refusing to size capacity from it", q)
	}
	units := math.Max(math.Ceil(math.Max(q, 0)*t["headroom"]/t["unit_mhz"]), t["min_units"])
	if math.IsNaN(units) || units < 0 || units > maxUnits {
		return 0, 0, internal(model, "bundle thresholds give %g capacity units (headroom %g, unit_mhz %g, "+
			"min_units %g); the answer must be 0..%d", units, t["headroom"], t["unit_mhz"], t["min_units"], maxUnits)
	}
	capacity := units * t["unit_mhz"]
	if !finite(capacity) || capacity < 0 {
		return 0, 0, internal(model, "bundle thresholds give capacity %g MHz (%g units of unit_mhz %g)",
			capacity, units, t["unit_mhz"])
	}
	return int(units), capacity, nil
}

// anomalyAnswer refuses a non-finite score or threshold.
func anomalyAnswer(model string, score, threshold float64) (bool, error) {
	if !finite(score) || !finite(threshold) {
		return false, internal(model, "score %g against threshold %g: bundle thresholds give no answer", score, threshold)
	}
	return score >= threshold, nil
}

// forecastCheck refuses non-finite bandwidth quantiles and a horizon that is not positive.
func forecastCheck(model string, out []float32, horizonSeconds float64) error {
	for _, v := range out {
		if !finite(float64(v)) {
			return internal(model, "the forecast is %v; refusing to answer with it", out)
		}
	}
	if !finite(horizonSeconds) || horizonSeconds <= 0 || horizonSeconds > maxHorizonSeconds {
		return internal(model, "bundle thresholds give horizon_seconds %g; it must be in (0, %g]",
			horizonSeconds, float64(maxHorizonSeconds))
	}
	return nil
}

// maxHorizonSeconds keeps a horizon inside time.Duration (about 292 years); a year is ample.
const maxHorizonSeconds = 365 * 86400

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
