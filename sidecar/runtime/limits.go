package runtime

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Defaults of Limits, used for every zero field. They are far above the real traces the
// models are trained on (Bitbrains: cpu_pct <= 155, mem_pct <= 6400, KB/s <= 8.2e5, CPU
// demand <= 22,133 MHz; NAB: values <= 8.7e8), so a real series is never refused.
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
	// Bitbrains traces (up to 6400 % on 76 of 1.6 M samples, around memory resizes), so the
	// bound is 100 times the provisioned memory rather than 100 %.
	DefaultMaxMemPct = 10000
	// DefaultMaxMetric bounds the anomaly family's value, which is any metric (NAB: CPU %,
	// bytes, counts, up to 8.7e8), so the bound is a sanity bound, not a physical one.
	DefaultMaxMetric = 1e15
	// MaxLinkMbps bounds a link's available bandwidth (Mbit/s): 10 Tbit/s, beyond any
	// single link. The link schema's bounds are fixed, not flags: they are units, not
	// fleet sizes.
	MaxLinkMbps = 1e7
	// MaxLinkMs bounds latency and jitter (ms): 10 minutes is no round trip.
	MaxLinkMs = 6e5
)

// Limits bound what one typed call may carry. A zero (or negative) field means its default.
type Limits struct {
	// SeriesSlack is how many samples a series may have beyond the model's window: only
	// the most recent window is used, so a longer series is refused rather than read.
	SeriesSlack int
	// MaxCores bounds cpu_pct (100 x MaxCores) and, with MaxMHzPerCore, CPU demand in MHz.
	MaxCores float64
	// MaxMHzPerCore bounds CPU demand (the scaling family's value): MaxCores x MaxMHzPerCore.
	MaxMHzPerCore float64
	// MaxKBps bounds the disk and network channels of the vm schema (KB/s).
	MaxKBps float64
	// MaxMemPct bounds mem_pct of the vm schema.
	MaxMemPct float64
	// MaxMetric bounds the anomaly family's value.
	MaxMetric float64
}

// withDefaults returns l with every zero (or negative, or NaN) field set to its default.
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
	def(&l.MaxMetric, DefaultMaxMetric)
	return l
}

// bound is the largest value a channel accepts and the flag(s) it comes from, for the error.
type bound struct {
	max  float64
	from string
}

// channelBounds is the physical upper bound of every channel a typed call takes, keyed by
// schema channel name; a "family:channel" key overrides it for one family (the metric
// schema's value is CPU demand in MHz for scaling, any metric for anomaly). A new schema
// adds its channels here; a channel without a bound is refused (CodeMismatch) rather
// than served unchecked. Lower bounds (>= 0), finiteness and time order are the feature
// core's (fc_window: FC_ERR_NEGATIVE, FC_ERR_MISSING, FC_ERR_INFINITE), not repeated here.
var channelBounds = map[string]func(Limits) bound{
	"cpu_pct":           func(l Limits) bound { return bound{100 * l.MaxCores, "100 x -max-cores"} },
	"mem_pct":           func(l Limits) bound { return bound{l.MaxMemPct, "-max-mem-pct"} },
	"disk_read_kbs":     kbps,
	"disk_write_kbs":    kbps,
	"net_rx_kbs":        kbps,
	"net_tx_kbs":        kbps,
	"value":             func(l Limits) bound { return bound{l.MaxMetric, "-max-metric"} },
	"bandwidth_mbps":    func(Limits) bound { return bound{MaxLinkMbps, "runtime.MaxLinkMbps"} },
	"latency_ms":        linkMs,
	"jitter_ms":         linkMs,
	"packet_loss_ratio": func(Limits) bound { return bound{1, "a ratio"} },
	FamilyCapacity + ":value": func(l Limits) bound {
		return bound{l.MaxCores * l.MaxMHzPerCore, "-max-cores x -max-mhz-per-core"}
	},
}

func kbps(l Limits) bound { return bound{l.MaxKBps, "-max-kbps"} }

func linkMs(Limits) bound { return bound{MaxLinkMs, "runtime.MaxLinkMs"} }

// bounds returns the bound of each of m's channels, in channel order, for a call of family.
func (m *model) bounds(op, family string, l Limits) ([]bound, error) {
	names := m.params.Schema.Channels()
	out := make([]bound, len(names))
	for c, name := range names {
		f, ok := channelBounds[family+":"+name]
		if !ok {
			f, ok = channelBounds[name]
		}
		if !ok {
			return nil, engine.Errorf(engine.CodeMismatch, op, m.entry.Name, "channel %s of schema %s has no "+
				"physical bound in this sidecar; add it to the runtime's channelBounds", name, m.info.Schema)
		}
		out[c] = f(l)
	}
	return out, nil
}

// checkLength refuses series i of n samples when it is longer than the window plus the slack.
func (m *model) checkLength(op string, l Limits, i, n int) error {
	if most := m.samples + l.SeriesSlack; n > most {
		return invalid(op, m.entry.Name, "series %d has %d samples; %s uses the last %d, at most %d are accepted "+
			"(-max-series-slack %d)", i, n, m.entry.Name, m.samples, most, l.SeriesSlack)
	}
	return nil
}

// checkRanges refuses a finite value above its channel's bound in the samples of the
// window: values row-major, one bound per channel, first the series index of values[0].
// +Inf is left to the feature core, which names it as infinite.
func (m *model) checkRanges(op string, b []bound, i, first int, values []float64) error {
	for k, v := range values {
		if lim := b[k%len(b)]; v > lim.max && v <= math.MaxFloat64 {
			return invalid(op, m.entry.Name, "series %d, sample %d: %s is %g, above %g (%s)",
				i, first+k/len(b), m.params.Schema.Channels()[k%len(b)], v, lim.max, lim.from)
		}
	}
	return nil
}

// The answers of the typed calls are checked before they leave with status OK. A bundle
// whose thresholds are missing or out of range is refused at load (spec/bundle); these
// checks are the second line, so a bad bundle gives CodeInternal, never a wrong answer.
const (
	// maxUnits caps the capacity units of one answer: it fits int and int32 everywhere and
	// is far above what any real VM needs (the demand bound over 1 MHz units, times 100).
	maxUnits = math.MaxInt32
	// maxHorizonSeconds keeps a horizon inside time.Duration (about 292 years); a year is
	// far above any horizon a model is trained for (spec/bundle: a week).
	maxHorizonSeconds = 365 * 86400
)

// capacityFromRow sizes capacity from the forecast q and the model's input row: with a
// floor > 0 (the hybrid policy) it reads the recent peak from the row first.
func capacityFromRow(model string, p featurecore.Params, row []float32, q float64, t map[string]float64) (engine.CapacityRecommendation, error) {
	peak := 0.0
	if t["floor"] > 0 {
		var err error
		if peak, err = recentPeak(model, p, row, t["horizon_steps"]); err != nil {
			return engine.CapacityRecommendation{}, err
		}
	}
	return capacityAnswer(model, q, peak, t, p.StepSeconds)
}

// recentPeak is training/scaling.recent_peak: the largest "value" feature of the row's last
// horizon_steps steps (rows are step-major), widened to double. It is the feature core's
// resampled value, which is MHz only under the identity normalisation the scaling model
// is trained with; anything else is refused.
func recentPeak(model string, p featurecore.Params, row []float32, horizonSteps float64) (float64, error) {
	names := p.Schema.Features()
	v := slices.Index(names, "value")
	h := int(horizonSteps)
	switch {
	case v < 0 || len(row) != p.SeqLen*len(names):
		return 0, badThresholds(model, "a floor needs the value feature in rows of %d steps (schema %s, row of %d)",
			p.SeqLen, p.Schema, len(row))
	case !(horizonSteps >= 1 && horizonSteps <= float64(p.SeqLen)) || float64(h) != horizonSteps:
		return 0, badThresholds(model, "horizon_steps %g; a floor reads whole steps of the window, 1..seq_len %d",
			horizonSteps, p.SeqLen)
	case p.Center[v] != 0 || p.Scale[v] != 1:
		return 0, badThresholds(model, "a floor needs the value feature in MHz (center 0, scale 1), not center %g, "+
			"scale %g", p.Center[v], p.Scale[v])
	}
	peak := math.Inf(-1)
	for s := p.SeqLen - h; s < p.SeqLen; s++ {
		peak = math.Max(peak, float64(row[s*len(names)+v]))
	}
	return peak, nil
}

// capacityAnswer sizes capacity from the forecast q, the recent peak and the scaling
// thresholds t and the model's step, refusing anything that is not a finite, representable
// answer. training/capacity.recommend_capacity, in the same order:
//
//	units = max(max(ceil(max(q, 0) * headroom / unit_mhz), ceil(max(peak, 0) * floor / unit_mhz)), min_units)
//
// A missing floor is 0: the predictive policy, the peak unused.
func capacityAnswer(model string, q, peak float64, t map[string]float64, stepSeconds int64) (engine.CapacityRecommendation, error) {
	var zero engine.CapacityRecommendation
	if !finite(q) || !finite(peak) {
		return zero, internal(model, "the forecast is %g, the recent peak %g; refusing to size capacity from them", q, peak)
	}
	headroom, unit, minUnits, floor := t["headroom"], t["unit_mhz"], t["min_units"], t["floor"]
	if !(headroom > 0) || !(unit > 0) || !(minUnits >= 0) || !(floor >= 0) || !finite(headroom) || !finite(unit) ||
		!finite(floor) {
		return zero, badThresholds(model, "headroom %g, unit_mhz %g, min_units %g, floor %g (want headroom > 0, "+
			"unit_mhz > 0, min_units >= 0, floor >= 0, all finite)", headroom, unit, minUnits, floor)
	}
	units := math.Max(math.Max(math.Ceil(math.Max(q, 0)*headroom/unit), math.Ceil(math.Max(peak, 0)*floor/unit)), minUnits)
	if !(units <= maxUnits) {
		return zero, badThresholds(model, "they size %g units (forecast %g MHz, recent peak %g MHz, headroom %g, floor %g, "+
			"unit_mhz %g, min_units %g); at most %d are answered", units, q, peak, headroom, floor, unit, minUnits, maxUnits)
	}
	capacity := units * unit
	if !finite(capacity) {
		return zero, badThresholds(model, "%g units of unit_mhz %g make %g MHz", units, unit, capacity)
	}
	horizon, err := horizon(model, "horizon_steps x step_seconds", t["horizon_steps"]*float64(stepSeconds))
	if err != nil {
		return zero, err
	}
	return engine.CapacityRecommendation{
		PredictedPeakMHz: q, Units: int(units), CapacityMHz: capacity,
		Headroom: headroom, UnitMHz: unit, Horizon: horizon,
	}, nil
}

// anomalyAnswer refuses a non-finite score and a threshold outside the score's range
// (-0.5, 0.5): a missing threshold reads 0 and is refused too.
func anomalyAnswer(model string, score float64, t map[string]float64) (engine.AnomalyResult, error) {
	threshold, ok := t["score"]
	if !finite(score) {
		return engine.AnomalyResult{}, internal(model, "the score is %g; refusing to answer with it", score)
	}
	if !ok || !(threshold > -0.5 && threshold < 0.5) {
		return engine.AnomalyResult{}, badThresholds(model, "score threshold %g (present: %t); it must be in "+
			"(-0.5, 0.5)", threshold, ok)
	}
	return engine.AnomalyResult{Score: score, Threshold: threshold, Anomalous: score >= threshold}, nil
}

// forecastAnswer refuses non-finite quantiles, quantile levels outside [0, 1] and a
// horizon under 1 s, which would put valid_until (whole seconds on the wire) at or before
// the last sample.
func forecastAnswer(model string, out []float32, t map[string]float64, last int64) (engine.BandwidthForecast, error) {
	var zero engine.BandwidthForecast
	for _, v := range out {
		if !finite(float64(v)) {
			return zero, internal(model, "the forecast is %v; refusing to answer with it", out)
		}
	}
	lower, upper := t["quantile_lower"], t["quantile_upper"]
	if !(lower >= 0 && lower <= 1) || !(upper >= 0 && upper <= 1) {
		return zero, badThresholds(model, "quantile_lower %g, quantile_upper %g; they must be in [0, 1]", lower, upper)
	}
	h, err := horizon(model, "horizon_seconds", t["horizon_seconds"])
	if err != nil {
		return zero, err
	}
	return engine.BandwidthForecast{
		Lower: float64(out[0]), Point: float64(out[1]), Upper: float64(out[2]),
		QuantileLower: lower, QuantileUpper: upper,
		Horizon: h, ValidUntil: time.Unix(last, 0).UTC().Add(h),
	}, nil
}

// LinkColumns are the link model's output columns, in order (docs/link-model.md); a
// manifest entry's notes "columns", when present, must list exactly these.
var LinkColumns = []string{"bandwidth_lower_mbps", "bandwidth_mbps", "bandwidth_upper_mbps",
	"latency_ms", "packet_loss_ratio", "jitter_ms"}

// linkColumns checks m's output row against the contract's columns: CodeMismatch when the
// model answers other columns (a bundle this sidecar cannot read as a link forecast).
func (m *model) linkColumns(op string) error {
	if m.outLen != len(LinkColumns) {
		return engine.Errorf(engine.CodeMismatch, op, m.entry.Name, "output shape %v: the link contract has %d columns %v",
			m.info.OutputShape, len(LinkColumns), LinkColumns)
	}
	if c, ok := m.entry.Notes["columns"]; ok && c != strings.Join(LinkColumns, ",") {
		return engine.Errorf(engine.CodeMismatch, op, m.entry.Name, "the manifest's output columns are %q; the link contract's are %q",
			c, strings.Join(LinkColumns, ","))
	}
	return nil
}

// linkAnswer refuses a row that breaks the graph's guarantees (every column finite and
// >= 0, the loss ratio <= 1, lower <= point <= upper) and thresholds as forecastAnswer does.
func linkAnswer(m *model, out []float32, last int64) (engine.LinkForecast, error) {
	var zero engine.LinkForecast
	name := m.entry.Name
	if err := m.linkColumns("forecast link"); err != nil {
		return zero, err
	}
	for i, v := range out {
		if x := float64(v); !finite(x) || x < 0 || (i == 4 && x > 1) {
			return zero, internal(name, "the link forecast is %v (column %s); refusing to answer with it", out, LinkColumns[i])
		}
	}
	if !(out[0] <= out[1] && out[1] <= out[2]) {
		return zero, internal(name, "the link forecast's quantiles cross (%v, %v, %v); refusing to answer with it", out[0], out[1], out[2])
	}
	bw, err := forecastAnswer(name, out[:3], m.info.Thresholds, last)
	if err != nil {
		return zero, err
	}
	return engine.LinkForecast{
		LowerMbps: bw.Lower, PointMbps: bw.Point, UpperMbps: bw.Upper,
		LatencyMs: float64(out[3]), LossRatio: float64(out[4]), JitterMs: float64(out[5]),
		QuantileLower: bw.QuantileLower, QuantileUpper: bw.QuantileUpper, Horizon: bw.Horizon, ValidUntil: bw.ValidUntil,
	}, nil
}

// horizon converts a horizon in seconds, refusing one outside [1 s, maxHorizonSeconds].
func horizon(model, name string, s float64) (time.Duration, error) {
	if !(s >= 1 && s <= maxHorizonSeconds) {
		return 0, badThresholds(model, "%s is %g; it must be in [1, %d] s", name, s, maxHorizonSeconds)
	}
	return time.Duration(s * float64(time.Second)), nil
}

func badThresholds(model, format string, args ...any) error {
	return internal(model, "the bundle's thresholds are wrong: "+format, args...)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
