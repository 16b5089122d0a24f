package wire

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// packedEngine is the default bundle, opened once for this file's tests.
var packedEngine = sync.OnceValues(func() (*runtime.Engine, error) {
	return runtime.Open(context.Background(), testbundle.Dir(), runtime.Config{})
})

// goldenPlacement1000 is the engine's answer for the golden's first request with its hosts
// replicated to 1,000 (BenchmarkPlaceVM1000's request: 332 rejected hosts).
func goldenPlacement1000(t testing.TB) (engine.PlacementRequest, engine.Placement) {
	t.Helper()
	eng, err := packedEngine()
	if err != nil {
		t.Fatal(err)
	}
	_, g := testbundle.Placement(t)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	p, err := eng.PlaceVM(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rejected) == 0 {
		t.Fatal("the 1,000-host golden request rejects no host")
	}
	return r, p
}

// roundTrip sends p through the packed form and the protobuf encoding, as the sidecar
// and client do.
func roundTrip(t *testing.T, p engine.Placement, hosts []engine.HostState) (engine.Placement, *pb.Placement) {
	t.Helper()
	m := PlacementToProtoPacked(p, HostIDs(hosts))
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.Placement
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := PlacementFromProtoHosts(&back, HostIDs(hosts))
	if err != nil {
		t.Fatal(err)
	}
	return got, m
}

// TestPackedRejections: the engine's answers, and one with every constraint, come back
// from the packed form equal to the repeated form's (every field, every bit); an answer
// outside the layout travels in the repeated form and still comes back equal.
func TestPackedRejections(t *testing.T) {
	r, golden := goldenPlacement1000(t)
	two := placementRequest().Hosts
	every := engine.Placement{Host: "h0", Hosts: 2, Feasible: 1, Ranking: []engine.HostScore{{Host: "h0"}},
		Rejected: []engine.Rejection{{Host: "h1", HostIndex: 1, Violations: []engine.Violation{
			{Constraint: engine.ConstraintCapacity, Resource: 1, Allocated: 61440, Request: 8192, Capacity: 65536, Overcommit: 1},
			{Constraint: engine.ConstraintCapacity, Resource: 3, Allocated: 1e300, Request: 5e-324, Capacity: 1, Overcommit: 0.5},
			{Constraint: engine.ConstraintAntiAffinity, Group: "g3", Domain: "", Count: 1, Limit: 1},
			{Constraint: engine.ConstraintSpread, Group: "g3", Domain: "r0", Count: 2, Limit: 1},
			{Constraint: engine.ConstraintMaintenance},
		}}}}
	outside := every
	outside.Rejected = []engine.Rejection{{Host: "h1", HostIndex: 1, Violations: []engine.Violation{
		{Constraint: engine.ConstraintMaintenance, Count: 3}}}}
	renamed := every
	renamed.Rejected = []engine.Rejection{{Host: "other", HostIndex: 1, Violations: every.Rejected[0].Violations}}
	cases := []struct {
		name   string
		p      engine.Placement
		hosts  []engine.HostState
		packed bool
	}{
		{"golden 1000 hosts", golden, r.Hosts, true},
		{"every constraint", every, two, true},
		{"no rejection", engine.Placement{Host: "h0", Ranking: []engine.HostScore{{Host: "h0"}}}, two, false},
		{"a field outside the layout", outside, two, false},
		{"a host named unlike the request", renamed, two, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, m := roundTrip(t, c.p, c.hosts)
			if (m.GetRejectedPacked() != nil) != c.packed {
				t.Fatalf("packed form used: %v, want %v", m.GetRejectedPacked() != nil, c.packed)
			}
			if want := PlacementFromProto(PlacementToProto(c.p)); !reflect.DeepEqual(got, want) {
				t.Errorf("packed round trip differs from the repeated form's:\n%+v\nwant\n%+v", got, want)
			}
			if !reflect.DeepEqual(got, c.p) {
				t.Errorf("round trip:\n%+v\nwant\n%+v", got, c.p)
			}
		})
	}
}

// TestPackedRejectionsRefused: a malformed packed list is an error naming what is wrong,
// never a panic or a wrong answer.
func TestPackedRejectionsRefused(t *testing.T) {
	valid := func() *pb.PackedRejections {
		return &pb.PackedRejections{HostIndex: []int32{1}, Violations: []int32{2},
			Constraint: []pb.Constraint{pb.Constraint_CONSTRAINT_CAPACITY, pb.Constraint_CONSTRAINT_SPREAD},
			Resource:   []int32{1}, Allocated: []float64{1}, Request: []float64{1}, Capacity: []float64{1}, Overcommit: []float64{1},
			Group: []int32{0}, Domain: []int32{0}, Count: []int32{1}, Limit: []int32{1}, Groups: []string{"g"}, Domains: []string{"r"}}
	}
	hosts := HostIDs(placementRequest().Hosts)
	if _, err := UnpackRejections(valid(), hosts); err != nil {
		t.Fatalf("the valid list: %v", err)
	}
	cases := []struct {
		name string
		edit func(p *pb.PackedRejections)
		want string
	}{
		{"counts", func(p *pb.PackedRejections) { p.Violations = nil }, "1 host indices and 0 violation counts"},
		{"too many violations", func(p *pb.PackedRejections) { p.Violations = []int32{3} }, "exceed the 2 constraints"},
		{"too few violations", func(p *pb.PackedRejections) { p.Violations = []int32{1} }, "sum to 1, 2 constraints"},
		{"negative count", func(p *pb.PackedRejections) { p.Violations = []int32{-1} }, "exceed"},
		{"unknown constraint", func(p *pb.PackedRejections) { p.Constraint[1] = 9 }, "unknown constraint 9"},
		{"capacity values", func(p *pb.PackedRejections) { p.Capacity = nil }, "0 capacity values for 1 capacity violations"},
		{"group values", func(p *pb.PackedRejections) { p.Limit = nil }, "0 limit values for 1 group violations"},
		{"host index", func(p *pb.PackedRejections) { p.HostIndex[0] = 7 }, "host index 7 is not a host"},
		{"group index", func(p *pb.PackedRejections) { p.Group[0] = 1 }, "group index 1 of 1"},
		{"domain index", func(p *pb.PackedRejections) { p.Domain[0] = -1 }, "domain index -1 of 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := valid()
			c.edit(p)
			_, err := UnpackRejections(p, hosts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	both := &pb.Placement{Rejected: []*pb.Rejection{{Host: "h1"}}, RejectedPacked: valid()}
	if _, err := PlacementFromProtoHosts(both, hosts); err == nil || !strings.Contains(err.Error(), "one form only") {
		t.Fatalf("both forms: %v", err)
	}
}

// BenchmarkPlacementAnswer prints what the golden 1,000-host answer (332 rejected hosts)
// costs on the wire, repeated and packed: the server's conversion and marshalling, the
// client's unmarshalling and conversion back, and the encoded size.
func BenchmarkPlacementAnswer(b *testing.B) {
	r, p := goldenPlacement1000(b)
	for _, form := range []string{"repeated", "packed"} {
		b.Run(form, func(b *testing.B) {
			var size int
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				var m *pb.Placement
				if form == "packed" {
					m = PlacementToProtoPacked(p, HostIDs(r.Hosts))
				} else {
					m = PlacementToProto(p)
				}
				buf, err := proto.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
				var back pb.Placement
				if err := proto.Unmarshal(buf, &back); err != nil {
					b.Fatal(err)
				}
				if _, err := PlacementFromProtoHosts(&back, HostIDs(r.Hosts)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "bytes")
			b.Logf("%s: %d rejected hosts, %d bytes, %.1f µs per answer (convert, marshal, unmarshal, convert)",
				form, len(p.Rejected), size, float64(time.Since(start).Microseconds())/float64(b.N))
		})
	}
}
