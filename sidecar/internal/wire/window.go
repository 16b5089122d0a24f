package wire

import (
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// WindowToProto converts a window for the Windows RPC, sharing the slices (the entity
// is the request's, not sent back).
func WindowToProto(w engine.Window) *pb.Window {
	out := &pb.Window{Have: int32(w.Have), Need: int32(w.Need), Timestamps: w.Series.Timestamps, Values: w.Series.Values}
	if !w.End.IsZero() {
		out.EndUnix = w.End.Unix()
	}
	return out
}

// WindowFromProto is the engine's Window of the wire's for entity e, as the store gives
// it (UTC end, zero without samples; no Series without values).
func WindowFromProto(w *pb.Window, e engine.EntityRef) engine.Window {
	out := engine.Window{Entity: e, Have: int(w.GetHave()), Need: int(w.GetNeed())}
	if w.GetHave() > 0 {
		out.End = time.Unix(w.GetEndUnix(), 0).UTC()
	}
	if ts := w.GetTimestamps(); len(ts) > 0 || len(w.GetValues()) > 0 {
		out.Series = engine.Series{Timestamps: ts, Values: w.GetValues(), Entity: e.ID}
	}
	return out
}
