package client

import (
	"context"
	"math"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// ActualLink is the outcome of a ForecastLink answer: the mean available bandwidth
// (Mbit/s) observed over its horizon, reported at its ValidUntil.
const ActualLink ActualKind = ActualKind(pb.ActualKind_ACTUAL_KIND_LINK)

// ForecastLink forecasts a link from its recent measurements (schema link).
func (c *Client) ForecastLink(ctx context.Context, s engine.Series) (engine.LinkForecast, error) {
	return one(c.ForecastLinkBatch(ctx, []engine.Series{s}))
}

// ForecastLinkBatch forecasts many links in one call.
func (c *Client) ForecastLinkBatch(ctx context.Context, s []engine.Series) ([]engine.LinkForecast, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.ForecastLink(ctx, &pb.ForecastLinkRequest{Series: seriesToProto(s)})
	if err != nil {
		return nil, c.fail(ctx, err, "forecast link", "")
	}
	return answers(c.target, "forecast link", len(s), resp.GetForecasts(), linkFromProto)
}

// ForecastLinkEntity forecasts a link from the samples the sidecar holds for e.
func (c *Client) ForecastLinkEntity(ctx context.Context, e engine.EntityRef) (engine.LinkForecast, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.ForecastLink(ctx, &pb.ForecastLinkRequest{Entities: []*pb.EntityRef{entityToProto(e)}})
	if err != nil {
		return engine.LinkForecast{}, c.fail(ctx, err, "forecast link", "")
	}
	return one(answers(c.target, "forecast link", 1, resp.GetForecasts(), linkFromProto))
}

// linkFromProto is the engine's LinkForecast of the wire's; the times as the runtime
// gives them (UTC, the zero time for 0).
func linkFromProto(f *pb.LinkForecast) engine.LinkForecast {
	out := engine.LinkForecast{
		LowerMbps: f.GetLowerMbps(), PointMbps: f.GetPointMbps(), UpperMbps: f.GetUpperMbps(),
		LatencyMs: f.GetLatencyMs(), LossRatio: f.GetPacketLossRatio(), JitterMs: f.GetJitterMs(),
		QuantileLower: f.GetQuantileLower(), QuantileUpper: f.GetQuantileUpper(),
		Horizon: time.Duration(math.Round(f.GetHorizonSeconds() * 1e9)),
	}
	if m := f.GetModel(); m != nil {
		out.Model = engine.ModelRef{Name: m.GetName(), Version: m.GetVersion(), Bundle: m.GetBundle()}
	}
	if u := f.GetValidUntilUnix(); u != 0 {
		out.ValidUntil = time.Unix(u, 0).UTC()
	}
	return out
}
