package server

import (
	"context"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// PartitionTask serves engine.Partitioner.PartitionTask on the slot the task id routes to
// (sticky per task, so ReportOutcome finds the decision). A stream that names a held link
// instead of carrying samples gets the series that slot's link model reads from the
// online store (its last bin is the last_value forecast).
func (h service) PartitionTask(ctx context.Context, req *pb.PartitionTaskRequest) (*pb.PartitionTaskResponse, error) {
	const op = "partition task"
	st, err := h.acquire()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	defer st.mu.RUnlock()
	slot := st.route(req.GetTaskId())
	a := st.get(slot)
	p, ok := a.eng.(engine.Partitioner)
	if !ok {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeUnavailable, op, "", "the %s engine cannot partition tasks", slot))
	}
	in, err := PartitionRequestFromProto(req)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	if len(in.Streams) > h.maxBatch {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeTooLarge, op, "", "%d streams; at most %d per call", len(in.Streams), h.maxBatch))
	}
	for i := range in.Streams {
		s := &in.Streams[i]
		if len(s.Series.Timestamps) > 0 || s.LinkEntity == "" {
			continue
		}
		src, ok := a.source()
		if !ok {
			return nil, wire.Status(ctx, engine.Errorf(engine.CodeUnavailable, op, "", "the %s engine cannot answer from the online store", slot))
		}
		if s.Series, err = store.SeriesFor(ctx, h.store, src, "link", engine.EntityRef{Kind: engine.EntityLink, ID: s.LinkEntity}); err != nil {
			return nil, wire.Status(ctx, err)
		}
	}
	start := time.Now()
	out, err := p.PartitionTask(withSlot(ctx, slot), in)
	h.recordPart(ctx, slot, a, time.Since(start), err)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	resp := PartitionToProto(out)
	if resp.Model != nil {
		resp.Model.Slot = string(slot)
	}
	return resp, nil
}

// ReportOutcome serves engine.Partitioner.ReportOutcome on the slot the task id routes to.
func (h service) ReportOutcome(ctx context.Context, req *pb.ReportOutcomeRequest) (*pb.ReportOutcomeResponse, error) {
	const op = "report outcome"
	st, err := h.acquire()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	defer st.mu.RUnlock()
	slot := st.route(req.GetTaskId())
	p, ok := st.get(slot).eng.(engine.Partitioner)
	if !ok {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeUnavailable, op, "", "the %s engine cannot partition tasks", slot))
	}
	if err := p.ReportOutcome(ctx, req.GetTaskId(), req.GetStreamId(), req.GetSeconds()); err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.ReportOutcomeResponse{}, nil
}

// PartitionRequestFromProto reads a PartitionTaskRequest; an unknown forecast source is
// CodeInvalidInput. Series share the request's slices.
func PartitionRequestFromProto(req *pb.PartitionTaskRequest) (engine.PartitionRequest, error) {
	src, ok := engine.ParseForecastSource(req.GetForecast())
	if !ok {
		return engine.PartitionRequest{}, engine.Errorf(engine.CodeInvalidInput, "partition task", "",
			"forecast source %q; use last_value or link_model", req.GetForecast())
	}
	out := engine.PartitionRequest{Forecast: src, FECOverhead: req.GetFecOverhead(),
		Task: engine.Task{ID: req.GetTaskId(), SizeBytes: req.GetSizeBytes(), Priority: int(req.GetPriority()),
			RequiresFEC: req.GetRequiresFec(), MinBandwidthMbps: req.GetMinBandwidthMbps()},
		Streams: make([]engine.StreamState, len(req.GetStreams()))}
	if d := req.GetDeadlineUnix(); d != 0 {
		out.Task.Deadline = time.Unix(d, 0).UTC()
	}
	for i, s := range req.GetStreams() {
		out.Streams[i] = engine.StreamState{ID: s.GetId(), LinkEntity: s.GetLinkEntity()}
		if ps := s.GetSeries(); ps != nil {
			out.Streams[i].Series = engine.Series{Timestamps: ps.GetTimestamps(), Values: ps.GetValues(), Entity: ps.GetEntity()}
		}
	}
	return out, nil
}

// PartitionToProto is the wire form of a TaskPartition (the model's slot left to the caller).
func PartitionToProto(p engine.TaskPartition) *pb.PartitionTaskResponse {
	out := &pb.PartitionTaskResponse{TaskId: p.TaskID, StreamIds: p.StreamIDs, ChunkBytes: p.ChunkBytes,
		ForecastMbps: p.ForecastMbps, ExpectedSeconds: p.ExpectedSeconds, Confidence: p.Confidence,
		Forecast: p.Forecast.String()}
	if p.Model != (engine.ModelRef{}) {
		out.Model = &pb.ModelRef{Name: p.Model.Name, Version: p.Model.Version, Bundle: p.Model.Bundle}
	}
	return out
}
