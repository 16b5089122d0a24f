package client

import (
	"context"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

var _ engine.Partitioner = (*Client)(nil)

// PartitionTask cuts a task over its streams on the sidecar (engine.Partitioner). A
// stream with no samples and a LinkEntity is answered from the sidecar's online store.
// Errors carry the engine's Code (the featurecore cause stays on the sidecar's side).
func (c *Client) PartitionTask(ctx context.Context, req engine.PartitionRequest) (engine.TaskPartition, error) {
	const op = "partition task"
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	in := &pb.PartitionTaskRequest{TaskId: req.Task.ID, SizeBytes: req.Task.SizeBytes, Priority: int32(req.Task.Priority),
		RequiresFec: req.Task.RequiresFEC, MinBandwidthMbps: req.Task.MinBandwidthMbps,
		Forecast: req.Forecast.String(), FecOverhead: req.FECOverhead, Streams: make([]*pb.PartitionStream, len(req.Streams))}
	if !req.Task.Deadline.IsZero() {
		in.DeadlineUnix = req.Task.Deadline.Unix()
	}
	for i, s := range req.Streams {
		ps := &pb.PartitionStream{Id: s.ID, LinkEntity: s.LinkEntity}
		if len(s.Series.Timestamps) > 0 || len(s.Series.Values) > 0 {
			ps.Series = seriesToProto([]engine.Series{s.Series})[0]
		}
		in.Streams[i] = ps
	}
	resp, err := c.rpc.PartitionTask(ctx, in)
	if err != nil {
		return engine.TaskPartition{}, c.fail(ctx, err, op, "")
	}
	src, ok := engine.ParseForecastSource(resp.GetForecast())
	n := len(resp.GetStreamIds())
	if !ok || len(resp.GetChunkBytes()) != n || len(resp.GetForecastMbps()) != n {
		return engine.TaskPartition{}, engine.Errorf(engine.CodeInternal, op, "",
			"sidecar %s answered forecast %q, %d stream ids, %d chunks, %d forecasts",
			c.target, resp.GetForecast(), n, len(resp.GetChunkBytes()), len(resp.GetForecastMbps()))
	}
	out := engine.TaskPartition{TaskID: resp.GetTaskId(), StreamIDs: resp.GetStreamIds(), ChunkBytes: resp.GetChunkBytes(),
		ForecastMbps: resp.GetForecastMbps(), ExpectedSeconds: resp.GetExpectedSeconds(), Confidence: resp.GetConfidence(),
		Forecast: src}
	if m := resp.GetModel(); m != nil {
		out.Model = engine.ModelRef{Name: m.GetName(), Version: m.GetVersion(), Bundle: m.GetBundle()}
	}
	return out, nil
}

// ReportOutcome records on the sidecar how long one stream of a partitioned task took.
func (c *Client) ReportOutcome(ctx context.Context, taskID, streamID string, seconds float64) error {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	if _, err := c.rpc.ReportOutcome(ctx, &pb.ReportOutcomeRequest{TaskId: taskID, StreamId: streamID, Seconds: seconds}); err != nil {
		return c.fail(ctx, err, "report outcome", "")
	}
	return nil
}
