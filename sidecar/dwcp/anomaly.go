package dwcp

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// AnomalyEngine is what the Detector calls: the online store its samples go to and
// engine.Engine's anomaly scorer. *store.Online and *client.Client implement it.
type AnomalyEngine interface {
	OnlineStore
	AnomalyScoreBatch(ctx context.Context, s []engine.Series) ([]engine.AnomalyResult, error)
}

// SeverityLevel is DWCP's severity of an anomaly.
type SeverityLevel int

// The severities, in DWCP's order.
const (
	SeverityInfo SeverityLevel = iota
	SeverityWarning
	SeverityCritical
)

func (s SeverityLevel) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "unknown"
}

// MetricVector is DWCP's point in time of one monitored entity (a node or a link), in
// DWCP's units. Every metric goes to the anomaly model unchanged: the breakout detector
// measures how far the newest value leaves the range of the previous two days in units of
// that range, so it needs no unit conversion.
type MetricVector struct {
	Timestamp   time.Time
	Bandwidth   float64 // Mbps
	Latency     float64 // ms
	PacketLoss  float64 // percentage
	Jitter      float64 // ms
	CPUUsage    float64 // percentage
	MemoryUsage float64 // percentage
	ErrorRate   float64 // percentage
}

// MetricNames are DWCP's metric names (Anomaly.MetricName), in ToSlice order.
var MetricNames = [7]string{"bandwidth", "latency", "packet_loss", "jitter", "cpu_usage", "memory_usage", "error_rate"}

// ToSlice returns the metrics in MetricNames order, as DWCP's ToSlice does.
func (mv *MetricVector) ToSlice() []float64 {
	return []float64{mv.Bandwidth, mv.Latency, mv.PacketLoss, mv.Jitter, mv.CPUUsage, mv.MemoryUsage, mv.ErrorRate}
}

// Anomaly is DWCP's detected anomaly.
type Anomaly struct {
	Timestamp   time.Time     // the MetricVector's Timestamp
	MetricName  string        // one of MetricNames: the metric with the highest score
	Value       float64       // its newest value (the MetricVector's)
	Expected    float64       // the nearest end of the range [min, max] of its previous StatWindow samples
	Deviation   float64       // |Value - Expected|: how far it left that range, in its unit
	Severity    SeverityLevel // from the score vs the bundle's threshold: see AnomalySeverity
	Confidence  float64       // see AnomalyConfidence
	ModelType   string        // "dwcp-ml/anomaly@2 (bundle default-1)": model, version, bundle
	Description string
	// Score and Threshold are the model's (engine.AnomalyResult): Score >= Threshold flags.
	Score, Threshold float64
	Model            engine.ModelRef
}

// DetectorConfig configures a Detector; the zero value is the default.
type DetectorConfig struct {
	// Entity names the monitored node or link. The sidecar routes on it (canary or
	// champion, sticky per entity): all seven series of a Detect carry it, so they go to
	// one slot, one model version, in one batch. "" = the champion, no routing.
	Entity string
}

// Detector is DWCP's anomaly Detector over the anomaly model, for one monitored entity:
// Detect hands each MetricVector to the online store (one entity per metric, schema
// metric: see MetricEntity) and, once the store's windows of all seven are full, scores
// them in one model call. Safe for concurrent use (calls are serialised: each depends on
// the last).
type Detector struct {
	eng      AnomalyEngine
	cfg      DetectorConfig
	entities [7]engine.EntityRef

	mu        sync.Mutex
	model     engine.ModelInfo
	threshold float64
	have      int // the windows' bins held at the last Detect (the least of the seven)
}

// detectorIDs numbers the Detectors without an Entity, so their metrics stay apart in
// one store.
var detectorIDs atomic.Int64

// MetricEntity is the store's entity of one metric of a monitored entity: kind vm, id
// entity + "/" + the metric's name (MetricNames), schema metric.
func MetricEntity(entity, metric string) engine.EntityRef {
	return engine.EntityRef{Kind: engine.EntityVM, ID: entity + "/" + metric}
}

// NewDetector reads the anomaly model's window and threshold from eng.
func NewDetector(ctx context.Context, eng AnomalyEngine, cfg DetectorConfig) (*Detector, error) {
	const op = "new detector"
	m, err := modelOf(ctx, eng, op, FamilyAnomaly)
	if err != nil {
		return nil, err
	}
	th, err := threshold(op, m, "score")
	if err != nil {
		return nil, err
	}
	if !(th > -0.5 && th < 0.5) {
		return nil, fmt.Errorf("dwcp: %s: model %s: threshold score %v outside (-0.5, 0.5): %w", op, m.Name, th, ErrNoModel)
	}
	d := &Detector{eng: eng, cfg: cfg, model: m, threshold: th}
	name := cfg.Entity
	if name == "" {
		// Unrouted: a name of this process's own, so two such Detectors do not share samples.
		name = fmt.Sprintf("dwcp-detector-%d-%d", os.Getpid(), detectorIDs.Add(1))
	}
	for i, metric := range MetricNames {
		d.entities[i] = MetricEntity(name, metric)
	}
	return d, nil
}

// Name is the detector's name in DWCP's Detector interface.
func (d *Detector) Name() string { return "dwcp-ml/" + d.model.Name }

// Window is the number of samples on the grid (one per StepSeconds) Detect needs before it
// scores: the model's WindowSamples (577 = two days and 5 minutes for the default bundle).
func (d *Detector) Window() int { return d.model.WindowSamples }

// Pending is the number of grid samples still needed before Detect scores (0 = ready),
// as the store counted them at the last Detect.
func (d *Detector) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.model.WindowSamples - d.have
}

// Detect adds v to the histories and scores the newest window of every metric once the
// window is full.
//
// It answers (nil, nil) while the store's windows hold fewer than Window() bins (warming
// up: see Pending) and when no metric is flagged (every score below the bundle's
// threshold), as DWCP's detectors answer nil for "no anomaly" and for "not enough data".
// A flagged window answers the Anomaly of the metric with the highest score (ties: the
// first in MetricNames order). A bad v (nil, zero Timestamp, NaN, ±Inf or a negative
// metric) is an *InputError and changes nothing; so is one the store drops (older than
// any window reads: ErrTimeOrder).
func (d *Detector) Detect(ctx context.Context, v *MetricVector) (*Anomaly, error) {
	const op = "detect"
	if v == nil {
		return nil, inputErr(op, "MetricVector", nil, ErrNil)
	}
	if v.Timestamp.IsZero() {
		return nil, inputErr(op, "MetricVector.Timestamp", nil, ErrNoTimestamp)
	}
	vals := v.ToSlice()
	for i, x := range vals {
		if err := checkValue(op, "MetricVector."+fieldNames[i], x); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rows := make([][]float64, len(vals))
	for i := range vals {
		rows[i] = vals[i : i+1]
	}
	ws, err := observeWindows(ctx, d.eng, op, "MetricVector", v.Timestamp, schemaMetric, d.entities[:], rows, FamilyAnomaly, d.cfg.Entity)
	if err != nil {
		return nil, err
	}
	d.have = d.model.WindowSamples
	for _, w := range ws {
		d.have = min(d.have, w.Have)
	}
	if d.have < d.model.WindowSamples {
		return nil, nil
	}
	series := make([]engine.Series, len(MetricNames))
	for i, w := range ws {
		series[i] = w.Series
		series[i].Entity = d.cfg.Entity
	}
	res, err := d.eng.AnomalyScoreBatch(ctx, series)
	if err != nil {
		return nil, engineErr(op, err)
	}
	if len(res) != len(series) {
		return nil, fmt.Errorf("dwcp: %s: %d answers for %d series: %w", op, len(res), len(series), engine.ErrInternal)
	}
	best := 0
	for i := range res {
		if res[i].Score > res[best].Score {
			best = i
		}
	}
	r := res[best]
	if !r.Anomalous {
		return nil, nil
	}
	window := series[best].Values
	expected := expectedValue(window)
	value := vals[best]
	dev := value - expected
	if dev < 0 {
		dev = -dev
	}
	sev := AnomalySeverity(r.Score, r.Threshold)
	return &Anomaly{
		Timestamp: v.Timestamp, MetricName: MetricNames[best], Value: value, Expected: expected,
		Deviation: dev, Severity: sev, Confidence: AnomalyConfidence(r.Score, r.Threshold),
		ModelType: modelType(r.Model), Score: r.Score, Threshold: r.Threshold, Model: r.Model,
		Description: fmt.Sprintf("%s %g left the range of its previous %d samples by %g (score %.4f >= threshold %.4f, %s)",
			MetricNames[best], value, len(window)-1, dev, r.Score, r.Threshold, sev),
	}, nil
}

var fieldNames = [7]string{"Bandwidth", "Latency", "PacketLoss", "Jitter", "CPUUsage", "MemoryUsage", "ErrorRate"}

// expectedValue is the nearest end of the range [min, max] of the samples before the
// newest one (the breakout detector's reference range): the newest value itself when it
// lies inside. Only comparisons: the bits are the samples'.
func expectedValue(window []float64) float64 {
	n := len(window)
	lo, hi := window[0], window[0]
	for _, x := range window[:n-1] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return min(max(window[n-1], lo), hi)
}

// AnomalySeverity maps a flagged score to DWCP's severity by thirds of the flagged range
// [threshold, 0.5) of the score:
//
//	Info      threshold <= score < threshold + (0.5 - threshold) / 3
//	Warning   below threshold + 2 (0.5 - threshold) / 3
//	Critical  above
//
// With the default bundle's threshold -0.2799 the bands start at -0.2799, -0.0199 and
// 0.2401, i.e. the newest value beyond the previous range by 0.28, 0.92 and 2.85 times
// its width (score = 0.5 - 1 / (1 + z)).
func AnomalySeverity(score, threshold float64) SeverityLevel {
	third := (0.5 - threshold) / 3
	switch {
	case score >= threshold+2*third:
		return SeverityCritical
	case score >= threshold+third:
		return SeverityWarning
	}
	return SeverityInfo
}

// AnomalyConfidence of a flagged score: 0.5 at the threshold (the flag is as likely wrong as
// right there) rising linearly to 1 at the score's bound 0.5:
//
//	Confidence = 0.5 + 0.5 (score - threshold) / (0.5 - threshold), clamped to [0, 1]
//
// Below the threshold (not flagged) it goes below 0.5, to 0 at threshold - (0.5 - threshold).
func AnomalyConfidence(score, threshold float64) float64 {
	c := 0.5 + 0.5*(score-threshold)/(0.5-threshold)
	return min(max(c, 0), 1)
}
