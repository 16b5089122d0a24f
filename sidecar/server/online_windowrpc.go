package server

import (
	"context"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// Forget drops entities from the store (engine.Forgetter).
func (h service) Forget(ctx context.Context, req *pb.ForgetRequest) (*pb.ForgetResponse, error) {
	const op = "forget"
	refs := make([]engine.EntityRef, len(req.GetEntities()))
	for i, r := range req.GetEntities() {
		ref, err := entityRef(op, r)
		if err != nil {
			return nil, wire.Status(ctx, store.ItemErr(err, len(refs), "entity", i))
		}
		refs[i] = ref
	}
	return &pb.ForgetResponse{Forgotten: int64(h.store.Forget(refs))}, nil
}

// Windows returns the windows of held entities and of raw samples (engine.Windower):
// each on the grid of the model of the slot it routes to (req.route, else its own id).
func (h service) Windows(ctx context.Context, req *pb.WindowsRequest) (*pb.WindowsResponse, error) {
	const op = "windows"
	if n := len(req.GetEntities()) + len(req.GetRaw()); n > h.maxBatch {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeTooLarge, op, "",
			"%d entities and raw batches; at most %d per call, split the request", n, h.maxBatch))
	}
	raw, err := SamplesFromProto(req.GetRaw())
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	obs, err := SamplesFromProto(req.GetObserve())
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	var observed engine.ObserveResult
	if len(obs) > 0 {
		if observed, err = h.store.Observe(ctx, obs); err != nil {
			return nil, observeStatus(ctx, err, observed)
		}
	}
	st, err := h.acquire()
	if err != nil {
		return nil, wire.Status(ctx, err)
	}
	defer st.mu.RUnlock()
	n := len(req.GetEntities()) + len(raw)
	source := func(id string) (store.Source, error) {
		if r := req.GetRoute(); r != "" {
			id = r
		}
		src, ok := st.get(st.route(id)).source()
		if !ok {
			return nil, engine.Errorf(engine.CodeUnavailable, op, "", "the %s engine cannot answer from the online store", st.route(id))
		}
		return src, nil
	}
	out := &pb.WindowsResponse{Windows: make([]*pb.Window, 0, n), Observed: ObserveResultToProto(observed)}
	for i, r := range req.GetEntities() {
		ref, err := entityRef(op, r)
		if err == nil {
			var src store.Source
			if src, err = source(ref.ID); err == nil {
				var w engine.Window
				if w, err = store.WindowOf(ctx, h.store, src, req.GetFamily(), ref, req.GetValues()); err == nil {
					out.Windows = append(out.Windows, wire.WindowToProto(w))
					continue
				}
			}
		}
		return nil, wire.Status(ctx, store.ItemErr(err, n, "entity", i))
	}
	for i, b := range raw {
		src, err := source(b.Entity.ID)
		if err == nil {
			var w engine.Window
			if w, err = store.RawWindowOf(ctx, h.store, src, req.GetFamily(), b, req.GetValues()); err == nil {
				out.Windows = append(out.Windows, wire.WindowToProto(w))
				continue
			}
		}
		return nil, wire.Status(ctx, store.ItemErr(err, n, "raw batch", i))
	}
	return out, nil
}
