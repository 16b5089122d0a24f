package runtime

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

const opPartition = "partition task"

// partitionLogSize bounds the decisions ReportOutcome can join to (the oldest is dropped).
const partitionLogSize = 4096

var _ engine.Partitioner = (*Engine)(nil)

// PartitionTask cuts req.Task over req.Streams with featurecore.PartitionChunks (the C
// rule; no chunk arithmetic here) on each stream's forecast: its last bandwidth_mbps
// sample (ForecastLastValue) or the link model's point forecast (ForecastLinkModel, one
// ForecastLinkBatch over all streams). Streams must carry a Series: held link entities are
// resolved by the sidecar's online store. Errors are *engine.Error, CodeInvalidInput for
// every bad request (the featurecore error wrapped).
func (e *Engine) PartitionTask(ctx context.Context, req engine.PartitionRequest) (engine.TaskPartition, error) {
	var zero engine.TaskPartition
	if err := ctx.Err(); err != nil {
		return zero, engine.Errorf(engine.CodeCanceled, opPartition, "", "%w", err)
	}
	if err := checkPartitionRequest(req); err != nil {
		return zero, err
	}
	n := len(req.Streams)
	chans := featurecore.SchemaLink.NumChannels()
	forecast := make([]float64, n)
	var links []engine.LinkForecast
	switch req.Forecast {
	case engine.ForecastLastValue:
		for i, s := range req.Streams {
			forecast[i] = s.Series.Values[len(s.Series.Values)-chans]
		}
	case engine.ForecastLinkModel:
		series := make([]engine.Series, n)
		for i, s := range req.Streams {
			series[i] = s.Series
		}
		var err error
		if links, err = e.ForecastLinkBatch(ctx, series); err != nil {
			return zero, err
		}
		for i, f := range links {
			forecast[i] = f.PointMbps
		}
	}
	p := featurecore.DefaultPartitionParams()
	p.FECOverhead = req.FECOverhead
	part, err := featurecore.PartitionChunks(p, forecast, req.Task.MinBandwidthMbps, req.Task.SizeBytes, req.Task.RequiresFEC)
	if err != nil {
		return zero, partitionError(req, err)
	}
	out := engine.TaskPartition{TaskID: req.Task.ID, ExpectedSeconds: part.ExpectedSeconds, Forecast: req.Forecast}
	var num, den float64
	for i, used := range part.Used {
		if !used {
			continue
		}
		out.StreamIDs = append(out.StreamIDs, req.Streams[i].ID)
		out.ChunkBytes = append(out.ChunkBytes, part.Chunks[i])
		out.ForecastMbps = append(out.ForecastMbps, forecast[i])
		if links != nil {
			num += links[i].LowerMbps
			den += links[i].PointMbps
			out.Model = links[i].Model
		} else {
			lo, hi, bad := bandwidthRange(req.Streams[i].Series.Values, chans)
			if bad >= 0 {
				return zero, engine.Errorf(engine.CodeInvalidInput, opPartition, "",
					"task %q stream %q: bandwidth_mbps of sample %d is %g; it must be finite and >= 0",
					req.Task.ID, req.Streams[i].ID, bad, req.Streams[i].Series.Values[bad*chans])
			}
			num += hi - lo
			den += hi
		}
	}
	if links != nil {
		out.Confidence = clip01(num / den)
	} else {
		out.Confidence = clip01(1 - num/den)
	}
	e.partitions.record(out)
	return out, nil
}

// checkPartitionRequest refuses what the chunk rule cannot see: stream ids, the series'
// shapes, the forecast source. The rule checks the numbers (forecasts, size, minimum).
func checkPartitionRequest(req engine.PartitionRequest) error {
	bad := func(format string, args ...any) error {
		return engine.Errorf(engine.CodeInvalidInput, opPartition, "", format, args...)
	}
	if req.Task.ID == "" {
		return bad("the task has no id; ReportOutcome joins on it")
	}
	if req.Forecast != engine.ForecastLastValue && req.Forecast != engine.ForecastLinkModel {
		return bad("forecast source %s; use last_value or link_model", req.Forecast)
	}
	if len(req.Streams) == 0 {
		return bad("task %q has no streams", req.Task.ID)
	}
	if max := featurecore.PartitionMaxStreams; len(req.Streams) > max {
		return bad("task %q has %d streams; at most %d per call", req.Task.ID, len(req.Streams), max)
	}
	chans := featurecore.SchemaLink.NumChannels()
	seen := make(map[string]bool, len(req.Streams))
	for i, s := range req.Streams {
		switch {
		case s.ID == "":
			return bad("stream %d has no id", i)
		case seen[s.ID]:
			return bad("stream %q appears twice", s.ID)
		case len(s.Series.Timestamps) == 0 && s.LinkEntity != "":
			return bad("stream %q names held link %q; held links are answered by the sidecar's online store, "+
				"pass the link's samples in process", s.ID, s.LinkEntity)
		case len(s.Series.Timestamps) == 0:
			return bad("stream %q has no link samples", s.ID)
		case len(s.Series.Values) != len(s.Series.Timestamps)*chans:
			return bad("stream %q has %d values for %d timestamps; schema link has %d channels per sample",
				s.ID, len(s.Series.Values), len(s.Series.Timestamps), chans)
		}
		seen[s.ID] = true
	}
	return nil
}

// partitionError names the stream of a featurecore error (its Index) by id.
func partitionError(req engine.PartitionRequest, err error) error {
	var fe *featurecore.Error
	if errors.As(err, &fe) && fe.Index >= 0 && fe.Index < int64(len(req.Streams)) {
		return engine.Errorf(engine.CodeInvalidInput, opPartition, "", "task %q stream %q: %w", req.Task.ID, req.Streams[fe.Index].ID, err)
	}
	return engine.Errorf(engine.CodeInvalidInput, opPartition, "", "task %q: %w", req.Task.ID, err)
}

// bandwidthRange is the min and max of the bandwidth_mbps channel (Confidence's spread),
// and the first sample whose bandwidth is NaN, ±Inf or negative (else -1). The last
// sample, the forecast, was checked by the rule already.
func bandwidthRange(values []float64, chans int) (lo, hi float64, bad int) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for j := 0; j < len(values); j += chans {
		v := values[j]
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0, 0, j / chans
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi, -1
}

func clip01(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return math.Min(math.Max(x, 0), 1)
}

// ReportOutcome records the seconds one stream of a task this engine cut took (see
// engine.Partitioner); PartitionOutcome reads it back.
func (e *Engine) ReportOutcome(ctx context.Context, taskID, streamID string, seconds float64) error {
	const op = "report outcome"
	if err := ctx.Err(); err != nil {
		return engine.Errorf(engine.CodeCanceled, op, "", "%w", err)
	}
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) || seconds < 0 {
		return engine.Errorf(engine.CodeInvalidInput, op, "", "task %q stream %q: seconds %g; it must be finite and >= 0", taskID, streamID, seconds)
	}
	return e.partitions.report(op, taskID, streamID, seconds)
}

// PartitionOutcome is a task's decision and the seconds reported per stream so far.
type PartitionOutcome struct {
	Decision engine.TaskPartition
	Seconds  map[string]float64 // stream id -> reported seconds
}

// PartitionOutcome returns what ReportOutcome recorded for taskID (false when the engine
// holds no decision for it).
func (e *Engine) PartitionOutcome(taskID string) (PartitionOutcome, bool) {
	return e.partitions.get(taskID)
}

// partitionLog holds the last partitionLogSize decisions by task id.
type partitionLog struct {
	mu    sync.Mutex
	tasks map[string]*PartitionOutcome
	order []string // ring of task ids, oldest at next
	next  int
}

func (l *partitionLog) record(d engine.TaskPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tasks == nil {
		l.tasks = make(map[string]*PartitionOutcome)
	}
	if _, ok := l.tasks[d.TaskID]; !ok {
		if len(l.order) < partitionLogSize {
			l.order = append(l.order, d.TaskID)
		} else {
			delete(l.tasks, l.order[l.next])
			l.order[l.next] = d.TaskID
			l.next = (l.next + 1) % partitionLogSize
		}
	}
	d.StreamIDs = slices.Clone(d.StreamIDs)
	l.tasks[d.TaskID] = &PartitionOutcome{Decision: d, Seconds: map[string]float64{}}
}

func (l *partitionLog) report(op, taskID, streamID string, seconds float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tasks[taskID]
	if !ok {
		return engine.Errorf(engine.CodeNotFound, op, "", "no partition of task %q is held (the engine keeps the last %d)", taskID, partitionLogSize)
	}
	for _, id := range t.Decision.StreamIDs {
		if id == streamID {
			t.Seconds[streamID] = seconds
			return nil
		}
	}
	return engine.Errorf(engine.CodeNotFound, op, "", "task %q was not given stream %q", taskID, streamID)
}

func (l *partitionLog) get(taskID string) (PartitionOutcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tasks[taskID]
	if !ok {
		return PartitionOutcome{}, false
	}
	secs := make(map[string]float64, len(t.Seconds))
	for k, v := range t.Seconds {
		secs[k] = v
	}
	return PartitionOutcome{Decision: t.Decision, Seconds: secs}, true
}
