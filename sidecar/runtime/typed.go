package runtime

import (
	"context"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Model families the typed calls use (the family field of the manifest).
const (
	FamilyBandwidth = "pba"
	FamilyAnomaly   = "anomaly"
	FamilyCapacity  = "scaling"
)

// ForecastBandwidth forecasts a VM's network bandwidth from its recent metrics.
func (e *Engine) ForecastBandwidth(ctx context.Context, s engine.Series) (engine.BandwidthForecast, error) {
	return one(e.ForecastBandwidthBatch(ctx, []engine.Series{s}))
}

// ForecastBandwidthBatch forecasts many VMs in one model run.
func (e *Engine) ForecastBandwidthBatch(ctx context.Context, s []engine.Series) ([]engine.BandwidthForecast, error) {
	return runTyped(ctx, e, "forecast bandwidth", FamilyBandwidth, s,
		func(m *model, out []float32, last int64) (engine.BandwidthForecast, error) {
			h := m.info.Thresholds["horizon_seconds"]
			if err := forecastCheck(m.entry.Name, out, h); err != nil {
				return engine.BandwidthForecast{}, err
			}
			horizon := seconds(h)
			return engine.BandwidthForecast{
				Lower: float64(out[0]), Point: float64(out[1]), Upper: float64(out[2]),
				QuantileLower: m.info.Thresholds["quantile_lower"],
				QuantileUpper: m.info.Thresholds["quantile_upper"],
				Horizon:       horizon, ValidUntil: time.Unix(last, 0).UTC().Add(horizon),
				Model: m.ref,
			}, nil
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
			score, threshold := float64(out[0]), m.info.Thresholds["score"]
			anomalous, err := anomalyAnswer(m.entry.Name, score, threshold)
			if err != nil {
				return engine.AnomalyResult{}, err
			}
			return engine.AnomalyResult{Score: score, Threshold: threshold, Anomalous: anomalous, Model: m.ref}, nil
		})
}

// RecommendCapacity sizes a VM's CPU capacity for the next horizon from its recent demand.
func (e *Engine) RecommendCapacity(ctx context.Context, s engine.Series) (engine.CapacityRecommendation, error) {
	return one(e.RecommendCapacityBatch(ctx, []engine.Series{s}))
}

// RecommendCapacityBatch sizes many VMs in one model run. The rule is the one of
// training/capacity.py, in the same double arithmetic, so it gives the same bits.
func (e *Engine) RecommendCapacityBatch(ctx context.Context, s []engine.Series) ([]engine.CapacityRecommendation, error) {
	return runTyped(ctx, e, "recommend capacity", FamilyCapacity, s,
		func(m *model, out []float32, _ int64) (engine.CapacityRecommendation, error) {
			t := m.info.Thresholds
			q := float64(out[0])
			units, capacity, err := capacityUnits(m.entry.Name, q, t)
			if err != nil {
				return engine.CapacityRecommendation{}, err
			}
			return engine.CapacityRecommendation{
				PredictedPeakMHz: q, Units: units, CapacityMHz: capacity,
				Headroom: t["headroom"], UnitMHz: t["unit_mhz"],
				Horizon: seconds(t["horizon_steps"] * float64(m.params.StepSeconds)),
				Model:   m.ref,
			}, nil
		})
}

// runTyped builds one input row per series from its most recent window with the feature
// core, runs the family's model on all rows at once and converts each output row.
func runTyped[T any](ctx context.Context, e *Engine, op, family string, series []engine.Series,
	answer func(m *model, out []float32, lastTimestamp int64) (T, error)) ([]T, error) {
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
	bounds := e.cfg.Limits.bounds(family)
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
	res := make([]T, len(series))
	for i, s := range series {
		if res[i], err = answer(m, out[i*m.outLen:(i+1)*m.outLen], s.Timestamps[len(s.Timestamps)-1]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// window computes the features of the most recent window of s into row, after checking
// the window's values against the channels' physical bounds.
func (m *model) window(op string, bounds map[string]bound, i int, s engine.Series, row []float32) error {
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

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
