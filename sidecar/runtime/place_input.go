package runtime

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// validate checks a request before anything uses it; the error names the field, and the
// host by index and ID. Values must be finite and >= 0, capacities > 0, histories H
// samples, host IDs unique and non-empty, group and peer hosts among the hosts.
func (m *model) validate(r *engine.PlacementRequest, prefix string) error {
	fail := func(format string, args ...any) error { return fmt.Errorf(prefix+format, args...) }
	H := m.placeParams.History
	want := H * engine.NumResources
	vm := &r.VM
	if len(r.Hosts) == 0 {
		return fail("no hosts; send every host of the cluster (full and in-maintenance hosts too)")
	}
	for k, v := range vm.Request {
		if bad(v) {
			return fail("vm.request.%s is %v; values must be finite and >= 0", engine.ResourceNames[k], v)
		}
	}
	if len(vm.History) != want {
		return fail("vm.history has %d values; model %s takes %d samples × %d resources = %d (%v per sample, "+
			"%d s apart, oldest first)", len(vm.History), m.entry.Name, H, engine.NumResources, want,
			engine.ResourceNames, m.placeParams.StepSeconds)
	}
	if k := firstBad(vm.History); k >= 0 {
		return fail("vm.history[%d] (sample %d, %s) is %v; values must be finite and >= 0", k,
			k/engine.NumResources, engine.ResourceNames[k%engine.NumResources], vm.History[k])
	}
	switch g, n := vm.GroupSize, len(vm.GroupHosts); {
	case g < 0:
		return fail("vm.group_size is %d; it must be >= 0 (0 or 1: no group)", g)
	case n > 0 && n > g-1:
		return fail("vm.group_hosts lists %d placed members of group %q, but group_size %d counts the VM "+
			"itself: at most %d", n, vm.Group, g, max(g-1, 0))
	}
	for k, v := range r.Overcommit {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fail("overcommit.%s is %v; ratios must be finite and > 0 (0 = the bundle's default %g)",
				engine.ResourceNames[k], v, m.overcommit[k])
		}
	}
	if r.Domains < 0 {
		return fail("domains is %d; it must be >= 0 (0 = the distinct domains of the hosts)", r.Domains)
	}
	for i := range r.Hosts {
		h := &r.Hosts[i]
		host := func(format string, args ...any) error {
			return fail("hosts[%d] (%s).%s", append([]any{i, h.ID}, fmt.Sprintf(format, args...))...)
		}
		if h.ID == "" {
			return fail("hosts[%d] has no id", i)
		}
		for k := range engine.NumResources {
			if v := h.Capacity[k]; !(v > 0) || math.IsInf(v, 0) {
				return host("capacity.%s is %v; capacities must be finite and > 0", engine.ResourceNames[k], v)
			}
			if v := h.Allocated[k]; bad(v) {
				return host("allocated.%s is %v; values must be finite and >= 0", engine.ResourceNames[k], v)
			}
		}
		if len(h.Usage) != want {
			return host("usage has %d values; model %s takes %d samples × %d resources = %d, like vm.history",
				len(h.Usage), m.entry.Name, H, engine.NumResources, want)
		}
		if k := firstBad(h.Usage); k >= 0 {
			return host("usage[%d] (sample %d, %s) is %v; values must be finite and >= 0", k,
				k/engine.NumResources, engine.ResourceNames[k%engine.NumResources], h.Usage[k])
		}
		switch {
		case h.VMCount < 0:
			return host("vm_count is %d; it must be >= 0", h.VMCount)
		case bad(h.NICMbps):
			return host("nic_mbps is %v; values must be finite and >= 0", h.NICMbps)
		case bad(h.FailureRate):
			return host("failure_rate is %v; values must be finite and >= 0", h.FailureRate)
		case bad(h.Cost):
			return host("cost is %v; values must be finite and >= 0", h.Cost)
		}
	}
	return nil
}

// bad reports a value that is not finite and >= 0 (NaN, ±Inf, negative).
func bad(v float64) bool { return !(v >= 0) || math.IsInf(v, 1) }

// firstBad returns the index of the first bad value of s, or -1. The common case (all
// good) is one branch-free scan: a value is good when its bits, with -0.0 taken as +0.0,
// are at most those of the largest finite double (NaN and +Inf are above, every negative
// has the sign bit); only a bad scan looks for the index.
func firstBad(s []float64) int {
	var top uint64
	for _, v := range s {
		b := math.Float64bits(v)
		if b == 1<<63 { // -0.0 (a conditional move, not a branch)
			b = 0
		}
		top = max(top, b)
	}
	if top <= math.Float64bits(math.MaxFloat64) {
		return -1
	}
	for k, v := range s {
		if bad(v) {
			return k
		}
	}
	return -1
}

// index builds the request's per-host and per-domain counts in sc: host and domain
// indices, hosts, allocated and capacity CPU per domain (summed in host order, as
// numpy.bincount does), and the members and peers per host and per domain. The checks
// that need the index (duplicate IDs, unknown group or peer hosts, too few domains) are
// returned as errors.
func (m *model) index(sc *placeScratch, r *engine.PlacementRequest) error {
	n := len(r.Hosts)
	clear(sc.hostIdx)
	clear(sc.domIdx)
	sc.hostDom = grow(sc.hostDom, n)
	lastDom, last := "", int32(-1) // hosts of a domain often come together: one lookup per run
	for i := range r.Hosts {
		h := &r.Hosts[i]
		if sc.hostIdx[h.ID] = int32(i); len(sc.hostIdx) != i+1 { // one hash per host; a repeat does not grow the map
			j := slices.IndexFunc(r.Hosts, func(o engine.HostState) bool { return o.ID == h.ID })
			return fmt.Errorf("hosts[%d] and hosts[%d] are both %q; host ids must be unique", j, i, h.ID)
		}
		if last < 0 || h.Domain != lastDom {
			d, ok := sc.domIdx[h.Domain]
			if !ok {
				d = int32(len(sc.domIdx))
				sc.domIdx[h.Domain] = d
			}
			lastDom, last = h.Domain, d
		}
		sc.hostDom[i] = last
	}
	D := len(sc.domIdx)
	if r.Domains != 0 && r.Domains < D {
		return fmt.Errorf("domains is %d, but the hosts are in %d distinct domains", r.Domains, D)
	}
	sc.domHosts = zeroed(sc.domHosts, D)
	sc.domAlloc = zeroed(sc.domAlloc, D)
	sc.domCap = zeroed(sc.domCap, D)
	for i := range r.Hosts {
		d := sc.hostDom[i]
		sc.domHosts[d]++
		sc.domAlloc[d] += r.Hosts[i].Allocated[engine.ResourceCPU]
		sc.domCap[d] += r.Hosts[i].Capacity[engine.ResourceCPU]
	}
	var err error
	sc.hostMembers, sc.domMembers, err = sc.count(sc.hostMembers, sc.domMembers, r.VM.GroupHosts, "vm.group_hosts", n, D)
	if err != nil {
		return err
	}
	sc.hostPeers, sc.domPeers, err = sc.count(sc.hostPeers, sc.domPeers, r.VM.PeerHosts, "vm.peer_hosts", n, D)
	return err
}

// count tallies the host IDs of ids per host and per domain.
func (sc *placeScratch) count(perHost, perDom []int32, ids []string, field string, n, D int) ([]int32, []int32, error) {
	perHost, perDom = zeroed(perHost, n), zeroed(perDom, D)
	for k, id := range ids {
		i, ok := sc.hostIdx[id]
		if !ok {
			return perHost, perDom, fmt.Errorf("%s[%d] is %q, not a host of the request", field, k, id)
		}
		perHost[i]++
		perDom[sc.hostDom[i]]++
	}
	return perHost, perDom, nil
}

// filter applies the hard constraints of training/itp/constraints.py to every host:
// maintenance; capacity, Allocated + Request <= Capacity × Overcommit per resource (in
// float64, as numpy); and when GroupSize > 1, anti-affinity (no member on the host) and
// spread (members in the host's domain < ceil(GroupSize / D)). It appends the feasible
// hosts to sc.feasible, records every rejected host with every constraint it fails, and
// returns the error listing them all when none is feasible.
func (m *model) filter(sc *placeScratch, j *placeJob) *engine.NoFeasibleHostError {
	r := j.req
	oc := m.overcommit
	for k, v := range r.Overcommit {
		if v != 0 {
			oc[k] = v
		}
	}
	g := r.VM.GroupSize
	D := r.Domains
	if D == 0 {
		D = len(sc.domIdx)
	}
	limit := g / D // ceil(g / D), without overflow
	if g%D != 0 {
		limit++
	}
	// Every rejected host's violations, built in the scratch and copied once into the
	// answer's own slices (one allocation each, not a growing slice per call).
	viol, rej := sc.viol[:0], sc.rej[:0]
	for i := range r.Hosts {
		h := &r.Hosts[i]
		start := len(viol)
		for k := range engine.NumResources {
			need := float64(h.Allocated[k] + r.VM.Request[k])
			lim := float64(h.Capacity[k] * oc[k])
			if !(need <= lim) {
				viol = append(viol, engine.Violation{Constraint: engine.ConstraintCapacity, Resource: k,
					Allocated: h.Allocated[k], Request: r.VM.Request[k], Capacity: h.Capacity[k], Overcommit: oc[k]})
			}
		}
		if g > 1 {
			if c := int(sc.hostMembers[i]); c > 0 {
				viol = append(viol, engine.Violation{Constraint: engine.ConstraintAntiAffinity,
					Group: r.VM.Group, Domain: h.Domain, Count: c, Limit: limit})
			}
			if c := int(sc.domMembers[sc.hostDom[i]]); c >= limit {
				viol = append(viol, engine.Violation{Constraint: engine.ConstraintSpread,
					Group: r.VM.Group, Domain: h.Domain, Count: c, Limit: limit})
			}
		}
		if h.Maintenance {
			viol = append(viol, engine.Violation{Constraint: engine.ConstraintMaintenance})
		}
		if len(viol) == start {
			sc.feasible = append(sc.feasible, int32(i))
			continue
		}
		rej = append(rej, rejected{host: int32(i), start: int32(start), end: int32(len(viol))})
	}
	sc.viol, sc.rej = viol, rej
	if len(rej) > 0 {
		own := append([]engine.Violation(nil), viol...)
		j.rejected = make([]engine.Rejection, len(rej))
		for k, x := range rej {
			j.rejected[k] = engine.Rejection{Host: r.Hosts[x.host].ID, HostIndex: int(x.host),
				Violations: own[x.start:x.end:x.end]}
		}
	}
	j.n = len(sc.feasible) - j.off
	if j.n == 0 {
		return &engine.NoFeasibleHostError{Hosts: len(r.Hosts), Rejected: j.rejected}
	}
	return nil
}

// assemble writes the placement-contract inputs of the feasible hosts (the arithmetic of
// training/itp/query.py, in the same order) and appends their factor rows to sc.factors.
func (m *model) assemble(sc *placeScratch, j *placeJob) error {
	in, err := m.assembleInputs(sc, j)
	if err != nil {
		return err
	}
	F := m.inLen
	sc.factors = extend(sc.factors, (j.off+j.n)*F)
	if err := featurecore.PlaceFactors(m.placeParams, &in, sc.factors[j.off*F:]); err != nil {
		var fe *featurecore.Error
		hosts := sc.feasible[j.off : j.off+j.n]
		if errors.As(err, &fe) && fe.Index >= 0 && int(fe.Index) < j.n {
			// The core counts the feasible rows; name the request's host instead.
			hi, at := hosts[fe.Index], *fe
			at.Index = -1
			return fmt.Errorf("hosts[%d] (%s): %w", hi, j.req.Hosts[hi].ID, &at)
		}
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}

// assembleInputs writes the feasible hosts' contract inputs into sc and returns the
// feature core's input over them.
func (m *model) assembleInputs(sc *placeScratch, j *placeJob) (featurecore.PlaceInput, error) {
	r := j.req
	const R, I = engine.NumResources, featurecore.PlaceHostInfo
	H := m.placeParams.History
	hosts := sc.feasible[j.off : j.off+j.n]
	k := len(hosts)
	sc.capacity = grow(sc.capacity, k*R)
	sc.allocated = grow(sc.allocated, k*R)
	sc.usage = grow(sc.usage, k*H*R)
	sc.info = grow(sc.info, k*I)
	groupDomains := 0
	for _, c := range sc.domMembers {
		if c > 0 {
			groupDomains++
		}
	}
	peers := float64(len(r.VM.PeerHosts))
	for row, hi := range hosts {
		h := &r.Hosts[hi]
		d := sc.hostDom[hi]
		copy(sc.capacity[row*R:], h.Capacity[:])
		copy(sc.allocated[row*R:], h.Allocated[:])
		copy(sc.usage[row*H*R:(row+1)*H*R], h.Usage)
		info := sc.info[row*I : (row+1)*I]
		inDom := int(sc.domMembers[d])
		after := groupDomains
		if inDom == 0 {
			after++
		}
		pOn, pIn := float64(sc.hostPeers[hi]), float64(sc.domPeers[d])
		dist := 0.0
		if peers > 0 {
			// Hops to each peer: 0 same host, 1 same domain, 2 another domain. The explicit
			// conversions round each product, so no compiler may fuse them (FMA).
			dist = (float64((pIn-pOn)*1.0) + float64((peers-pIn)*2.0)) / peers
		}
		info[0] = float64(h.VMCount)
		info[1] = float64(sc.hostMembers[hi])
		info[2] = float64(inDom)
		info[3] = float64(groupDomains)
		info[4] = float64(after)
		info[5] = pOn
		info[6] = pIn
		info[7] = dist
		info[8] = h.NICMbps
		info[9] = h.FailureRate
		info[10] = h.Cost
		info[11] = sc.domAlloc[d] / sc.domCap[d]
		info[12] = float64(sc.domHosts[d])
	}
	sc.vmInfo = [featurecore.PlaceVMInfo]float64{float64(len(r.VM.GroupHosts)), peers}
	return featurecore.PlaceInput{
		VMRequest: r.VM.Request[:], VMHistory: r.VM.History, VMInfo: sc.vmInfo[:],
		Hosts: k, HostCapacity: sc.capacity, HostAllocated: sc.allocated, HostUsage: sc.usage, HostInfo: sc.info,
	}, nil
}
