package engine

import "testing"

func TestPlacementMessages(t *testing.T) {
	capacity := Violation{Constraint: ConstraintCapacity, Resource: ResourceMem, Allocated: 61440, Request: 8192, Capacity: 65536, Overcommit: 1}
	anti := Violation{Constraint: ConstraintAntiAffinity, Group: "g3", Count: 2}
	spread := Violation{Constraint: ConstraintSpread, Group: "g3", Domain: "r1", Count: 2, Limit: 2}
	maint := Violation{Constraint: ConstraintMaintenance}
	for _, tc := range []struct {
		got, want string
	}{
		{capacity.String(), "capacity mem_mb: 61440 + 8192 > 65536 × 1"},
		{Violation{Constraint: ConstraintCapacity, Resource: 0, Allocated: 1e21, Request: 0.5, Capacity: 2, Overcommit: 4}.String(),
			"capacity cpu_mhz: 1e+21 + 0.5 > 2 × 4"},
		{anti.String(), "anti-affinity: group g3 already on host (2 members)"},
		{spread.String(), "spread: 2 of group g3 in domain r1, limit 2"},
		{maint.String(), "maintenance"},
		{Rejection{Host: "h3", Violations: []Violation{capacity, maint}}.String(), "h3: capacity mem_mb: 61440 + 8192 > 65536 × 1; maintenance"},
		{Constraint(9).String(), "constraint(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}

	rejected := []Rejection{
		{Host: "h0", Violations: []Violation{maint}},
		{Host: "h1", HostIndex: 1, Violations: []Violation{capacity, {Constraint: ConstraintCapacity, Resource: ResourceNet}, spread}},
		{Host: "h2", HostIndex: 2, Violations: []Violation{anti, spread}},
	}
	counts := RejectedBy(rejected)
	if counts[ConstraintCapacity] != 1 || counts[ConstraintSpread] != 2 || counts[ConstraintMaintenance] != 1 || counts[ConstraintAntiAffinity] != 1 {
		t.Errorf("counts %v", counts)
	}
	nf := &NoFeasibleHostError{Hosts: 3, Rejected: rejected}
	if want := "no feasible host among 3: capacity removed 1 (e.g. h1: capacity mem_mb: 61440 + 8192 > 65536 × 1), " +
		"anti-affinity removed 1 (e.g. h2: anti-affinity: group g3 already on host (2 members)), " +
		"spread removed 2 (e.g. h1: spread: 2 of group g3 in domain r1, limit 2), maintenance removed 1 (e.g. h0)"; nf.Error() != want {
		t.Errorf("%q\nwant %q", nf.Error(), want)
	}

	p := Placement{Host: "h3", Score: 0.5, Hosts: 4, Feasible: 2, Rejected: rejected[:1],
		Ranking:    []HostScore{{Host: "h3", Score: 0.5}, {Host: "h4", Score: 0.25}},
		Reference:  HostScore{Host: "h4", Score: 0.25},
		TopFactors: []FactorEffect{{Name: "host_mean_cpu", Delta: -0.125}, {Name: "cost", Delta: -0.0625}}}
	for _, tc := range []struct {
		p    Placement
		want string
	}{
		{p, "h3 (score 0.5); 2 of 4 hosts feasible (maintenance removed 1); vs h4 (0.25): host_mean_cpu -0.125, cost -0.0625"},
		{func() Placement { q := p; q.TopFactors = nil; return q }(),
			"h3 (score 0.5); 2 of 4 hosts feasible (maintenance removed 1); vs h4 (0.25): no single factor decides"},
		{func() Placement {
			q := p
			q.Ranking, q.Reference, q.TopFactors, q.Rejected = []HostScore{{Host: "h3", Score: 0.5}, {Host: "h4", Score: 0.5}}, HostScore{}, nil, nil
			return q
		}(), "h3 (score 0.5, tied with h4: the lowest index wins); 2 of 4 hosts feasible; every feasible host scores the same"},
		{Placement{Host: "h0", Score: 1, Hosts: 1, Feasible: 1, Ranking: []HostScore{{Host: "h0", Score: 1}}},
			"h0 (score 1); 1 of 1 hosts feasible; the only feasible host"},
	} {
		if got := tc.p.Summary(); got != tc.want {
			t.Errorf("%q\nwant %q", got, tc.want)
		}
	}
}
