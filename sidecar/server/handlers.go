package server

import (
	"context"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// service is the Engine gRPC service; a type of its own because its Reload RPC and the
// Server's Reload method share the name.
type service struct {
	pb.UnimplementedEngineServer
	*Server
}

// Predict runs engine.Predict for one row and engine.PredictBatch for more, on the slot
// the request's entity routes to (a version names its slot: the champion's first).
func (h service) Predict(ctx context.Context, req *pb.PredictRequest) (*pb.PredictResponse, error) {
	const op = "predict"
	st, err := h.acquire()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	defer st.mu.RUnlock()
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
	slot := st.route(req.GetEntity())
	if v := req.GetVersion(); v != "" && st.get(slot).models[model] != v {
		for _, other := range []rollout.Slot{rollout.Champion, rollout.Canary} {
			if a := st.get(other); a != nil && a.models[model] == v {
				slot = other
				break
			}
		}
	}
	a := st.get(slot)
	start := time.Now()
	var out []float64
	sctx := withSlot(ctx, slot)
	if rows == 1 {
		out, err = a.eng.Predict(sctx, model, req.GetVersion(), features)
	} else {
		out, err = a.eng.PredictBatch(sctx, model, req.GetVersion(), rows, features)
	}
	h.recordPart(ctx, slot, a, time.Since(start), err)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	if st.shadow != nil {
		h.shadowPredict(model, rows, features, out, slot)
	}
	return &pb.PredictResponse{Outputs: out, OutputRowLen: int32(len(out) / rows),
		Model: &pb.ModelRef{Name: model, Version: a.models[model], Bundle: a.v.Bundle, Slot: string(slot)}}, nil
}

func (h service) ForecastBandwidth(ctx context.Context, req *pb.ForecastBandwidthRequest) (*pb.ForecastBandwidthResponse, error) {
	out, err := typed(ctx, h.Server, "forecast bandwidth", req.GetSeries(), req.GetEntities(), bandwidthCall)
	if err != nil {
		return nil, err
	}
	return &pb.ForecastBandwidthResponse{Forecasts: out}, nil
}

func (h service) AnomalyScore(ctx context.Context, req *pb.AnomalyScoreRequest) (*pb.AnomalyScoreResponse, error) {
	out, err := typed(ctx, h.Server, "anomaly score", req.GetSeries(), req.GetEntities(), anomalyCall)
	if err != nil {
		return nil, err
	}
	return &pb.AnomalyScoreResponse{Results: out}, nil
}

func (h service) RecommendCapacity(ctx context.Context, req *pb.RecommendCapacityRequest) (*pb.RecommendCapacityResponse, error) {
	out, err := typed(ctx, h.Server, "recommend capacity", req.GetSeries(), req.GetEntities(), capacityCall)
	if err != nil {
		return nil, err
	}
	return &pb.RecommendCapacityResponse{Recommendations: out}, nil
}

func (h service) ForecastLink(ctx context.Context, req *pb.ForecastLinkRequest) (*pb.ForecastLinkResponse, error) {
	out, err := typed(ctx, h.Server, "forecast link", req.GetSeries(), req.GetEntities(), linkCall)
	if err != nil {
		return nil, err
	}
	return &pb.ForecastLinkResponse{Forecasts: out}, nil
}

// PlaceVM serves engine.PlaceVM for one request and engine.PlaceVMBatch for more, after
// checking the batch size and the resource vectors' lengths; the VM id routes a request.
func (h service) PlaceVM(ctx context.Context, req *pb.PlaceVMRequest) (*pb.PlaceVMResponse, error) {
	const op = "place vm"
	st, err := h.acquire()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	defer st.mu.RUnlock()
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
	var taken []*[]engine.HostState
	pooled := func() *[]engine.HostState {
		if st.shadow != nil {
			return nil // the shadow reads the request after this call
		}
		hp := hostSlices.Get().(*[]engine.HostState)
		taken = append(taken, hp)
		return hp
	}
	defer func() {
		for _, hp := range taken {
			hostSlices.Put(hp)
		}
	}()
	if err := h.heldHosts(ctx, st, req.GetRequests(), in, pooled); err != nil {
		return nil, wire.Status(ctx, err)
	}
	out, slots, err := dispatch(ctx, h.Server, st, in, func(i int) string { return in[i].VM.ID },
		engine.Engine.PlaceVM, engine.Engine.PlaceVMBatch)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	resp := &pb.PlaceVMResponse{Placements: make([]*pb.Placement, n), ReadsPackedHostIds: true}
	for i, p := range out {
		if req.GetPackedRejections() {
			resp.Placements[i] = wire.PlacementToProtoPacked(p, wire.HostIDs(in[i].Hosts))
		} else {
			resp.Placements[i] = wire.PlacementToProto(p)
		}
		resp.Placements[i].Model.Slot = string(slots[i])
	}
	if st.shadow != nil {
		h.shadowPlace(in, out, slots)
	}
	return resp, nil
}

// typedSpec is what differs between the typed calls.
type typedSpec[A any, P interface{ GetModel() *pb.ModelRef }] struct {
	method  string
	one     func(engine.Engine, context.Context, engine.Series) (A, error)
	batch   func(engine.Engine, context.Context, []engine.Series) ([]A, error)
	toProto func(A) P
	main    func(A) float64 // the main output, compared between shadow and champion
	ref     func(A) engine.ModelRef
	actual  actualKind // what ReportActual joins to the answer
	target  func(A, engine.Series) int64
}

var bandwidthCall = typedSpec[engine.BandwidthForecast, *pb.BandwidthForecast]{
	method: "ForecastBandwidth", one: engine.Engine.ForecastBandwidth, batch: engine.Engine.ForecastBandwidthBatch,
	toProto: wire.ForecastToProto, main: func(f engine.BandwidthForecast) float64 { return f.Point },
	ref: func(f engine.BandwidthForecast) engine.ModelRef { return f.Model }, actual: actualBandwidth,
	target: func(f engine.BandwidthForecast, s engine.Series) int64 {
		return lastTime(s) + int64(f.Horizon/time.Second)
	},
}

var anomalyCall = typedSpec[engine.AnomalyResult, *pb.AnomalyResult]{
	method: "AnomalyScore", one: engine.Engine.AnomalyScore, batch: engine.Engine.AnomalyScoreBatch,
	toProto: wire.AnomalyToProto, main: func(a engine.AnomalyResult) float64 { return a.Score },
	ref: func(a engine.AnomalyResult) engine.ModelRef { return a.Model }, actual: actualAnomaly,
	target: func(_ engine.AnomalyResult, s engine.Series) int64 { return lastTime(s) },
}

var capacityCall = typedSpec[engine.CapacityRecommendation, *pb.CapacityRecommendation]{
	method: "RecommendCapacity", one: engine.Engine.RecommendCapacity, batch: engine.Engine.RecommendCapacityBatch,
	toProto: wire.CapacityToProto, main: func(c engine.CapacityRecommendation) float64 { return c.PredictedPeakMHz },
	ref: func(c engine.CapacityRecommendation) engine.ModelRef { return c.Model }, actual: actualCapacity,
	target: func(c engine.CapacityRecommendation, s engine.Series) int64 {
		return lastTime(s) + int64(c.Horizon/time.Second)
	},
}

var linkCall = typedSpec[engine.LinkForecast, *pb.LinkForecast]{
	method: "ForecastLink", one: engine.Engine.ForecastLink, batch: engine.Engine.ForecastLinkBatch,
	toProto: linkToProto, main: func(f engine.LinkForecast) float64 { return f.PointMbps },
	ref: func(f engine.LinkForecast) engine.ModelRef { return f.Model }, actual: actualLink, target: linkTarget,
}

// actualKind is the kind of outcome ReportActual joins to a typed call's answer.
type actualKind int

const (
	actualBandwidth actualKind = iota + 1
	actualCapacity
	actualAnomaly
	actualLink
)

func lastTime(s engine.Series) int64 {
	if len(s.Timestamps) == 0 {
		return 0
	}
	return s.Timestamps[len(s.Timestamps)-1]
}

// typed serves a typed call: each series goes to the slot its entity routes to; the
// answers say which slot served them; the shadow, if set, gets the same series off the
// request path.
func typed[A any, P interface{ GetModel() *pb.ModelRef }](ctx context.Context, s *Server, op string, series []*pb.Series,
	refs []*pb.EntityRef, spec typedSpec[A, P]) ([]P, error) {
	if n := len(series) + len(refs); n > s.maxBatch {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeTooLarge, op, "",
			"%d series; at most %d per call, split the batch", n, s.maxBatch))
	}
	st, err := s.acquire()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	defer st.mu.RUnlock()
	in := wire.SeriesFromProto(series)
	ents := make([]string, len(series), len(series)+len(refs))
	for i, x := range series {
		ents[i] = x.GetEntity()
	}
	if len(refs) > 0 {
		held, err := s.heldSeries(ctx, st, op, typedFamily[spec.method], refs)
		if err != nil {
			return nil, wire.Status(ctx, err)
		}
		in = append(in, held...)
		for _, r := range refs {
			ents = append(ents, r.GetId())
		}
	}
	entity := func(i int) string { return ents[i] }
	answers, slots, err := dispatch(ctx, s, st, in, entity, spec.one, spec.batch)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	out := make([]P, len(answers))
	for i, ans := range answers {
		out[i] = spec.toProto(ans)
		if m := out[i].GetModel(); m != nil {
			m.Slot = string(slots[i])
		}
		served(s, spec, slots[i], entity(i), in[i], ans)
	}
	if st.shadow != nil {
		shadowTyped(s, spec, in, ents, answers, slots)
	}
	return out, nil
}

func (h service) Versions(ctx context.Context, _ *pb.VersionsRequest) (*pb.VersionsResponse, error) {
	v, err := h.versions(ctx)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.VersionsResponse{Versions: v}, nil
}

// versions is the champion's Versions with the slots and the rollout.
func (s *Server) versions(ctx context.Context) (*pb.Versions, error) {
	st, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer st.mu.RUnlock()
	v, err := st.champion.eng.Versions(ctx)
	if err != nil {
		return nil, err
	}
	out := wire.VersionsToProto(v)
	statusToProto(s.status(), out)
	return out, nil
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
	if _, err := h.Server.Reload(ctx, dir); err != nil {
		return nil, wire.Status(ctx, err)
	}
	v, err := h.versions(ctx)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.ReloadResponse{Versions: v}, nil
}

// SetRollout serves an authorized caller (see authorize): Server.SetRollout.
func (h service) SetRollout(ctx context.Context, req *pb.SetRolloutRequest) (*pb.SetRolloutResponse, error) {
	r, err := rolloutRequestFromProto(req)
	if err == nil {
		_, err = h.Server.SetRollout(ctx, r)
	}
	if err != nil {
		h.log.Warn("set rollout refused", "action", req.GetAction().String(), "err", err)
		return nil, wire.Status(ctx, err)
	}
	v, err := h.versions(ctx)
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	return &pb.SetRolloutResponse{Versions: v}, nil
}
