package engine

import (
	"context"
	"time"
)

// Engine answers DWCP's model calls. Implementations are safe for concurrent use.
//
// The typed calls take raw metric windows (Series) and compute the features themselves
// with the model's parameters from the bundle; Predict takes a feature row as the model's
// input, for callers that build features elsewhere. An empty version means the version
// in the loaded bundle; any other version must equal it.
type Engine interface {
	// Predict runs model on one flattened input row (len = the model's InputLen) and
	// returns its output row. Values must be finite and within float32 range.
	Predict(ctx context.Context, model, version string, features []float64) ([]float64, error)
	// PredictBatch runs model on rows input rows stored one after the other.
	PredictBatch(ctx context.Context, model, version string, rows int, features []float64) ([]float64, error)

	// ForecastBandwidth forecasts a VM's network bandwidth from its recent metrics (schema vm).
	ForecastBandwidth(ctx context.Context, s Series) (BandwidthForecast, error)
	ForecastBandwidthBatch(ctx context.Context, s []Series) ([]BandwidthForecast, error)

	// AnomalyScore scores the most recent window of one metric (schema metric).
	AnomalyScore(ctx context.Context, s Series) (AnomalyResult, error)
	AnomalyScoreBatch(ctx context.Context, s []Series) ([]AnomalyResult, error)

	// RecommendCapacity turns a VM's recent CPU demand in MHz (schema metric) into the
	// capacity to provision for the next horizon.
	RecommendCapacity(ctx context.Context, s Series) (CapacityRecommendation, error)
	RecommendCapacityBatch(ctx context.Context, s []Series) ([]CapacityRecommendation, error)

	// ForecastLink forecasts a network link's bandwidth, latency, loss and jitter from its
	// recent measurements (schema link; the link model, docs/link-model.md).
	ForecastLink(ctx context.Context, s Series) (LinkForecast, error)
	ForecastLinkBatch(ctx context.Context, s []Series) ([]LinkForecast, error)

	// PlaceVM chooses a host for one VM (DWCP's PlaceVM(ctx, vm, constraints)): the hard
	// constraints (capacity, anti-affinity, failure-domain spread, maintenance) filter the
	// hosts outside the model, the placement model scores every feasible host in one batch,
	// the best score wins (ties: lowest host index). The answer says which constraints
	// removed which hosts and which factors decided. No feasible host is CodeNoFeasibleHost.
	PlaceVM(ctx context.Context, req PlacementRequest) (Placement, error)
	// PlaceVMBatch decides each request on its own cluster state, as PlaceVM would (it
	// does not apply one placement to the next request's state), scoring all requests'
	// feasible hosts in one model batch. Any request's error fails the call and names it.
	PlaceVMBatch(ctx context.Context, reqs []PlacementRequest) ([]Placement, error)

	// Versions describes the loaded bundle, its models, the feature core and ONNX Runtime.
	Versions(ctx context.Context) (Versions, error)
}

// Series is one entity's recent samples on the model's step grid (300 s by default):
// Unix-second timestamps, and per timestamp one value per channel of the model's schema,
// row-major (len(Values) = len(Timestamps) × channels). It must hold at least the model's
// WindowSamples; the most recent WindowSamples samples are used.
//
// Entity names the VM, link or host the series belongs to. The engine ignores it; the
// sidecar routes on it (champion or canary, sticky per entity) and joins ReportActual's
// outcomes to the answer served for it. "" = the champion, and no outcome is joined.
type Series struct {
	Timestamps []int64
	Values     []float64
	Entity     string
}

// ModelRef names the model version that produced an answer.
type ModelRef struct {
	Name    string
	Version string
	Bundle  string // bundle_version of the bundle it came from
}

// BandwidthForecast is the PBA forecast of the mean network throughput
// (net_rx_kbs + net_tx_kbs, KB/s) over the next Horizon after the last sample.
type BandwidthForecast struct {
	Lower, Point, Upper float64 // quantiles QuantileLower, 0.5 and QuantileUpper
	QuantileLower       float64
	QuantileUpper       float64
	Horizon             time.Duration
	ValidUntil          time.Time // last sample time + Horizon
	Model               ModelRef
}

// LinkForecast is the link model's forecast of a link (docs/link-model.md): every value
// is a forecast of the mean over the next Horizon after the last sample. The bandwidth
// interval [LowerMbps, UpperMbps] is between the quantiles QuantileLower and
// QuantileUpper, PointMbps the median; LowerMbps <= PointMbps <= UpperMbps.
type LinkForecast struct {
	LowerMbps, PointMbps, UpperMbps float64 // available bandwidth, Mbit/s
	LatencyMs                       float64 // median latency, ms
	LossRatio                       float64 // median packet loss, a ratio in [0, 1]
	JitterMs                        float64 // median jitter, ms
	QuantileLower                   float64
	QuantileUpper                   float64
	Horizon                         time.Duration
	ValidUntil                      time.Time // last sample time + Horizon
	Model                           ModelRef
}

// AnomalyResult scores the most recent window: Score in (-0.5, 0.5), higher is more
// anomalous; Anomalous is Score >= Threshold (chosen at training time, in the bundle).
type AnomalyResult struct {
	Score     float64
	Threshold float64
	Anomalous bool
	Model     ModelRef
}

// CapacityRecommendation is the predictive scaler's answer: PredictedPeakMHz is the
// model's upper quantile of the peak CPU demand over the Horizon; CapacityMHz =
// max(ceil(max(PredictedPeakMHz, 0) × Headroom / UnitMHz), MinUnits) × UnitMHz.
type CapacityRecommendation struct {
	PredictedPeakMHz float64
	Units            int
	CapacityMHz      float64
	Headroom         float64
	UnitMHz          float64
	Horizon          time.Duration
	Model            ModelRef
}

// Versions describes what an Engine serves.
type Versions struct {
	Bundle      string // bundle_version
	BundleDir   string
	FeatureCore string // feature core version, e.g. 1.1.0
	ONNXRuntime string // ONNX Runtime library version, e.g. 1.32.0
	LoadedAt    time.Time
	Models      []ModelInfo // manifest order; a typed call uses the first model of its family
}

// ModelInfo is one model of the loaded bundle.
type ModelInfo struct {
	Name, Family, Version string
	Schema, SchemaHash    string
	SHA256                string
	InputShape            []int64 // -1 is the batch axis
	OutputShape           []int64
	WindowSamples         int // raw samples one window needs (typed calls); placement: the history samples H
	StepSeconds           int64
	Thresholds            map[string]float64
}

// InputLen is the number of values in one input row (the product of the non-batch axes).
func (m ModelInfo) InputLen() int { return rowLen(m.InputShape) }

// OutputLen is the number of values in one output row.
func (m ModelInfo) OutputLen() int { return rowLen(m.OutputShape) }

func rowLen(shape []int64) int {
	n := 1
	for _, d := range shape[min(1, len(shape)):] {
		n *= int(d)
	}
	return n
}
