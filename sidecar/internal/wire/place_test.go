package wire

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

func placementRequest() engine.PlacementRequest {
	return engine.PlacementRequest{
		VM: engine.VMRequest{ID: "vm-1", Request: engine.Resources{2600, 4096, 100, 200}, History: []float64{1, 2, 3, 4, 5, 6, 7, 8},
			Group: "g3", GroupSize: 3, GroupHosts: []string{"h1"}, PeerHosts: []string{"h0", "h0"}},
		Hosts: []engine.HostState{
			{ID: "h0", Domain: "r0", Capacity: engine.Resources{83200, 393216, 512000, 1220703}, Allocated: engine.Resources{1, 2, 3, 4},
				Usage: []float64{0.5, -0.0, 1e300, 4, 5, 6, 7, 8}, VMCount: 3, NICMbps: 10000, FailureRate: 0.5, Cost: 1.3},
			{ID: "h1", Domain: "", Capacity: engine.Resources{1, 1, 1, 1}, Usage: make([]float64, 8), Maintenance: true},
		},
		Overcommit: engine.Resources{4, 0, 1, 1},
		Domains:    3,
	}
}

// TestPlacementRoundTrip: requests and answers cross the wire unchanged.
func TestPlacementRoundTrip(t *testing.T) {
	reqs := []engine.PlacementRequest{placementRequest(), {VM: engine.VMRequest{Request: engine.Resources{1, 2, 3, 4}}}}
	back, err := PlacementRequestsFromProto(PlacementRequestsToProto(reqs))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, reqs) {
		t.Errorf("requests:\n%+v\nwant\n%+v", back, reqs)
	}
	p := engine.Placement{
		Host: "h0", HostIndex: 0, Score: 0.12345678, Model: engine.ModelRef{Name: "itp", Version: "1.0.0", Bundle: "b"},
		Hosts: 2, Feasible: 1,
		Rejected: []engine.Rejection{{Host: "h1", HostIndex: 1, Violations: []engine.Violation{
			{Constraint: engine.ConstraintCapacity, Resource: 1, Allocated: 61440, Request: 8192, Capacity: 65536, Overcommit: 1},
			{Constraint: engine.ConstraintAntiAffinity, Group: "g3", Domain: "", Count: 1, Limit: 1},
			{Constraint: engine.ConstraintSpread, Group: "g3", Domain: "", Count: 1, Limit: 1},
			{Constraint: engine.ConstraintMaintenance},
		}}},
		Ranking:    []engine.HostScore{{Host: "h0", Score: 0.12345678}},
		Reference:  engine.HostScore{Host: "h2", HostIndex: 2, Score: -1},
		TopFactors: []engine.FactorEffect{{Name: "host_mean_cpu", Index: 17, Value: 1.5, Reference: 2.5, Delta: -0.01}},
	}
	if got := PlacementFromProto(PlacementToProto(p)); !reflect.DeepEqual(got, p) {
		t.Errorf("placement:\n%+v\nwant\n%+v", got, p)
	}
	bare := engine.Placement{Host: "h0", Ranking: []engine.HostScore{{Host: "h0"}}}
	if got := PlacementFromProto(PlacementToProto(bare)); !reflect.DeepEqual(got, bare) {
		t.Errorf("placement without rejections or factors:\n%+v\nwant\n%+v", got, bare)
	}
}

// TestPlacementRequestVectors: a resource vector of the wrong length is named.
func TestPlacementRequestVectors(t *testing.T) {
	one := PlacementRequestsToProto([]engine.PlacementRequest{placementRequest()})
	one[0].Hosts[1].Capacity = []float64{1, 2, 3}
	_, err := PlacementRequestsFromProto(one)
	if err == nil || err.Error() != "hosts[1].capacity has 3 values; want 4, one per resource [cpu_mhz mem_mb disk_kbs net_kbs]" {
		t.Errorf("got %v", err)
	}
	two := PlacementRequestsToProto([]engine.PlacementRequest{placementRequest(), placementRequest()})
	two[1].Overcommit = []float64{4}
	if _, err := PlacementRequestsFromProto(two); err == nil || !strings.HasPrefix(err.Error(), "request 1: overcommit has 1 values") {
		t.Errorf("got %v", err)
	}
	two[1].Overcommit, two[1].Vm = nil, nil
	if _, err := PlacementRequestsFromProto(two); err == nil || !strings.HasPrefix(err.Error(), "request 1: vm.request has 0 values") {
		t.Errorf("got %v", err)
	}
}

// TestNoFeasibleHostRoundTrip: the error keeps its code, text and every rejection.
func TestNoFeasibleHostRoundTrip(t *testing.T) {
	nf := &engine.NoFeasibleHostError{Request: 2, Hosts: 1, Rejected: []engine.Rejection{{Host: "h0", Violations: []engine.Violation{
		{Constraint: engine.ConstraintMaintenance}}}}}
	err := &engine.Error{Code: engine.CodeNoFeasibleHost, Op: "place vm", Model: "itp", Msg: "request 2: " + nf.Error(), Err: nf}
	st := Status(context.Background(), err)
	if status.Code(st) != codes.FailedPrecondition {
		t.Errorf("gRPC code %v", status.Code(st))
	}
	back := ErrorFromStatus(st, "t", "op", "")
	var got *engine.NoFeasibleHostError
	if !errors.Is(back, engine.ErrNoFeasibleHost) || !errors.As(back, &got) || back.Error() != err.Error() {
		t.Fatalf("got %v", back)
	}
	if !reflect.DeepEqual(got, nf) {
		t.Errorf("rejections %+v, want %+v", got, nf)
	}
	if want := "dwcp-ml: place vm itp: request 2: no feasible host among 1: maintenance removed 1 (e.g. h0)"; back.Error() != want {
		t.Errorf("%q, want %q", back.Error(), want)
	}
	for _, c := range engine.Constraints { // the proto's enum numbers are engine.Constraint's
		if name := pb.Constraint(c).String(); name != "CONSTRAINT_"+strings.ToUpper(strings.ReplaceAll(c.String(), "-", "_")) {
			t.Errorf("constraint %d is %s in the proto, %s in the engine", c, name, c)
		}
	}
}
