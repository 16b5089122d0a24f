package runtime

import (
	"context"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Model families the typed calls use (the family field of the manifest).
const (
	FamilyBandwidth = "pba"
	FamilyAnomaly   = "anomaly"
	FamilyCapacity  = "scaling"
	FamilyLink      = "link"
)

// ForecastBandwidth forecasts a VM's network bandwidth from its recent metrics.
func (e *Engine) ForecastBandwidth(ctx context.Context, s engine.Series) (engine.BandwidthForecast, error) {
	return one(e.ForecastBandwidthBatch(ctx, []engine.Series{s}))
}

// ForecastBandwidthBatch forecasts many VMs in one model run.
func (e *Engine) ForecastBandwidthBatch(ctx context.Context, s []engine.Series) ([]engine.BandwidthForecast, error) {
	return runTyped(ctx, e, "forecast bandwidth", FamilyBandwidth, s,
		func(m *model, out []float32, last int64) (engine.BandwidthForecast, error) {
			f, err := forecastAnswer(m.entry.Name, out, m.info.Thresholds, last)
			f.Model = m.ref
			return f, err
		})
}

// AnomalyScore scores the most recent window of one metric.
func (e *Engine) AnomalyScore(ctx context.Context, s engine.Series) (engine.AnomalyResult, error) {
	return one(e.AnomalyScoreBatch(ctx, []engine.Series{s}))
}

// AnomalyScoreBatch scores many series in one model run.
func (e *Engine) AnomalyScoreBatch(ctx context.Context, s []engine.Series) ([]engine.AnomalyResult, error) {
	return runTyped(ctx, e, "anomaly score", FamilyAnomaly, s,
		func(m *model, out []float32, _ int64) (engine.AnomalyResult, error) {
			a, err := anomalyAnswer(m.entry.Name, float64(out[0]), m.info.Thresholds)
			a.Model = m.ref
			return a, err
		})
}

// RecommendCapacity sizes a VM's CPU capacity for the next horizon from its recent demand.
func (e *Engine) RecommendCapacity(ctx context.Context, s engine.Series) (engine.CapacityRecommendation, error) {
	return one(e.RecommendCapacityBatch(ctx, []engine.Series{s}))
}

// RecommendCapacityBatch sizes many VMs in one model run. The rule is the one of
// training/capacity.py, in the same double arithmetic, so it gives the same bits; the
// hybrid policy's floor reads the recent peak from the input row the feature core computed,
// as training/scaling.recent_peak does.
func (e *Engine) RecommendCapacityBatch(ctx context.Context, s []engine.Series) ([]engine.CapacityRecommendation, error) {
	return runTypedRows(ctx, e, "recommend capacity", FamilyCapacity, s,
		func(m *model, row, out []float32, _ int64) (engine.CapacityRecommendation, error) {
			c, err := capacityFromRow(m.entry.Name, m.params, row, float64(out[0]), m.info.Thresholds)
			c.Model = m.ref
			return c, err
		})
}

// ForecastLink forecasts a link's bandwidth, latency, loss and jitter from its recent
// measurements.
func (e *Engine) ForecastLink(ctx context.Context, s engine.Series) (engine.LinkForecast, error) {
	return one(e.ForecastLinkBatch(ctx, []engine.Series{s}))
}

// ForecastLinkBatch forecasts many links in one model run. The model's output columns
// are checked against the contract (docs/link-model.md) and the manifest's notes, and
// every answer against the graph's guarantees, before it is returned.
func (e *Engine) ForecastLinkBatch(ctx context.Context, s []engine.Series) ([]engine.LinkForecast, error) {
	return runTyped(ctx, e, "forecast link", FamilyLink, s,
		func(m *model, out []float32, last int64) (engine.LinkForecast, error) {
			f, err := linkAnswer(m, out, last)
			f.Model = m.ref
			return f, err
		})
}

// runTyped builds one input row per series from its most recent window with the feature
// core, runs the family's model on all rows at once and converts each output row.
func runTyped[T any](ctx context.Context, e *Engine, op, family string, series []engine.Series,
	answer func(m *model, out []float32, lastTimestamp int64) (T, error)) ([]T, error) {
	return runTypedRows(ctx, e, op, family, series,
		func(m *model, _, out []float32, last int64) (T, error) { return answer(m, out, last) })
}

// runTypedRows is runTyped for answers that also read the series' input row.
func runTypedRows[T any](ctx context.Context, e *Engine, op, family string, series []engine.Series,
	answer func(m *model, row, out []float32, lastTimestamp int64) (T, error)) ([]T, error) {
	l, err := e.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	m, err := l.family(op, family)
	if err != nil {
		return nil, err
	}
	if err := e.checkRows(op, m.entry.Name, len(series)); err != nil {
		return nil, err
	}
	// Lengths first: a long series is refused before any per-row work.
	for i, s := range series {
		if err := m.checkLength(op, e.cfg.Limits, i, len(s.Timestamps)); err != nil {
			return nil, err
		}
	}
	bounds, err := m.bounds(op, family, e.cfg.Limits)
	if err != nil {
		return nil, err
	}
	in := make([]float32, len(series)*m.inLen)
	for i, s := range series {
		if err := m.window(op, bounds, i, s, in[i*m.inLen:(i+1)*m.inLen]); err != nil {
			return nil, err
		}
	}
	out := make([]float32, len(series)*m.outLen)
	if err := m.run(in, len(series), out); err != nil {
		return nil, err
	}
	e.observe(ctx, m, len(series), in, out)
	res := make([]T, len(series))
	for i, s := range series {
		row := in[i*m.inLen : (i+1)*m.inLen]
		if res[i], err = answer(m, row, out[i*m.outLen:(i+1)*m.outLen], s.Timestamps[len(s.Timestamps)-1]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// window computes the features of the most recent window of s into row, after checking
// the window's values against the channels' physical bounds.
func (m *model) window(op string, bounds []bound, i int, s engine.Series, row []float32) error {
	n := len(s.Timestamps)
	switch {
	case n < m.samples:
		return invalid(op, m.entry.Name, "series %d has %d samples; %s needs the last %d samples, %d s apart "+
			"(schema %s: %v)", i, n, m.entry.Name, m.samples, m.params.StepSeconds, m.info.Schema,
			m.params.Schema.Channels())
	case len(s.Values) != n*m.channels:
		return invalid(op, m.entry.Name, "series %d has %d values for %d timestamps; schema %s takes %d "+
			"channels per sample %v, row-major", i, len(s.Values), n, m.info.Schema, m.channels,
			m.params.Schema.Channels())
	}
	first := n - m.samples
	if err := m.checkRanges(op, bounds, i, first, s.Values[first*m.channels:]); err != nil {
		return err
	}
	if err := m.params.Window(s.Timestamps[first:], s.Values[first*m.channels:], row); err != nil {
		return invalid(op, m.entry.Name, "series %d, from sample %d: %w", i, first, err)
	}
	return nil
}

func one[T any](res []T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return res[0], nil
}
