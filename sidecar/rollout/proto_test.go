package rollout_test

import (
	"reflect"
	"testing"
	"time"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// TestStatusProto: a Status survives the wire (Versions) unchanged, every field set.
func TestStatusProto(t *testing.T) {
	at := time.Date(2026, 12, 4, 1, 2, 3, 4, time.UTC)
	want := rollout.Status{
		Slots: []rollout.SlotInfo{{Slot: rollout.Champion, Bundle: "v1", BundleDir: "/b/v1", Signed: true, LoadedAt: at},
			{Slot: rollout.Canary, Bundle: "v2", BundleDir: "/b/v2", LoadedAt: at.Add(time.Second)}},
		WeightBP: 1000,
		State: rollout.State{Active: true, WeightBP: 1000, Canary: "v2", Champion: "v1", Since: at,
			Policy: rollout.Policy{}.WithDefaults(), Verdict: []string{"p99 latency"},
			Transitions: []rollout.Transition{{At: at, Action: rollout.ActionStart, FromBP: 0, ToBP: 1000, Canary: "v2",
				Champion: "v1", Reason: "canary set"}}},
	}
	v := &pb.Versions{}
	rollout.StatusToProto(want, v)
	if got := rollout.StatusFromProto(v); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, want)
	}
}
