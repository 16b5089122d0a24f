package client

import (
	"context"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

var (
	_ engine.Windower  = (*Client)(nil)
	_ engine.Forgetter = (*Client)(nil)
)

// Forget drops entities from the sidecar's online store (RPC Forget).
func (c *Client) Forget(ctx context.Context, entities []engine.EntityRef) (int, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	in := &pb.ForgetRequest{Entities: make([]*pb.EntityRef, len(entities))}
	for i, e := range entities {
		in.Entities[i] = entityToProto(e)
	}
	resp, err := c.rpc.Forget(ctx, in)
	if err != nil {
		return 0, c.fail(ctx, err, "forget", "")
	}
	return int(resp.GetForgotten()), nil
}

// Windows returns the windows of req from the sidecar's online store (RPC Windows): the
// feature core there resamples the held entities' samples, and req.Raw's, onto the
// family model's grid.
func (c *Client) Windows(ctx context.Context, req engine.WindowRequest) (engine.WindowsResult, error) {
	const op = "windows"
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	in := &pb.WindowsRequest{Family: req.Family, Values: req.Values, Route: req.Route,
		Entities: make([]*pb.EntityRef, len(req.Entities)), Raw: SamplesToProto(req.Raw)}
	if len(req.Observe) > 0 {
		in.Observe = SamplesToProto(req.Observe)
	}
	for i, e := range req.Entities {
		in.Entities[i] = entityToProto(e)
	}
	resp, err := c.rpc.Windows(ctx, in)
	if err != nil {
		return engine.WindowsResult{}, c.storeFail(ctx, err, op) // a full store as Observe's
	}
	n := len(req.Entities) + len(req.Raw)
	if got := len(resp.GetWindows()); got != n {
		return engine.WindowsResult{}, engine.Errorf(engine.CodeInternal, op, "", "sidecar %s answered %d of %d windows", c.target, got, n)
	}
	out := make([]engine.Window, n)
	for i, w := range resp.GetWindows() {
		e := engine.EntityRef{}
		if i < len(req.Entities) {
			e = req.Entities[i]
		} else {
			e = req.Raw[i-len(req.Entities)].Entity
		}
		out[i] = wire.WindowFromProto(w, e)
	}
	var obs engine.ObserveResult
	if r := resp.GetObserved(); r != nil {
		obs = observeResult(r)
	}
	return engine.WindowsResult{Windows: out, Observed: obs}, nil
}
