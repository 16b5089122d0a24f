package wire

import (
	"fmt"
	"strconv"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// PlacementRequestsToProto shares the slices (histories, usage, the resource arrays, host
// lists) with reqs: marshalling only reads them.
func PlacementRequestsToProto(reqs []engine.PlacementRequest) []*pb.PlacementRequest {
	out := make([]*pb.PlacementRequest, len(reqs))
	for i := range reqs {
		r := &reqs[i]
		hosts := make([]*pb.HostState, len(r.Hosts))
		backing := make([]pb.HostState, len(r.Hosts)) // one allocation for all hosts
		for j := range r.Hosts {
			h := &r.Hosts[j]
			backing[j] = pb.HostState{
				Id: h.ID, Domain: h.Domain, Capacity: h.Capacity[:], Allocated: h.Allocated[:], Usage: h.Usage,
				VmCount: int32(h.VMCount), NicMbps: h.NICMbps, FailureRate: h.FailureRate, Cost: h.Cost,
				Maintenance: h.Maintenance,
			}
			hosts[j] = &backing[j]
		}
		var oc []float64
		if r.Overcommit != (engine.Resources{}) {
			oc = r.Overcommit[:]
		}
		out[i] = &pb.PlacementRequest{
			Vm: &pb.VMRequest{
				Id: r.VM.ID, Request: r.VM.Request[:], History: r.VM.History, Group: r.VM.Group,
				GroupSize: int32(r.VM.GroupSize), GroupHosts: r.VM.GroupHosts, PeerHosts: r.VM.PeerHosts,
			},
			Hosts: hosts, Overcommit: oc, Domains: int32(r.Domains),
		}
	}
	return out
}

// PlacementRequestsFromProto shares the histories, usage and host lists with reqs. A
// resource vector that does not hold 4 values is an error naming it.
func PlacementRequestsFromProto(reqs []*pb.PlacementRequest) ([]engine.PlacementRequest, error) {
	out := make([]engine.PlacementRequest, len(reqs))
	for i, r := range reqs {
		prefix := ""
		if len(reqs) > 1 {
			prefix = "request " + strconv.Itoa(i) + ": "
		}
		var err error
		res := func(field string, v []float64, optional bool) (x engine.Resources) {
			if err == nil && len(v) != engine.NumResources && !(optional && len(v) == 0) {
				err = fmt.Errorf("%s%s has %d values; want %d, one per resource %v", prefix, field, len(v),
					engine.NumResources, engine.ResourceNames)
			}
			copy(x[:], v)
			return x
		}
		vm := r.GetVm()
		p := &out[i]
		p.VM = engine.VMRequest{
			ID: vm.GetId(), Request: res("vm.request", vm.GetRequest(), false), History: vm.GetHistory(),
			Group: vm.GetGroup(), GroupSize: int(vm.GetGroupSize()), GroupHosts: vm.GetGroupHosts(),
			PeerHosts: vm.GetPeerHosts(),
		}
		p.Overcommit = res("overcommit", r.GetOvercommit(), true)
		p.Domains = int(r.GetDomains())
		if hs := r.GetHosts(); len(hs) > 0 {
			p.Hosts = make([]engine.HostState, len(hs))
			for j, h := range hs {
				f := "hosts[" + strconv.Itoa(j) + "]."
				p.Hosts[j] = engine.HostState{
					ID: h.GetId(), Domain: h.GetDomain(), Capacity: res(f+"capacity", h.GetCapacity(), false),
					Allocated: res(f+"allocated", h.GetAllocated(), false), Usage: h.GetUsage(),
					VMCount: int(h.GetVmCount()), NICMbps: h.GetNicMbps(), FailureRate: h.GetFailureRate(),
					Cost: h.GetCost(), Maintenance: h.GetMaintenance(),
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func PlacementToProto(p engine.Placement) *pb.Placement {
	out := &pb.Placement{
		Host: p.Host, HostIndex: int32(p.HostIndex), Score: p.Score, Model: refToProto(p.Model),
		Hosts: int32(p.Hosts), Feasible: int32(p.Feasible), Rejected: rejectionsToProto(p.Rejected),
	}
	if p.Reference != (engine.HostScore{}) {
		out.Reference = &pb.HostScore{Host: p.Reference.Host, HostIndex: int32(p.Reference.HostIndex), Score: p.Reference.Score}
	}
	for _, h := range p.Ranking {
		out.Ranking = append(out.Ranking, &pb.HostScore{Host: h.Host, HostIndex: int32(h.HostIndex), Score: h.Score})
	}
	for _, f := range p.TopFactors {
		out.TopFactors = append(out.TopFactors, &pb.FactorEffect{Name: f.Name, Index: int32(f.Index),
			Value: f.Value, Reference: f.Reference, Delta: f.Delta})
	}
	return out
}

func PlacementFromProto(p *pb.Placement) engine.Placement {
	out := engine.Placement{
		Host: p.GetHost(), HostIndex: int(p.GetHostIndex()), Score: p.GetScore(), Model: refFromProto(p.GetModel()),
		Hosts: int(p.GetHosts()), Feasible: int(p.GetFeasible()), Rejected: rejectionsFromProto(p.GetRejected()),
	}
	if r := p.GetReference(); r != nil {
		out.Reference = engine.HostScore{Host: r.GetHost(), HostIndex: int(r.GetHostIndex()), Score: r.GetScore()}
	}
	for _, h := range p.GetRanking() {
		out.Ranking = append(out.Ranking, engine.HostScore{Host: h.GetHost(), HostIndex: int(h.GetHostIndex()),
			Score: h.GetScore()})
	}
	for _, f := range p.GetTopFactors() {
		out.TopFactors = append(out.TopFactors, engine.FactorEffect{Name: f.GetName(), Index: int(f.GetIndex()),
			Value: f.GetValue(), Reference: f.GetReference(), Delta: f.GetDelta()})
	}
	return out
}

func rejectionsToProto(rs []engine.Rejection) []*pb.Rejection {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*pb.Rejection, len(rs))
	for i, r := range rs {
		vs := make([]*pb.Violation, len(r.Violations))
		for k, v := range r.Violations {
			vs[k] = &pb.Violation{
				Constraint: pb.Constraint(v.Constraint), Resource: int32(v.Resource),
				Allocated: v.Allocated, Request: v.Request, Capacity: v.Capacity, Overcommit: v.Overcommit,
				Group: v.Group, Domain: v.Domain, Count: int32(v.Count), Limit: int32(v.Limit),
			}
		}
		out[i] = &pb.Rejection{Host: r.Host, HostIndex: int32(r.HostIndex), Violations: vs}
	}
	return out
}

func rejectionsFromProto(rs []*pb.Rejection) []engine.Rejection {
	if len(rs) == 0 {
		return nil
	}
	out := make([]engine.Rejection, len(rs))
	for i, r := range rs {
		vs := make([]engine.Violation, len(r.GetViolations()))
		for k, v := range r.GetViolations() {
			vs[k] = engine.Violation{
				Constraint: engine.Constraint(v.GetConstraint()), Resource: int(v.GetResource()),
				Allocated: v.GetAllocated(), Request: v.GetRequest(), Capacity: v.GetCapacity(),
				Overcommit: v.GetOvercommit(), Group: v.GetGroup(), Domain: v.GetDomain(),
				Count: int(v.GetCount()), Limit: int(v.GetLimit()),
			}
		}
		out[i] = engine.Rejection{Host: r.GetHost(), HostIndex: int(r.GetHostIndex()), Violations: vs}
	}
	return out
}

func noFeasibleToProto(e *engine.NoFeasibleHostError) *pb.NoFeasibleHost {
	return &pb.NoFeasibleHost{Request: int32(e.Request), Hosts: int32(e.Hosts), Rejected: rejectionsToProto(e.Rejected)}
}

func noFeasibleFromProto(d *pb.NoFeasibleHost) *engine.NoFeasibleHostError {
	return &engine.NoFeasibleHostError{Request: int(d.GetRequest()), Hosts: int(d.GetHosts()),
		Rejected: rejectionsFromProto(d.GetRejected())}
}
