package server

import (
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

func statusToProto(s rollout.Status, v *pb.Versions) { rollout.StatusToProto(s, v) }

var rolloutOps = map[pb.RolloutAction]RolloutOp{
	pb.RolloutAction_ROLLOUT_ACTION_SET:          OpSet,
	pb.RolloutAction_ROLLOUT_ACTION_PROMOTE:      OpPromote,
	pb.RolloutAction_ROLLOUT_ACTION_ROLLBACK:     OpRollback,
	pb.RolloutAction_ROLLOUT_ACTION_WITHDRAW:     OpWithdraw,
	pb.RolloutAction_ROLLOUT_ACTION_CLEAR_SHADOW: OpClearShadow,
}

// rolloutRequestFromProto reads a SetRollout request (the reason of its transitions: "admin RPC").
func rolloutRequestFromProto(req *pb.SetRolloutRequest) (RolloutRequest, error) {
	op, ok := rolloutOps[req.GetAction()]
	if !ok {
		return RolloutRequest{}, engine.Errorf(engine.CodeInvalidInput, "set rollout", "",
			"action %s: give one of SET, PROMOTE, ROLLBACK, WITHDRAW, CLEAR_SHADOW", req.GetAction())
	}
	r := RolloutRequest{Op: op, CanaryDir: req.GetCanaryDir(), CanaryWeightBP: int(req.GetCanaryWeightBp()),
		ShadowDir: req.GetShadowDir(), Reason: "admin RPC"}
	if req.Policy != nil {
		p := rollout.PolicyFromProto(req.GetPolicy())
		r.Policy = &p
	}
	return r, nil
}

// linkToProto is the wire form of a link forecast (the slot is set by the caller).
func linkToProto(f engine.LinkForecast) *pb.LinkForecast {
	out := &pb.LinkForecast{
		LowerMbps: f.LowerMbps, PointMbps: f.PointMbps, UpperMbps: f.UpperMbps,
		LatencyMs: f.LatencyMs, PacketLossRatio: f.LossRatio, JitterMs: f.JitterMs,
		QuantileLower: f.QuantileLower, QuantileUpper: f.QuantileUpper, HorizonSeconds: f.Horizon.Seconds(),
		Model: &pb.ModelRef{Name: f.Model.Name, Version: f.Model.Version, Bundle: f.Model.Bundle},
	}
	if !f.ValidUntil.IsZero() {
		out.ValidUntilUnix = f.ValidUntil.Unix()
	}
	return out
}

// linkTarget is the time a link answer's actual refers to: its last sample + horizon.
func linkTarget(f engine.LinkForecast, s engine.Series) int64 {
	return lastTime(s) + int64(f.Horizon/time.Second)
}
