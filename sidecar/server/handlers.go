package server

import (
	"context"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// service is the Engine gRPC service; a type of its own because its Reload RPC and the
// Server's Reload method share the name.
type service struct {
	pb.UnimplementedEngineServer
	*Server
}

// Predict runs engine.Predict for one row and engine.PredictBatch for more.
func (h service) Predict(ctx context.Context, req *pb.PredictRequest) (*pb.PredictResponse, error) {
	const op = "predict"
	a, err := h.attached()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	model, rows, features := req.GetModel(), int(req.GetRows()), req.GetFeatures()
	switch {
	case model == "":
		err = engine.Errorf(engine.CodeInvalidInput, op, "", "no model named; the bundle's models are listed by Versions")
	case rows <= 0:
		err = engine.Errorf(engine.CodeInvalidInput, op, model, "rows is %d; it must be at least 1", rows)
	case rows > h.maxBatch:
		err = engine.Errorf(engine.CodeTooLarge, op, model, "%d rows; at most %d per call, split the batch", rows, h.maxBatch)
	case len(features)%rows != 0:
		err = engine.Errorf(engine.CodeInvalidInput, op, model, "%d features do not split into %d rows of equal length",
			len(features), rows)
	}
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	var out []float64
	if rows == 1 {
		out, err = a.eng.Predict(ctx, model, req.GetVersion(), features)
	} else {
		out, err = a.eng.PredictBatch(ctx, model, req.GetVersion(), rows, features)
	}
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.PredictResponse{Outputs: out, OutputRowLen: int32(len(out) / rows)}, nil
}

func (h service) ForecastBandwidth(ctx context.Context, req *pb.ForecastBandwidthRequest) (*pb.ForecastBandwidthResponse, error) {
	a, err := h.attached()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	out, err := typed(ctx, h.maxBatch, "forecast bandwidth", req.GetSeries(), a.eng.ForecastBandwidth, a.eng.ForecastBandwidthBatch, wire.ForecastToProto)
	if err != nil {
		return nil, err
	}
	return &pb.ForecastBandwidthResponse{Forecasts: out}, nil
}

func (h service) AnomalyScore(ctx context.Context, req *pb.AnomalyScoreRequest) (*pb.AnomalyScoreResponse, error) {
	a, err := h.attached()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	out, err := typed(ctx, h.maxBatch, "anomaly score", req.GetSeries(), a.eng.AnomalyScore, a.eng.AnomalyScoreBatch, wire.AnomalyToProto)
	if err != nil {
		return nil, err
	}
	return &pb.AnomalyScoreResponse{Results: out}, nil
}

func (h service) RecommendCapacity(ctx context.Context, req *pb.RecommendCapacityRequest) (*pb.RecommendCapacityResponse, error) {
	a, err := h.attached()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	out, err := typed(ctx, h.maxBatch, "recommend capacity", req.GetSeries(), a.eng.RecommendCapacity, a.eng.RecommendCapacityBatch, wire.CapacityToProto)
	if err != nil {
		return nil, err
	}
	return &pb.RecommendCapacityResponse{Recommendations: out}, nil
}

// PlaceVM serves engine.PlaceVM for one request and engine.PlaceVMBatch for more, after
// checking the batch size and the resource vectors' lengths.
func (h service) PlaceVM(ctx context.Context, req *pb.PlaceVMRequest) (*pb.PlaceVMResponse, error) {
	const op = "place vm"
	a, err := h.attached()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	n := len(req.GetRequests())
	switch {
	case n == 0:
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInvalidInput, op, "", "no placement requests"))
	case n > h.maxBatch:
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeTooLarge, op, "",
			"%d requests; at most %d per call, split the batch", n, h.maxBatch))
	}
	in, err := wire.PlacementRequestsFromProto(req.GetRequests())
	if err != nil {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInvalidInput, op, "", "%s", err))
	}
	var out []engine.Placement
	if n == 1 {
		var p engine.Placement
		p, err = a.eng.PlaceVM(ctx, in[0])
		out = []engine.Placement{p}
	} else {
		out, err = a.eng.PlaceVMBatch(ctx, in)
	}
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	if len(out) != n {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInternal, op, "",
			"the engine answered %d of %d requests", len(out), n))
	}
	resp := &pb.PlaceVMResponse{Placements: make([]*pb.Placement, n)}
	for i, p := range out {
		resp.Placements[i] = wire.PlacementToProto(p)
	}
	return resp, nil
}

// typed serves a typed call: one series goes to the engine's single call, more to its
// batch call, so a client's single call is exactly the in-process one.
func typed[A, P any](ctx context.Context, maxBatch int, op string, series []*pb.Series,
	one func(context.Context, engine.Series) (A, error),
	batch func(context.Context, []engine.Series) ([]A, error),
	toProto func(A) P) ([]P, error) {
	if len(series) > maxBatch {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeTooLarge, op, "",
			"%d series; at most %d per call, split the batch", len(series), maxBatch))
	}
	in := wire.SeriesFromProto(series)
	var (
		answers []A
		err     error
	)
	if len(in) == 1 {
		var ans A
		ans, err = one(ctx, in[0])
		answers = []A{ans}
	} else {
		answers, err = batch(ctx, in)
	}
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	if len(answers) != len(in) {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInternal, op, "",
			"the engine answered %d of %d series", len(answers), len(in)))
	}
	out := make([]P, len(answers))
	for i, ans := range answers {
		out[i] = toProto(ans)
	}
	return out, nil
}

func (h service) Versions(ctx context.Context, _ *pb.VersionsRequest) (*pb.VersionsResponse, error) {
	a, err := h.attached()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	v, err := a.eng.Versions(ctx)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.VersionsResponse{Versions: wire.VersionsToProto(v)}, nil
}

// Reload serves an authorized caller (see authorize) and loads only "" (the configured
// bundle) or a directory under the bundle root.
func (h service) Reload(ctx context.Context, req *pb.ReloadRequest) (*pb.ReloadResponse, error) {
	dir, err := h.reloadDir(req.GetBundleDir())
	if err != nil {
		h.metrics.reloads.WithLabelValues("error").Inc()
		h.log.Warn("reload refused", "dir", req.GetBundleDir(), "err", err)
		return nil, wire.Status(ctx, err)
	}
	v, err := h.Server.Reload(ctx, dir)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.ReloadResponse{Versions: wire.VersionsToProto(v)}, nil
}
