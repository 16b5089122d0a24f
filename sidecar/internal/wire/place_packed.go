package wire

import (
	"fmt"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// PlacementToProtoPacked is PlacementToProto with the rejected hosts as PackedRejections
// (for a client that set PlaceVMRequest.packed_rejections); hostID(i) is the id of the
// request's host i (false: no such host), which the client names the host by. An answer that does not fit the
// packed layout keeps the repeated form.
func PlacementToProtoPacked(p engine.Placement, hostID func(int) (string, bool)) *pb.Placement {
	rs := p.Rejected
	p.Rejected = nil
	out := PlacementToProto(p)
	if packed := PackRejections(rs, hostID); packed != nil {
		out.RejectedPacked = packed
	} else {
		out.Rejected = rejectionsToProto(rs)
	}
	return out
}

// PlacementFromProtoHosts is PlacementFromProto for an answer that may carry
// rejected_packed: hostID(i) gives the id of the request's host i (false when the request
// has no host i, which makes the answer an error).
func PlacementFromProtoHosts(p *pb.Placement, hostID func(int) (string, bool)) (engine.Placement, error) {
	packed := p.GetRejectedPacked()
	if packed == nil {
		return PlacementFromProto(p), nil
	}
	if len(p.GetRejected()) > 0 {
		return engine.Placement{}, fmt.Errorf("the answer has %d rejected hosts and a packed list: one form only", len(p.GetRejected()))
	}
	rs, err := UnpackRejections(packed, hostID)
	if err != nil {
		return engine.Placement{}, err
	}
	out := PlacementFromProto(p)
	out.Rejected = rs
	return out, nil
}

// fits reports whether v holds only the fields its constraint has in the packed layout
// (the engine's violations always do; anything else travels in the repeated form).
func fits(v *engine.Violation) bool {
	capacity := v.Resource != 0 || v.Allocated != 0 || v.Request != 0 || v.Capacity != 0 || v.Overcommit != 0
	group := v.Group != "" || v.Domain != "" || v.Count != 0 || v.Limit != 0
	switch v.Constraint {
	case engine.ConstraintCapacity:
		return !group
	case engine.ConstraintAntiAffinity, engine.ConstraintSpread:
		return !capacity
	case engine.ConstraintMaintenance:
		return !capacity && !group
	}
	return false
}

// PackRejections returns rs as parallel arrays, or nil when rs is empty, a host's name is
// not hostID(its index), or a violation does not fit the layout.
func PackRejections(rs []engine.Rejection, hostID func(int) (string, bool)) *pb.PackedRejections {
	if len(rs) == 0 {
		return nil
	}
	nv, nc, ng := 0, 0, 0
	for i := range rs {
		r := &rs[i]
		if id, ok := hostID(r.HostIndex); !ok || id != r.Host {
			return nil
		}
		for k := range r.Violations {
			v := &r.Violations[k]
			if !fits(v) {
				return nil
			}
			nv++
			switch v.Constraint {
			case engine.ConstraintCapacity:
				nc++
			case engine.ConstraintAntiAffinity, engine.ConstraintSpread:
				ng++
			}
		}
	}
	ints := make([]int32, 2*len(rs)+nc+4*ng) // one backing array for the int32 fields
	take := func(n int) []int32 {
		s := ints[:0:n]
		ints = ints[n:]
		return s
	}
	doubles := make([]float64, 4*nc)
	takeD := func() []float64 {
		s := doubles[:0:nc]
		doubles = doubles[nc:]
		return s
	}
	p := &pb.PackedRejections{
		HostIndex: take(len(rs)), Violations: take(len(rs)), Constraint: make([]pb.Constraint, 0, nv),
		Resource: take(nc), Allocated: takeD(), Request: takeD(), Capacity: takeD(), Overcommit: takeD(),
		Group: take(ng), Domain: take(ng), Count: take(ng), Limit: take(ng),
	}
	groups, domains := map[string]int32{}, map[string]int32{}
	ref := func(m map[string]int32, list *[]string, s string) int32 {
		i, ok := m[s]
		if !ok {
			i = int32(len(*list))
			m[s] = i
			*list = append(*list, s)
		}
		return i
	}
	for i := range rs {
		r := &rs[i]
		p.HostIndex = append(p.HostIndex, int32(r.HostIndex))
		p.Violations = append(p.Violations, int32(len(r.Violations)))
		for k := range r.Violations {
			v := &r.Violations[k]
			p.Constraint = append(p.Constraint, pb.Constraint(v.Constraint))
			switch v.Constraint {
			case engine.ConstraintCapacity:
				p.Resource = append(p.Resource, int32(v.Resource))
				p.Allocated = append(p.Allocated, v.Allocated)
				p.Request = append(p.Request, v.Request)
				p.Capacity = append(p.Capacity, v.Capacity)
				p.Overcommit = append(p.Overcommit, v.Overcommit)
			case engine.ConstraintAntiAffinity, engine.ConstraintSpread:
				p.Group = append(p.Group, ref(groups, &p.Groups, v.Group))
				p.Domain = append(p.Domain, ref(domains, &p.Domains, v.Domain))
				p.Count = append(p.Count, int32(v.Count))
				p.Limit = append(p.Limit, int32(v.Limit))
			}
		}
	}
	return p
}

// UnpackRejections rebuilds the rejections of p, naming each host by hostID; an array of
// the wrong length or an index out of range is an error naming it.
func UnpackRejections(p *pb.PackedRejections, hostID func(int) (string, bool)) ([]engine.Rejection, error) {
	hosts, counts, cons := p.GetHostIndex(), p.GetViolations(), p.GetConstraint()
	if len(counts) != len(hosts) {
		return nil, fmt.Errorf("packed rejections: %d host indices and %d violation counts", len(hosts), len(counts))
	}
	if len(hosts) == 0 {
		return nil, nil
	}
	nv := 0
	for _, c := range counts {
		if c < 0 || int(c) > len(cons)-nv {
			return nil, fmt.Errorf("packed rejections: violation counts exceed the %d constraints", len(cons))
		}
		nv += int(c)
	}
	if nv != len(cons) {
		return nil, fmt.Errorf("packed rejections: violation counts sum to %d, %d constraints", nv, len(cons))
	}
	nc, ng := 0, 0
	for _, c := range cons {
		switch engine.Constraint(c) {
		case engine.ConstraintCapacity:
			nc++
		case engine.ConstraintAntiAffinity, engine.ConstraintSpread:
			ng++
		case engine.ConstraintMaintenance:
		default:
			return nil, fmt.Errorf("packed rejections: unknown constraint %d", c)
		}
	}
	for name, n := range map[string]int{"resource": len(p.GetResource()), "allocated": len(p.GetAllocated()),
		"request": len(p.GetRequest()), "capacity": len(p.GetCapacity()), "overcommit": len(p.GetOvercommit())} {
		if n != nc {
			return nil, fmt.Errorf("packed rejections: %d %s values for %d capacity violations", n, name, nc)
		}
	}
	for name, n := range map[string]int{"group": len(p.GetGroup()), "domain": len(p.GetDomain()),
		"count": len(p.GetCount()), "limit": len(p.GetLimit())} {
		if n != ng {
			return nil, fmt.Errorf("packed rejections: %d %s values for %d group violations", n, name, ng)
		}
	}
	str := func(list []string, i int32, what string) (string, error) {
		if i < 0 || int(i) >= len(list) {
			return "", fmt.Errorf("packed rejections: %s index %d of %d", what, i, len(list))
		}
		return list[i], nil
	}
	out := make([]engine.Rejection, len(hosts))
	viol := make([]engine.Violation, nv) // shared by the rejections, as the engine's are
	v, c, g := 0, 0, 0
	for i, hi := range hosts {
		id, ok := hostID(int(hi))
		if !ok {
			return nil, fmt.Errorf("packed rejections: host index %d is not a host of the request", hi)
		}
		start := v
		for range counts[i] {
			x := &viol[v]
			x.Constraint = engine.Constraint(cons[v])
			switch x.Constraint {
			case engine.ConstraintCapacity:
				x.Resource, x.Allocated, x.Request = int(p.Resource[c]), p.Allocated[c], p.Request[c]
				x.Capacity, x.Overcommit = p.Capacity[c], p.Overcommit[c]
				c++
			case engine.ConstraintAntiAffinity, engine.ConstraintSpread:
				var err error
				if x.Group, err = str(p.GetGroups(), p.Group[g], "group"); err != nil {
					return nil, err
				}
				if x.Domain, err = str(p.GetDomains(), p.Domain[g], "domain"); err != nil {
					return nil, err
				}
				x.Count, x.Limit = int(p.Count[g]), int(p.Limit[g])
				g++
			}
			v++
		}
		out[i] = engine.Rejection{Host: id, HostIndex: int(hi), Violations: viol[start:v:v]}
	}
	return out, nil
}

// HostIDs returns the hostID function of PlacementToProtoPacked and
// PlacementFromProtoHosts over a request's hosts.
func HostIDs(hosts []engine.HostState) func(int) (string, bool) {
	return func(i int) (string, bool) {
		if i < 0 || i >= len(hosts) {
			return "", false
		}
		return hosts[i].ID, true
	}
}

// HostIDList is HostIDs over a held request's host ids.
func HostIDList(ids []string) func(int) (string, bool) {
	return func(i int) (string, bool) {
		if i < 0 || i >= len(ids) {
			return "", false
		}
		return ids[i], true
	}
}
