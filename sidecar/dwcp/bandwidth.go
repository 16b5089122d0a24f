package dwcp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// LinkForecaster is what the BandwidthPredictor calls: the online store its samples go
// to (entity link NodeID->PeerID, schema link: bandwidth_mbps, latency_ms,
// packet_loss_ratio, jitter_ms) and engine.Engine's link forecast (family link,
// docs/link-model.md) on the window the store gives back. *store.Online and
// *client.Client implement it.
type LinkForecaster interface {
	OnlineStore
	ForecastLink(ctx context.Context, s engine.Series) (engine.LinkForecast, error)
}

// The link model's output columns, in order (docs/link-model.md): the means over the
// next horizon_seconds after the window's last bin. engine.LinkForecast carries them by
// name.
const (
	LinkLowerMbps = iota // bandwidth quantile quantile_lower (0.1), Mbit/s
	LinkPointMbps        // bandwidth quantile 0.5: the point forecast
	LinkUpperMbps        // bandwidth quantile quantile_upper (0.9)
	LinkLatencyMs        // median latency, ms
	LinkLossRatio        // median packet loss ratio, 0..1
	LinkJitterMs         // median jitter, ms
	LinkColumns          // 6
)

// NetworkSample is DWCP's measurement of one link (NodeID to PeerID).
type NetworkSample struct {
	Timestamp     time.Time
	BandwidthMbps float64 // channel bandwidth_mbps, unchanged
	LatencyMs     float64 // channel latency_ms, unchanged
	PacketLoss    float64 // ratio 0..1 (0.01 = 1 %, as DWCP's collector measures it): packet_loss_ratio
	JitterMs      float64 // channel jitter_ms, unchanged
	TimeOfDay     int     // ignored: the feature core computes the time features from Timestamp (UTC)
	DayOfWeek     int     // ignored, likewise
	NodeID        string  // the link is NodeID + "->" + PeerID
	PeerID        string
}

// BandwidthPrediction is DWCP's forecast of a link.
type BandwidthPrediction struct {
	PredictedBandwidthMbps float64 // LinkPointMbps
	PredictedLatencyMs     float64 // LinkLatencyMs
	PredictedPacketLoss    float64 // LinkLossRatio (a ratio, as NetworkSample.PacketLoss)
	PredictedJitterMs      float64 // LinkJitterMs
	// Confidence is how narrow the bandwidth interval is relative to its level:
	// 1 - (upper - lower) / (upper + lower), clamped to [0, 1] (1 when both are 0). An
	// interval of ±10 % around the point gives 0.9, one reaching down to 0 gives 0.
	Confidence     float64
	ValidUntil     time.Time // PredictionTime + horizon_seconds (15 minutes)
	ModelVersion   string    // "dwcp-ml/link@1 (bundle ...)"
	PredictionTime time.Time // the window's last grid bin (the newest sample's bin start), from the store

	LowerMbps, UpperMbps float64 // the interval: LinkLowerMbps, LinkUpperMbps
	IntervalLevel        float64 // its nominal coverage, quantile_upper - quantile_lower (0.8)
	Link                 string  // NodeID->PeerID
	Model                engine.ModelRef
}

// BandwidthConfig configures a BandwidthPredictor.
type BandwidthConfig struct {
	// MaxRecords bounds the predictions kept for UpdateActual (default 1000).
	MaxRecords int
}

// BandwidthAccuracy is what UpdateActual measured.
type BandwidthAccuracy struct {
	Joined  int     // actuals joined to a prediction
	MAEMbps float64 // mean |predicted - actual| bandwidth
	// MAPE is the mean |predicted - actual| / actual over the actuals above 0.
	MAPE float64
}

type predRecord struct {
	at, until time.Time
	mbps      float64
	joined    bool
}

// BandwidthPredictor is DWCP's bandwidth predictor (PBA) over the link model for one
// link: AddSample hands each sample to the online store (entity link NodeID->PeerID),
// PredictBandwidth forecasts from the window the store holds, Predict from a history
// given whole (resampled by the engine, not held). Safe for concurrent use.
type BandwidthPredictor struct {
	eng     LinkForecaster
	cfg     BandwidthConfig
	model   engine.ModelInfo
	level   float64
	horizon time.Duration

	mu      sync.Mutex
	link    string
	records []predRecord
	acc     BandwidthAccuracy
	relN    int
}

// NewBandwidthPredictor reads the link model's window, horizon and quantiles from eng.
func NewBandwidthPredictor(ctx context.Context, eng LinkForecaster, cfg BandwidthConfig) (*BandwidthPredictor, error) {
	const op = "new bandwidth predictor"
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 1000
	}
	if cfg.MaxRecords < 0 {
		return nil, inputErr(op, "BandwidthConfig", fmt.Sprintf("%+v", cfg), ErrBadConfig)
	}
	m, err := modelOf(ctx, eng, op, FamilyLink)
	if err != nil {
		return nil, err
	}
	var q [3]float64
	for i, name := range []string{"quantile_lower", "quantile_upper", "horizon_seconds"} {
		if q[i], err = threshold(op, m, name); err != nil {
			return nil, err
		}
	}
	if !(q[0] >= 0 && q[0] < q[1] && q[1] <= 1) || !(q[2] >= 1) {
		return nil, fmt.Errorf("dwcp: %s: model %s: quantiles %v, %v and horizon %v s: %w", op, m.Name, q[0], q[1], q[2], ErrNoModel)
	}
	return &BandwidthPredictor{eng: eng, cfg: cfg, model: m, level: q[1] - q[0],
		horizon: time.Duration(q[2] * float64(time.Second))}, nil
}

// Window is the number of grid samples a forecast needs (23 = about 2 hours for the
// contract's model).
func (p *BandwidthPredictor) Window() int { return p.model.WindowSamples }

// checkSample validates s and returns its link key and channel values.
func checkSample(op, field string, s NetworkSample) (string, []float64, error) {
	if s.Timestamp.IsZero() {
		return "", nil, inputErr(op, field+".Timestamp", nil, ErrNoTimestamp)
	}
	if s.NodeID == "" {
		return "", nil, inputErr(op, field+".NodeID", nil, ErrEmptyID)
	}
	v := []float64{s.BandwidthMbps, s.LatencyMs, s.PacketLoss, s.JitterMs}
	for i, name := range []string{"BandwidthMbps", "LatencyMs", "PacketLoss", "JitterMs"} {
		if err := checkValue(op, field+"."+name, v[i]); err != nil {
			return "", nil, err
		}
	}
	if s.PacketLoss > 1 {
		return "", nil, inputErr(op, field+".PacketLoss", s.PacketLoss, ErrRatio)
	}
	return s.NodeID + "->" + s.PeerID, v, nil
}

// AddSample hands s to the online store (AddSampleContext without a deadline of its
// own: the client's call timeout applies). The first sample fixes the link; a sample of
// another link is ErrMixedLinks. A bad sample (zero Timestamp, empty NodeID, NaN, ±Inf or
// negative values, PacketLoss above 1) changes nothing; one the store drops (older than
// any window reads, ErrTimeOrder) is an *InputError too.
func (p *BandwidthPredictor) AddSample(s NetworkSample) error {
	return p.AddSampleContext(context.Background(), s)
}

// AddSampleContext is AddSample with a context for the store call.
func (p *BandwidthPredictor) AddSampleContext(ctx context.Context, s NetworkSample) error {
	const op = "add sample"
	link, v, err := checkSample(op, "NetworkSample", s)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link != "" && link != p.link {
		return inputErr(op, "NetworkSample", link, fmt.Errorf("%w: this predictor serves %s", ErrMixedLinks, p.link))
	}
	if err := observe(ctx, p.eng, op, "NetworkSample", s.Timestamp, schemaLink, []engine.EntityRef{linkRef(link)}, v); err != nil {
		return err
	}
	p.link = link
	return nil
}

// linkRef is the store's entity of a link.
func linkRef(link string) engine.EntityRef {
	return engine.EntityRef{Kind: engine.EntityLink, ID: link}
}

// PredictBandwidth forecasts the link from the window the store holds of it. Before the
// window holds Window() bins it answers a *WarmingUpError with the store's count.
func (p *BandwidthPredictor) PredictBandwidth(ctx context.Context) (*BandwidthPrediction, error) {
	const op = "predict bandwidth"
	p.mu.Lock()
	link := p.link
	p.mu.Unlock()
	if link == "" {
		return nil, inputErr(op, "history", nil, ErrEmptyHistory)
	}
	ws, err := windows(ctx, p.eng, op, FamilyLink, link, true, linkRef(link))
	if err != nil {
		return nil, err
	}
	return p.forecast(ctx, op, link, ws[0])
}

// Predict forecasts from history alone (DWCP's Predict(history)): the samples, all of
// one link, go to the engine whole; its feature core resamples them as the store would
// hold them (any order), and the newest Window() bins are the window. Nothing is held:
// the AddSample history is untouched.
func (p *BandwidthPredictor) Predict(history []NetworkSample) (*BandwidthPrediction, error) {
	return p.PredictContext(context.Background(), history)
}

// PredictContext is Predict with a context for the engine calls.
func (p *BandwidthPredictor) PredictContext(ctx context.Context, history []NetworkSample) (*BandwidthPrediction, error) {
	const op = "predict"
	if len(history) == 0 {
		return nil, inputErr(op, "history", nil, ErrEmptyHistory)
	}
	var link string
	raw := engine.Samples{Schema: schemaLink, Timestamps: make([]int64, len(history)), Values: make([]float64, 0, 4*len(history))}
	for i, s := range history {
		field := "history[" + fmt.Sprint(i) + "]"
		l, v, err := checkSample(op, field, s)
		if err != nil {
			return nil, err
		}
		if i > 0 && l != link {
			return nil, inputErr(op, field, l, fmt.Errorf("%w: history[0] is %s", ErrMixedLinks, link))
		}
		link = l
		raw.Timestamps[i] = s.Timestamp.Unix()
		raw.Values = append(raw.Values, v...)
	}
	raw.Entity = linkRef(link)
	res, err := p.eng.Windows(ctx, engine.WindowRequest{Family: FamilyLink, Raw: []engine.Samples{raw}, Values: true, Route: link})
	if err != nil {
		return nil, engineErr(op, err)
	}
	ws, err := checkWindows(op, res.Windows, 1)
	if err != nil {
		return nil, err
	}
	return p.forecast(ctx, op, link, ws[0])
}

func (p *BandwidthPredictor) forecast(ctx context.Context, op, link string, w engine.Window) (*BandwidthPrediction, error) {
	if !w.Ready() {
		return nil, &WarmingUpError{Op: op, Entity: link, Have: w.Have, Need: w.Need}
	}
	s := w.Series
	s.Entity = link
	f, err := p.eng.ForecastLink(ctx, s)
	if err != nil {
		return nil, engineErr(op, err)
	}
	ref := f.Model
	out := []float64{f.LowerMbps, f.PointMbps, f.UpperMbps, f.LatencyMs, f.LossRatio, f.JitterMs}
	for i, x := range out {
		if !finite(x) || x < 0 || (i == LinkLossRatio && x > 1) {
			return nil, fmt.Errorf("dwcp: %s: the link model answered %v in column %d: %w", op, x, i, engine.ErrInternal)
		}
	}
	lo, pt, up := out[LinkLowerMbps], out[LinkPointMbps], out[LinkUpperMbps]
	if !(lo <= pt && pt <= up) {
		return nil, fmt.Errorf("dwcp: %s: the link model's quantiles cross (%v, %v, %v): %w", op, lo, pt, up, engine.ErrInternal)
	}
	last := w.End
	pr := &BandwidthPrediction{
		PredictedBandwidthMbps: pt, PredictedLatencyMs: out[LinkLatencyMs], PredictedPacketLoss: out[LinkLossRatio],
		PredictedJitterMs: out[LinkJitterMs], Confidence: IntervalConfidence(lo, up),
		ValidUntil: last.Add(p.horizon), ModelVersion: modelType(ref), PredictionTime: last,
		LowerMbps: lo, UpperMbps: up, IntervalLevel: p.level, Link: link, Model: ref,
	}
	p.mu.Lock()
	p.records = append(p.records, predRecord{at: pr.PredictionTime, until: pr.ValidUntil, mbps: pt})
	if extra := len(p.records) - p.cfg.MaxRecords; extra > 0 {
		p.records = append(p.records[:0], p.records[extra:]...)
	}
	p.mu.Unlock()
	return pr, nil
}

// IntervalConfidence is BandwidthPrediction.Confidence of the interval [lower, upper].
func IntervalConfidence(lower, upper float64) float64 {
	if lower+upper == 0 {
		return 1
	}
	return min(max(1-(upper-lower)/(upper+lower), 0), 1)
}

// UpdateActual joins the observed actual at ts to the newest prediction it falls in
// (PredictionTime < ts <= ValidUntil, not joined yet) and adds its error to Accuracy. It
// reports whether a prediction was joined; a bad actual is an *InputError.
func (p *BandwidthPredictor) UpdateActual(ts time.Time, actual NetworkSample) (bool, error) {
	const op = "update actual"
	if ts.IsZero() {
		return false, inputErr(op, "ts", nil, ErrNoTimestamp)
	}
	if err := checkValue(op, "NetworkSample.BandwidthMbps", actual.BandwidthMbps); err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.records) - 1; i >= 0; i-- {
		r := &p.records[i]
		if r.joined || !r.at.Before(ts) || ts.After(r.until) {
			continue
		}
		r.joined = true
		d := r.mbps - actual.BandwidthMbps
		if d < 0 {
			d = -d
		}
		n := float64(p.acc.Joined)
		p.acc.MAEMbps = (p.acc.MAEMbps*n + d) / (n + 1)
		p.acc.Joined++
		if actual.BandwidthMbps > 0 {
			m := float64(p.relN)
			p.acc.MAPE = (p.acc.MAPE*m + d/actual.BandwidthMbps) / (m + 1)
			p.relN++
		}
		return true, nil
	}
	return false, nil
}

// Accuracy is what UpdateActual measured so far.
func (p *BandwidthPredictor) Accuracy() BandwidthAccuracy {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acc
}
