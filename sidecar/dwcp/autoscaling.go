package dwcp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// ScalingEngine is what the Scaler calls: the online store its samples go to and
// engine.Engine's capacity recommender. *store.Online and *client.Client implement it.
type ScalingEngine interface {
	OnlineStore
	RecommendCapacity(ctx context.Context, s engine.Series) (engine.CapacityRecommendation, error)
}

// MHzPerCore is the CPU speed the training traces assume (Bitbrains: 2600 MHz per core,
// training/data.py MHZ_PER_CORE): the default to turn cores into MHz.
const MHzPerCore = 2600

// DefaultTrendDeadband is the relative band around the recent peak inside which the
// forecast counts as stable (TrendDirection).
const DefaultTrendDeadband = 0.1

// TrendDirection is DWCP's direction of a forecast.
type TrendDirection string

// DWCP's directions. The Scaler never answers TrendVolatile (the model gives no spread to
// call a series volatile by).
const (
	TrendIncreasing TrendDirection = "increasing"
	TrendDecreasing TrendDirection = "decreasing"
	TrendStable     TrendDirection = "stable"
	TrendVolatile   TrendDirection = "volatile"
)

// Target types of MetricsData.TargetType.
const (
	TargetVM      = "vm"
	TargetNode    = "node"
	TargetCluster = "cluster"
)

// MetricsData is DWCP's snapshot of one scaling target. The scaling model reads only
// CPUUsage (turned into CPU demand in MHz with the target's capacity): see Scaler.
type MetricsData struct {
	Timestamp     time.Time
	TargetID      string
	TargetType    string  // vm, node, cluster
	CPUUsage      float64 // fraction of the target's CPU capacity, 0..1 (above 1 when overcommitted)
	MemoryUsage   float64 // fraction 0..1; only carried into PredictedMemory
	NetworkIO     float64 // ignored
	DiskIO        float64 // ignored
	ActiveVMs     int     // ignored
	QueueLength   int     // ignored
	ResponseTime  float64 // ignored
	CustomMetrics map[string]float64
}

// ResourcePrediction is DWCP's forecast of a target's needs.
type ResourcePrediction struct {
	TargetID       string
	PredictionTime time.Time // the window's last grid bin (the newest sample's bin start), from the store
	HorizonMinutes int       // the model's horizon (15 for the default bundle)
	// PredictedCPU is the model's upper quantile (alpha) of the peak CPU demand over the
	// horizon, as a fraction of the target's capacity: PredictedPeakMHz / CapacityMHz.
	PredictedCPU float64
	// PredictedMemory is MetricsData.MemoryUsage unchanged: no model forecasts memory, so
	// this is the persistence forecast, not a model output.
	PredictedMemory float64
	// PredictedLoad is the capacity the scaling rule recommends as a fraction of the
	// target's capacity (Recommendation.CapacityMHz / CapacityMHz): above 1 means scale up.
	PredictedLoad float64
	// Confidence is the quantile level alpha of PredictedCPU (0.9 for the default bundle):
	// the probability, by the model's training objective, that the peak stays at or below
	// it. Its measured coverage is in docs/evaluation/scaling.md.
	Confidence     float64
	TrendDirection TrendDirection // PredictedPeakMHz vs the recent peak: see Trend
	SeasonalFactor float64        // not produced: 0
	AnomalyScore   float64        // not produced: 0
	Metadata       map[string]any // capacity_mhz, predicted_peak_mhz, recent_peak_mhz, units, model

	CapacityMHz    float64                       // the target's CPU capacity used
	Recommendation engine.CapacityRecommendation // the engine's answer
}

// ScalerConfig configures a Scaler.
type ScalerConfig struct {
	// CapacityMHz is each target's CPU capacity in MHz (cores × MHz per core, e.g.
	// 4 × MHzPerCore), keyed by TargetID; DefaultCapacityMHz serves the others. DWCP's
	// CPUUsage is a fraction of it: demand MHz = CPUUsage × capacity. A target without
	// either is ErrNoCapacity.
	CapacityMHz        map[string]float64
	DefaultCapacityMHz float64
	// TrendDeadband: relative band of TrendStable (default DefaultTrendDeadband).
	TrendDeadband float64
	// MaxTargets bounds the targets served (default 100,000); a new target beyond it is
	// refused rather than growing without bound.
	MaxTargets int
}

// Scaler is DWCP's autoscaling Predictor over the scaling model: Predict hands
// MetricsData's CPU demand to the online store (entity vm TargetID, schema metric, MHz)
// and forecasts once the store's window of the target is full. Safe for concurrent use.
type Scaler struct {
	eng       ScalingEngine
	cfg       ScalerConfig
	model     engine.ModelInfo
	alpha     float64
	horizon   int // minutes
	recentLen int // samples of the recent peak: the model's horizon_steps

	mu      sync.Mutex
	targets map[string]bool
}

// NewScaler reads the scaling model's window, horizon and alpha from eng.
func NewScaler(ctx context.Context, eng ScalingEngine, cfg ScalerConfig) (*Scaler, error) {
	const op = "new scaler"
	if cfg.TrendDeadband == 0 {
		cfg.TrendDeadband = DefaultTrendDeadband
	}
	if cfg.MaxTargets == 0 {
		cfg.MaxTargets = 100_000
	}
	switch {
	case !(cfg.TrendDeadband > 0 && cfg.TrendDeadband < 1):
		return nil, inputErr(op, "ScalerConfig.TrendDeadband", cfg.TrendDeadband, ErrBadConfig)
	case cfg.MaxTargets < 0:
		return nil, inputErr(op, "ScalerConfig.MaxTargets", cfg.MaxTargets, ErrBadConfig)
	case !finite(cfg.DefaultCapacityMHz) || cfg.DefaultCapacityMHz < 0:
		return nil, inputErr(op, "ScalerConfig.DefaultCapacityMHz", cfg.DefaultCapacityMHz, ErrBadConfig)
	}
	for id, c := range cfg.CapacityMHz {
		if !finite(c) || c <= 0 {
			return nil, inputErr(op, "ScalerConfig.CapacityMHz["+id+"]", c, ErrBadConfig)
		}
	}
	m, err := modelOf(ctx, eng, op, FamilyScaling)
	if err != nil {
		return nil, err
	}
	alpha, err := threshold(op, m, "alpha")
	if err != nil {
		return nil, err
	}
	steps, err := threshold(op, m, "horizon_steps")
	if err != nil {
		return nil, err
	}
	if steps < 1 || steps > float64(m.WindowSamples) || steps != float64(int(steps)) {
		return nil, fmt.Errorf("dwcp: %s: model %s: horizon_steps %v: %w", op, m.Name, steps, ErrNoModel)
	}
	return &Scaler{eng: eng, cfg: cfg, model: m, alpha: alpha, recentLen: int(steps),
		horizon: int(steps) * int(m.StepSeconds) / 60, targets: map[string]bool{}}, nil
}

// HorizonMinutes is the one horizon the model forecasts.
func (s *Scaler) HorizonMinutes() int { return s.horizon }

// Window is the number of grid samples a target needs before Predict answers.
func (s *Scaler) Window() int { return s.model.WindowSamples }

// Forget drops targets that are gone: from the ones served (a new target beyond
// MaxTargets is refused until some are forgotten) and their samples from the store, so a
// target that comes back starts a new history.
func (s *Scaler) Forget(targetIDs ...string) error {
	s.mu.Lock()
	refs := make([]engine.EntityRef, len(targetIDs))
	for i, id := range targetIDs {
		delete(s.targets, id)
		refs[i] = TargetEntity(id)
	}
	s.mu.Unlock()
	return forget(context.Background(), s.eng, "forget", refs...)
}

// capacity returns the target's capacity in MHz.
func (s *Scaler) capacity(id string) (float64, bool) {
	if c, ok := s.cfg.CapacityMHz[id]; ok {
		return c, true
	}
	return s.cfg.DefaultCapacityMHz, s.cfg.DefaultCapacityMHz > 0
}

// Predict hands current to the store and forecasts the target's CPU peak over
// the horizon. horizonMinutes must be the model's horizon (HorizonMinutes; 0 means it):
// the model forecasts one horizon and the adapter does not stretch it.
//
// Before the store's window of the target holds Window() bins it answers a
// *WarmingUpError (errors.Is ErrWarmingUp) saying how many it has: the sample is kept.
// A bad input is an *InputError and changes nothing: nil, zero Timestamp, empty TargetID,
// TargetType not vm / node / cluster, CPUUsage NaN, ±Inf or negative, MemoryUsage NaN or
// ±Inf, a target without a capacity, an unsupported horizon; so is a sample the store
// drops (older than any window reads: ErrTimeOrder).
func (s *Scaler) Predict(current *MetricsData, horizonMinutes int) (*ResourcePrediction, error) {
	return s.PredictContext(context.Background(), current, horizonMinutes)
}

// PredictContext is Predict with a context for the engine call.
func (s *Scaler) PredictContext(ctx context.Context, current *MetricsData, horizonMinutes int) (*ResourcePrediction, error) {
	const op = "predict"
	if current == nil {
		return nil, inputErr(op, "MetricsData", nil, ErrNil)
	}
	if current.Timestamp.IsZero() {
		return nil, inputErr(op, "MetricsData.Timestamp", nil, ErrNoTimestamp)
	}
	if current.TargetID == "" {
		return nil, inputErr(op, "MetricsData.TargetID", nil, ErrEmptyID)
	}
	switch current.TargetType {
	case TargetVM, TargetNode, TargetCluster:
	default:
		return nil, inputErr(op, "MetricsData.TargetType", fmt.Sprintf("%q", current.TargetType), ErrUnknownTarget)
	}
	if err := checkValue(op, "MetricsData.CPUUsage", current.CPUUsage); err != nil {
		return nil, err
	}
	if !finite(current.MemoryUsage) {
		return nil, inputErr(op, "MetricsData.MemoryUsage", current.MemoryUsage, ErrNotFinite)
	}
	if horizonMinutes != 0 && horizonMinutes != s.horizon {
		return nil, inputErr(op, "horizonMinutes", horizonMinutes,
			fmt.Errorf("%w (the model forecasts %d minutes)", ErrHorizon, s.horizon))
	}
	capMHz, ok := s.capacity(current.TargetID)
	if !ok {
		return nil, inputErr(op, "MetricsData.TargetID", current.TargetID, ErrNoCapacity)
	}
	demand := current.CPUUsage * capMHz

	s.mu.Lock()
	if !s.targets[current.TargetID] && len(s.targets) >= s.cfg.MaxTargets {
		s.mu.Unlock()
		return nil, inputErr(op, "MetricsData.TargetID", current.TargetID,
			fmt.Errorf("%w: %d targets served already (ScalerConfig.MaxTargets)", ErrBadConfig, len(s.targets)))
	}
	s.targets[current.TargetID] = true
	s.mu.Unlock()
	ref := TargetEntity(current.TargetID)
	ws, err := observeWindows(ctx, s.eng, op, "MetricsData", current.Timestamp, schemaMetric, []engine.EntityRef{ref},
		[][]float64{{demand}}, FamilyScaling, current.TargetID)
	if err != nil {
		return nil, err
	}
	w := ws[0]
	if !w.Ready() {
		return nil, &WarmingUpError{Op: op, Entity: current.TargetID, Have: w.Have, Need: w.Need}
	}
	vals := w.Series.Values
	series := w.Series
	series.Entity = current.TargetID
	rec, err := s.eng.RecommendCapacity(ctx, series)
	if err != nil {
		return nil, engineErr(op, err)
	}
	recent := vals[len(vals)-1]
	for _, v := range vals[len(vals)-s.recentLen:] {
		recent = max(recent, v)
	}
	return &ResourcePrediction{
		TargetID: current.TargetID, PredictionTime: w.End, HorizonMinutes: s.horizon,
		PredictedCPU: rec.PredictedPeakMHz / capMHz, PredictedMemory: current.MemoryUsage,
		PredictedLoad: rec.CapacityMHz / capMHz, Confidence: s.alpha,
		TrendDirection: Trend(rec.PredictedPeakMHz, recent, s.cfg.TrendDeadband),
		Metadata: map[string]any{"capacity_mhz": capMHz, "predicted_peak_mhz": rec.PredictedPeakMHz,
			"recent_peak_mhz": recent, "recommended_capacity_mhz": rec.CapacityMHz, "units": rec.Units,
			"model": modelType(rec.Model)},
		CapacityMHz: capMHz, Recommendation: rec,
	}, nil
}

// TargetEntity is the store's entity of a scaling target: kind vm, id TargetID, schema
// metric (its CPU demand in MHz).
func TargetEntity(targetID string) engine.EntityRef {
	return engine.EntityRef{Kind: engine.EntityVM, ID: targetID}
}

// Trend compares the forecast peak with the recent peak (the largest demand of the
// newest horizon_steps samples: the same statistic over the past horizon, so a flat
// series is not called increasing just because a peak exceeds a single value):
//
//	increasing  forecast > recent × (1 + deadband)
//	decreasing  forecast < recent × (1 - deadband)
//	stable      otherwise (also when both are 0)
//
// The forecast is an upper quantile, so with the default deadband 0.1 a steady series
// whose q0.9 lies within 10 % of its recent peak is stable.
func Trend(forecast, recent, deadband float64) TrendDirection {
	switch {
	case forecast > recent*(1+deadband):
		return TrendIncreasing
	case forecast < recent*(1-deadband):
		return TrendDecreasing
	}
	return TrendStable
}
