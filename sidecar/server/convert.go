package server

import (
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
