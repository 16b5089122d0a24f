package dwcp

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// PartitionEngine is what the Partitioner calls: the online store its samples go to and
// engine.Partitioner. *store.Online and *client.Client implement it.
type PartitionEngine interface {
	OnlineStore
	engine.Partitioner
}

// Task is DWCP's transfer task (Task{ID, Size, Priority, Deadline, RequiresFEC,
// MinBandwidth}).
type Task struct {
	ID           string
	Size         int64     // bytes, 1 .. 2^53
	Priority     int       // carried, not read: the chunk rule does not weigh tasks
	Deadline     time.Time // carried, not read: compare ExpectedTime with it
	RequiresFEC  bool      // the expected time counts PartitionerConfig.FECOverhead
	MinBandwidth float64   // Mbit/s: a stream forecast below it gets no bytes
}

// TaskPartitionDecision is DWCP's answer: the streams that carry bytes (in stream id
// order), their chunk sizes in bytes (summing to Task.Size), the common finish time if
// every forecast held, and the engine's Confidence (engine.TaskPartition: the link model's
// sum(lower) / sum(point) with ForecastLinkModel, 1 - the streams' relative bandwidth
// spread over the window with ForecastLastValue).
type TaskPartitionDecision struct {
	TaskID       string
	StreamIDs    []string
	ChunkSizes   []int64
	Confidence   float64
	ExpectedTime time.Duration
}

// PartitionerConfig: Forecast is the forecast source (engine.ForecastLastValue by default,
// what the evaluation in docs/partition.md supports; engine.ForecastLinkModel for the
// link model); FECOverhead the extra wire bytes per payload byte of a task that requires
// FEC (0 .. 8).
type PartitionerConfig struct {
	Forecast    engine.ForecastSource
	FECOverhead float64
}

// Partitioner cuts DWCP tasks over the streams it was given samples of: AddSample hands
// each stream's link measurements to the online store (entity link, id the stream's id,
// schema link, as BandwidthPredictor does), and PartitionTask sends the store's window of
// every stream to the engine's PartitionTask. Safe for concurrent use.
type Partitioner struct {
	eng   PartitionEngine
	cfg   PartitionerConfig
	model engine.ModelInfo

	mu      sync.Mutex
	streams map[string]bool
}

// NewPartitioner reads the link model's grid from the engine's bundle.
func NewPartitioner(ctx context.Context, eng PartitionEngine, cfg PartitionerConfig) (*Partitioner, error) {
	const op = "new partitioner"
	if cfg.Forecast != engine.ForecastLastValue && cfg.Forecast != engine.ForecastLinkModel ||
		!(cfg.FECOverhead >= 0 && cfg.FECOverhead <= 8) {
		return nil, inputErr(op, "PartitionerConfig", fmt.Sprintf("%+v", cfg), ErrBadConfig)
	}
	m, err := modelOf(ctx, eng, op, FamilyLink)
	if err != nil {
		return nil, err
	}
	return &Partitioner{eng: eng, cfg: cfg, model: m, streams: map[string]bool{}}, nil
}

// Window is the number of grid samples a link_model forecast needs per stream.
func (p *Partitioner) Window() int { return p.model.WindowSamples }

// AddSample hands s to the store as a sample of stream id (a stream of the Partitioner
// from its first sample). A bad sample (see BandwidthPredictor.AddSample) changes nothing.
func (p *Partitioner) AddSample(id string, s NetworkSample) error {
	return p.AddSampleContext(context.Background(), id, s)
}

// AddSampleContext is AddSample with a context for the store call.
func (p *Partitioner) AddSampleContext(ctx context.Context, id string, s NetworkSample) error {
	const op = "add sample"
	if id == "" {
		return inputErr(op, "stream", nil, ErrEmptyID)
	}
	_, v, err := checkSample(op, "sample", s)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := observe(ctx, p.eng, op, "sample", s.Timestamp, schemaLink, []engine.EntityRef{linkRef(id)}, v); err != nil {
		return err
	}
	p.streams[id] = true
	return nil
}

// RemoveStream drops a stream (a path DWCP closed) from the ones tasks are cut over and
// its samples from the store.
func (p *Partitioner) RemoveStream(id string) error {
	p.mu.Lock()
	delete(p.streams, id)
	p.mu.Unlock()
	return forget(context.Background(), p.eng, "remove stream", linkRef(id))
}

// PartitionTask cuts task over every stream held, in stream id order. With the link
// model every stream needs a full window (else *WarmingUpError); the last value needs one
// sample. A bad task is an *InputError; the engine's refusals (no stream at or above
// MinBandwidth, a size above 2^53) come wrapped (engine.CodeInvalidInput).
func (p *Partitioner) PartitionTask(ctx context.Context, task *Task) (*TaskPartitionDecision, error) {
	const op = "partition task"
	switch {
	case task == nil:
		return nil, inputErr(op, "task", nil, ErrNil)
	case task.ID == "":
		return nil, inputErr(op, "Task.ID", nil, ErrEmptyID)
	case task.Size < 0:
		return nil, inputErr(op, "Task.Size", task.Size, ErrNegative)
	}
	if err := checkValue(op, "Task.MinBandwidth", task.MinBandwidth); err != nil {
		return nil, err
	}
	req := engine.PartitionRequest{Forecast: p.cfg.Forecast, FECOverhead: p.cfg.FECOverhead,
		Task: engine.Task{ID: task.ID, SizeBytes: uint64(task.Size), Priority: task.Priority, Deadline: task.Deadline,
			RequiresFEC: task.RequiresFEC, MinBandwidthMbps: task.MinBandwidth}}
	p.mu.Lock()
	ids := make([]string, 0, len(p.streams))
	for id := range p.streams {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	if len(ids) == 0 {
		return nil, inputErr(op, "streams", nil, ErrEmptyHistory)
	}
	slices.Sort(ids)
	refs := make([]engine.EntityRef, len(ids))
	for i, id := range ids {
		refs[i] = linkRef(id)
	}
	ws, err := windows(ctx, p.eng, op, FamilyLink, "", true, refs...)
	if err != nil {
		return nil, err
	}
	for i, w := range ws {
		if w.Have == 0 || p.cfg.Forecast == engine.ForecastLinkModel && !w.Ready() {
			return nil, &WarmingUpError{Op: op, Entity: ids[i], Have: w.Have, Need: w.Need}
		}
		req.Streams = append(req.Streams, engine.StreamState{ID: ids[i], Series: w.Series})
	}
	d, err := p.eng.PartitionTask(ctx, req)
	if err != nil {
		return nil, engineErr(op, err)
	}
	out := &TaskPartitionDecision{TaskID: d.TaskID, StreamIDs: d.StreamIDs, ChunkSizes: make([]int64, len(d.ChunkBytes)),
		Confidence: d.Confidence, ExpectedTime: time.Duration(math.MaxInt64)}
	if ns := math.Round(d.ExpectedSeconds * float64(time.Second)); ns < math.MaxInt64 {
		out.ExpectedTime = time.Duration(ns) // else beyond 292 years: the largest Duration
	}
	for i, c := range d.ChunkBytes {
		out.ChunkSizes[i] = int64(c) // <= Size
	}
	return out, nil
}

// ReportOutcome tells the engine how long a stream of a task took (it records it; see
// engine.Partitioner).
func (p *Partitioner) ReportOutcome(ctx context.Context, taskID, streamID string, took time.Duration) error {
	const op = "report outcome"
	if took < 0 {
		return inputErr(op, "took", took, ErrNegative)
	}
	if err := p.eng.ReportOutcome(ctx, taskID, streamID, took.Seconds()); err != nil {
		return engineErr(op, err)
	}
	return nil
}
