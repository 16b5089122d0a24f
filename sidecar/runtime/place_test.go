package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

const history = 12 // the default placement model's H (checked in TestPlaceGolden)

// TestPlaceGolden runs every golden placement request through PlaceVM and one
// PlaceVMBatch, and requires the golden's answer: the feasible hosts (the golden's list
// where it has one, and the test's independent recount of the constraints, which must
// agree; their rows must add up to the golden's), the rejected ones (the complement), the
// chosen host (the golden's best score, ties to the lowest index), its score and the
// ranking's scores to the bit. (The factor rows themselves are compared bit for bit at
// load and in TestPlaceGoldenBits.)
func TestPlaceGolden(t *testing.T) {
	e := openDefault(t)
	m, g := testbundle.Placement(t)
	if m.FeatureParams.History != history {
		t.Fatalf("model %s has history %d; these tests build requests of %d", m.Name, m.FeatureParams.History, history)
	}
	ctx := context.Background()
	reqs := make([]engine.PlacementRequest, len(g.Placements))
	for i, p := range g.Placements {
		reqs[i] = p.Request
	}
	batch, err := e.PlaceVMBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var defaults engine.Resources
	for k, name := range engine.ResourceNames {
		defaults[k] = m.Thresholds["overcommit_"+name]
	}
	row := 0
	for i, gp := range g.Placements {
		// The feasible hosts: the test's own recount of the constraints, which must agree
		// with the golden's list where it records one.
		var feasible []int
		bad := expectViolations(gp.Request, defaults)
		for h := range gp.Request.Hosts {
			if _, ok := bad[h]; !ok {
				feasible = append(feasible, h)
			}
		}
		if gp.Feasible != nil && !slices.Equal(gp.Feasible, feasible) {
			t.Fatalf("golden request %d: feasible %v, the test's recount %v", i, gp.Feasible, feasible)
		}
		if row+len(feasible) > len(g.Output) {
			t.Fatalf("golden request %d: the feasible hosts run past the golden's %d rows", i, len(g.Output))
		}
		scores := g.Output[row : row+len(feasible)]
		row += len(feasible)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p, err := e.PlaceVM(ctx, gp.Request)
			if err != nil {
				t.Fatal(err)
			}
			if !samePlacement(p, batch[i]) {
				t.Errorf("PlaceVM and PlaceVMBatch differ:\n%+v\n%+v", p, batch[i])
			}
			if p.Feasible != len(feasible) || p.Hosts != len(gp.Request.Hosts) {
				t.Fatalf("%d of %d hosts feasible, golden %d of %d", p.Feasible, p.Hosts, len(feasible), len(gp.Request.Hosts))
			}
			var rejected []int
			for _, r := range p.Rejected {
				rejected = append(rejected, r.HostIndex)
			}
			for h := range gp.Request.Hosts {
				if slices.Contains(feasible, h) == slices.Contains(rejected, h) {
					t.Errorf("host %d: golden feasible %v, rejected %v", h, slices.Contains(feasible, h), slices.Contains(rejected, h))
				}
			}
			order := make([]int, len(feasible)) // golden rows by score, ties by host index
			for k := range order {
				order[k] = k
			}
			slices.SortStableFunc(order, func(a, b int) int {
				switch {
				case scores[a] > scores[b]:
					return -1
				case scores[a] < scores[b]:
					return 1
				}
				return 0
			})
			if len(p.Ranking) != min(5, len(feasible)) {
				t.Fatalf("ranking of %d hosts, want %d", len(p.Ranking), min(5, len(feasible)))
			}
			for k, hs := range p.Ranking {
				want := order[k]
				if hs.HostIndex != feasible[want] || math.Float64bits(hs.Score) != math.Float64bits(float64(scores[want])) {
					t.Errorf("ranking[%d] = host %d score %v, golden host %d score %v", k, hs.HostIndex, hs.Score,
						feasible[want], scores[want])
				}
			}
			if p.HostIndex != p.Ranking[0].HostIndex || p.Host != gp.Request.Hosts[p.HostIndex].ID ||
				math.Float64bits(p.Score) != math.Float64bits(p.Ranking[0].Score) || p.Model.Name != m.Name {
				t.Errorf("placement %+v does not match its ranking %+v", p, p.Ranking[0])
			}
		})
	}
	if row != int(g.InputShape[0]) {
		t.Errorf("the golden's feasible hosts add up to %d rows, its input has %d", row, g.InputShape[0])
	}
}

// samePlacement compares two answers, floats by their bits.
func samePlacement(a, b engine.Placement) bool {
	if !reflect.DeepEqual(a, b) || math.Float64bits(a.Score) != math.Float64bits(b.Score) { // DeepEqual: floats by ==
		return false
	}
	for i := range a.Ranking {
		if math.Float64bits(a.Ranking[i].Score) != math.Float64bits(b.Ranking[i].Score) {
			return false
		}
	}
	for i := range a.TopFactors {
		x, y := a.TopFactors[i], b.TopFactors[i]
		if math.Float64bits(x.Value) != math.Float64bits(y.Value) || math.Float64bits(x.Reference) != math.Float64bits(y.Reference) ||
			math.Float64bits(x.Delta) != math.Float64bits(y.Delta) {
			return false
		}
	}
	return true
}

// hostTypes are the simulator's host types (docs/itp.md): capacity, NIC, cost, failures.
var hostTypes = []struct {
	capacity               engine.Resources
	nic, cost, failureRate float64
}{
	{engine.Resources{83200, 393216, 512000, 1220703}, 10000, 1.0, 0.5},
	{engine.Resources{124800, 393216, 512000, 3051757}, 25000, 1.3, 0.5},
	{engine.Resources{83200, 1048576, 1024000, 3051757}, 25000, 1.6, 0.4},
	{engine.Resources{41600, 131072, 204800, 122070}, 1000, 0.6, 2.0},
}

// randomRequest is a random cluster state with whole-number requests and reservations
// (as in the simulator), many of them exactly at a limit or one above it, random groups,
// peers, maintenance, overcommit and domain counts.
func randomRequest(rng *rand.Rand) engine.PlacementRequest {
	n := 1 + rng.IntN(24)
	domains := 1 + rng.IntN(min(n, 6))
	var r engine.PlacementRequest
	vm := &r.VM
	vm.ID = "vm"
	for k := range engine.NumResources {
		vm.Request[k] = float64([]int{0, 1000, 2600, 8192, 65536, 100000}[rng.IntN(6)])
	}
	vm.History = randomSeries(rng, vm.Request)
	if rng.IntN(4) == 0 {
		for k := range r.Overcommit {
			r.Overcommit[k] = []float64{0, 1, 1.5, 2, 4}[rng.IntN(5)]
		}
	}
	oc := r.Overcommit
	for k, v := range oc {
		if v == 0 {
			oc[k] = []float64{4, 1, 1, 1}[k]
		}
	}
	r.Hosts = make([]engine.HostState, n)
	for i := range r.Hosts {
		ht := hostTypes[rng.IntN(len(hostTypes))]
		h := engine.HostState{
			ID: fmt.Sprintf("h%d", i), Domain: fmt.Sprintf("r%d", rng.IntN(domains)), Capacity: ht.capacity,
			VMCount: rng.IntN(40), NICMbps: ht.nic, FailureRate: ht.failureRate, Cost: ht.cost,
			Maintenance: rng.IntN(10) == 0,
		}
		for k := range engine.NumResources {
			limit := h.Capacity[k] * oc[k]
			switch rng.IntN(10) {
			case 0: // exactly full for this VM: feasible
				h.Allocated[k] = max(0, limit-vm.Request[k])
			case 1: // one above: infeasible
				h.Allocated[k] = max(0, limit-vm.Request[k]+1)
			default:
				h.Allocated[k] = math.Floor(rng.Float64() * limit)
			}
		}
		h.Usage = randomSeries(rng, h.Allocated)
		r.Hosts[i] = h
	}
	if rng.IntN(2) == 0 {
		vm.Group, vm.GroupSize = "g7", 2+rng.IntN(7)
		for range rng.IntN(vm.GroupSize) {
			vm.GroupHosts = append(vm.GroupHosts, r.Hosts[rng.IntN(n)].ID)
		}
	}
	for range rng.IntN(8) {
		vm.PeerHosts = append(vm.PeerHosts, r.Hosts[rng.IntN(n)].ID)
	}
	if rng.IntN(5) == 0 {
		r.Domains = distinctDomains(r.Hosts) + rng.IntN(3)
	}
	return r
}

// randomSeries is H samples of demand below scale, rounded to 1/1000.
func randomSeries(rng *rand.Rand, scale engine.Resources) []float64 {
	s := make([]float64, history*engine.NumResources)
	for i := range s {
		s[i] = math.Round(rng.Float64()*scale[i%engine.NumResources]*1000) / 1000
	}
	return s
}

func distinctDomains(hosts []engine.HostState) int {
	seen := map[string]bool{}
	for _, h := range hosts {
		seen[h.Domain] = true
	}
	return len(seen)
}

// expectViolations recomputes the hard constraints of docs/itp.md for every host, plainly
// and independently of the runtime: host -> the failed constraints, one entry per failed
// capacity resource ("capacity/1" for memory).
func expectViolations(r engine.PlacementRequest, defaults engine.Resources) map[int][]string {
	oc := r.Overcommit
	for k := range oc {
		if oc[k] == 0 {
			oc[k] = defaults[k]
		}
	}
	D := r.Domains
	if D == 0 {
		D = distinctDomains(r.Hosts)
	}
	domainOf := func(id string) string {
		for _, h := range r.Hosts {
			if h.ID == id {
				return h.Domain
			}
		}
		panic("unknown host " + id)
	}
	out := map[int][]string{}
	for i, h := range r.Hosts {
		var v []string
		for k := range engine.NumResources {
			if h.Allocated[k]+r.VM.Request[k] > h.Capacity[k]*oc[k] {
				v = append(v, fmt.Sprintf("capacity/%d", k))
			}
		}
		if g := r.VM.GroupSize; g > 1 {
			onHost, inDomain := 0, 0
			for _, id := range r.VM.GroupHosts {
				if id == h.ID {
					onHost++
				}
				if domainOf(id) == h.Domain {
					inDomain++
				}
			}
			if onHost > 0 {
				v = append(v, "anti-affinity")
			}
			if float64(inDomain) >= math.Ceil(float64(g)/float64(D)) {
				v = append(v, "spread")
			}
		}
		if h.Maintenance {
			v = append(v, "maintenance")
		}
		if len(v) > 0 {
			out[i] = v
		}
	}
	return out
}

// gotViolations renders a rejection's violations like expectViolations.
func gotViolations(r engine.Rejection) []string {
	var v []string
	for _, x := range r.Violations {
		s := x.Constraint.String()
		if x.Constraint == engine.ConstraintCapacity {
			s = fmt.Sprintf("capacity/%d", x.Resource)
		}
		v = append(v, s)
	}
	return v
}

// TestPlaceConstraintsProperty: over thousands of random clusters, the chosen host
// satisfies every hard constraint, the rejected hosts are exactly the others with exactly
// the constraints they fail, and when no host is feasible the error accounts for every
// host. Seeded, so a failure reproduces.
func TestPlaceConstraintsProperty(t *testing.T) {
	e := openDefault(t)
	m, _ := testbundle.Placement(t)
	var defaults engine.Resources
	for k, name := range engine.ResourceNames {
		defaults[k] = m.Thresholds["overcommit_"+name]
	}
	rng := rand.New(rand.NewPCG(6, 2026))
	ctx := context.Background()
	placed, none := 0, 0
	for c := range 3000 {
		r := randomRequest(rng)
		want := expectViolations(r, defaults)
		p, err := e.PlaceVM(ctx, r)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("cluster %d (%d hosts): %s", c, len(r.Hosts), fmt.Sprintf(format, args...))
		}
		var rejected []engine.Rejection
		if err != nil {
			var nf *engine.NoFeasibleHostError
			if !errors.Is(err, engine.ErrNoFeasibleHost) || !errors.As(err, &nf) {
				fail("%v", err)
			}
			if len(want) != len(r.Hosts) {
				fail("no feasible host, but %d of %d hosts satisfy every constraint: %v", len(r.Hosts)-len(want), len(r.Hosts), err)
			}
			if nf.Hosts != len(r.Hosts) || len(nf.Rejected) != len(r.Hosts) {
				fail("the error lists %d of %d hosts", len(nf.Rejected), len(r.Hosts))
			}
			for con, n := range engine.RejectedBy(nf.Rejected) {
				if s := fmt.Sprintf("%s removed %d (e.g. ", con, n); !strings.Contains(err.Error(), s) {
					fail("%q lacks %q", err, s)
				}
			}
			rejected = nf.Rejected
			none++
		} else {
			if v, bad := want[p.HostIndex]; bad {
				fail("chose host %d (%s), which fails %v", p.HostIndex, p.Host, v)
			}
			if p.Feasible != len(r.Hosts)-len(want) || p.Hosts != len(r.Hosts) {
				fail("%d of %d feasible, want %d", p.Feasible, p.Hosts, len(r.Hosts)-len(want))
			}
			for k, hs := range p.Ranking {
				if _, bad := want[hs.HostIndex]; bad {
					fail("ranking[%d] is infeasible host %d", k, hs.HostIndex)
				}
				if k > 0 && (hs.Score > p.Ranking[k-1].Score || hs.Score == p.Ranking[k-1].Score && hs.HostIndex < p.Ranking[k-1].HostIndex) {
					fail("ranking out of order: %+v", p.Ranking)
				}
			}
			rejected = p.Rejected
			placed++
		}
		if len(rejected) != len(want) {
			fail("%d hosts rejected, want %d", len(rejected), len(want))
		}
		for k, rj := range rejected {
			if k > 0 && rj.HostIndex <= rejected[k-1].HostIndex {
				fail("rejections out of host order")
			}
			if got := gotViolations(rj); !slices.Equal(got, want[rj.HostIndex]) {
				fail("host %d (%s) rejected for %v, want %v (%s)", rj.HostIndex, rj.Host, got, want[rj.HostIndex], rj)
			}
		}
	}
	t.Logf("%d placed, %d with no feasible host", placed, none)
	if placed < 300 || none < 300 {
		t.Errorf("the generator should exercise both outcomes: %d placed, %d none", placed, none)
	}
}

// clone deep-copies a request, so a test case may change any of it.
func clone(r engine.PlacementRequest) engine.PlacementRequest {
	c := r
	c.VM.History = slices.Clone(r.VM.History)
	c.VM.GroupHosts = slices.Clone(r.VM.GroupHosts)
	c.VM.PeerHosts = slices.Clone(r.VM.PeerHosts)
	c.Hosts = slices.Clone(r.Hosts)
	for i := range c.Hosts {
		c.Hosts[i].Usage = slices.Clone(r.Hosts[i].Usage)
	}
	return c
}

// smallCluster is three empty std hosts in two domains and a 4-vCPU, 8 GB VM.
func smallCluster() engine.PlacementRequest {
	r := engine.PlacementRequest{VM: engine.VMRequest{
		Request: engine.Resources{10400, 8192, 1000, 2000}, History: make([]float64, history*engine.NumResources)}}
	for i, d := range []string{"r0", "r0", "r1"} {
		r.Hosts = append(r.Hosts, engine.HostState{ID: fmt.Sprintf("h%d", i), Domain: d,
			Capacity: hostTypes[0].capacity, Usage: make([]float64, history*engine.NumResources),
			NICMbps: 10000, FailureRate: 0.5, Cost: 1})
	}
	return r
}

func TestPlaceErrors(t *testing.T) {
	e, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{MaxBatch: 3, MaxHosts: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	base := smallCluster()
	with := func(change func(r *engine.PlacementRequest)) engine.PlacementRequest {
		r := clone(base)
		change(&r)
		return r
	}
	place := func(r engine.PlacementRequest) func() error {
		return func() error { _, err := e.PlaceVM(ctx, r); return err }
	}
	tests := []struct {
		name string
		call func() error
		want error
		msg  string
	}{
		{"no hosts", place(with(func(r *engine.PlacementRequest) { r.Hosts = nil })),
			engine.ErrInvalidInput, "place vm itp: no hosts; send every host of the cluster"},
		{"short history", place(with(func(r *engine.PlacementRequest) { r.VM.History = r.VM.History[:47] })),
			engine.ErrInvalidInput, "vm.history has 47 values; model itp takes 12 samples × 4 resources = 48"},
		{"NaN request", place(with(func(r *engine.PlacementRequest) { r.VM.Request[1] = math.NaN() })),
			engine.ErrInvalidInput, "vm.request.mem_mb is NaN; values must be finite and >= 0"},
		{"negative history", place(with(func(r *engine.PlacementRequest) { r.VM.History[6] = -2 })),
			engine.ErrInvalidInput, "vm.history[6] (sample 1, disk_kbs) is -2"},
		{"Inf usage", place(with(func(r *engine.PlacementRequest) { r.Hosts[1].Usage[5] = math.Inf(1) })),
			engine.ErrInvalidInput, "hosts[1] (h1).usage[5] (sample 1, mem_mb) is +Inf"},
		{"long usage", place(with(func(r *engine.PlacementRequest) { r.Hosts[2].Usage = append(r.Hosts[2].Usage, 0) })),
			engine.ErrInvalidInput, "hosts[2] (h2).usage has 49 values; model itp takes 12 samples × 4 resources = 48"},
		{"negative allocated", place(with(func(r *engine.PlacementRequest) { r.Hosts[0].Allocated[0] = -1 })),
			engine.ErrInvalidInput, "hosts[0] (h0).allocated.cpu_mhz is -1"},
		{"zero capacity", place(with(func(r *engine.PlacementRequest) { r.Hosts[2].Capacity[2] = 0 })),
			engine.ErrInvalidInput, "hosts[2] (h2).capacity.disk_kbs is 0; capacities must be finite and > 0"},
		{"NaN cost", place(with(func(r *engine.PlacementRequest) { r.Hosts[1].Cost = math.NaN() })),
			engine.ErrInvalidInput, "hosts[1] (h1).cost is NaN"},
		{"negative vm count", place(with(func(r *engine.PlacementRequest) { r.Hosts[1].VMCount = -1 })),
			engine.ErrInvalidInput, "hosts[1] (h1).vm_count is -1"},
		{"no host id", place(with(func(r *engine.PlacementRequest) { r.Hosts[1].ID = "" })),
			engine.ErrInvalidInput, "hosts[1] has no id"},
		{"duplicate host id", place(with(func(r *engine.PlacementRequest) { r.Hosts[2].ID = "h0" })),
			engine.ErrInvalidInput, `hosts[0] and hosts[2] are both "h0"; host ids must be unique`},
		{"unknown group host", place(with(func(r *engine.PlacementRequest) {
			r.VM.Group, r.VM.GroupSize, r.VM.GroupHosts = "g3", 3, []string{"h1", "h9"}
		})), engine.ErrInvalidInput, `vm.group_hosts[1] is "h9", not a host of the request`},
		{"unknown peer host", place(with(func(r *engine.PlacementRequest) { r.VM.PeerHosts = []string{"x"} })),
			engine.ErrInvalidInput, `vm.peer_hosts[0] is "x", not a host of the request`},
		{"group larger than declared", place(with(func(r *engine.PlacementRequest) {
			r.VM.Group, r.VM.GroupSize, r.VM.GroupHosts = "g3", 2, []string{"h1", "h2"}
		})), engine.ErrInvalidInput, `vm.group_hosts lists 2 placed members of group "g3", but group_size 2 counts the VM itself: at most 1`},
		{"members without a group", place(with(func(r *engine.PlacementRequest) { r.VM.GroupHosts = []string{"h1"} })),
			engine.ErrInvalidInput, "group_size 0 counts the VM itself: at most 0"},
		{"negative group size", place(with(func(r *engine.PlacementRequest) { r.VM.GroupSize = -1 })),
			engine.ErrInvalidInput, "vm.group_size is -1"},
		{"negative overcommit", place(with(func(r *engine.PlacementRequest) { r.Overcommit[0] = -4 })),
			engine.ErrInvalidInput, "overcommit.cpu_mhz is -4; ratios must be finite and > 0 (0 = the bundle's default 4)"},
		{"too few domains", place(with(func(r *engine.PlacementRequest) { r.Domains = 1 })),
			engine.ErrInvalidInput, "domains is 1, but the hosts are in 2 distinct domains"},
		{"negative domains", place(with(func(r *engine.PlacementRequest) { r.Domains = -1 })),
			engine.ErrInvalidInput, "domains is -1"},
		{"factor beyond float32", place(with(func(r *engine.PlacementRequest) { r.Hosts[1].Capacity[3] = 1e300 })),
			engine.ErrInvalidInput, `hosts[1] (h1): featurecore: place: factor "host_capacity_net": a result does not fit float32`},
		{"no feasible host", place(with(func(r *engine.PlacementRequest) {
			r.Hosts[0].Allocated[1] = 393216 - 8192 + 1
			r.Hosts[1].Maintenance = true
			r.VM.Group, r.VM.GroupSize, r.VM.GroupHosts = "g3", 2, []string{"h2"}
		})), engine.ErrNoFeasibleHost, "place vm itp: no feasible host among 3: " +
			"capacity removed 1 (e.g. h0: capacity mem_mb: 385025 + 8192 > 393216 × 1), " +
			"anti-affinity removed 1 (e.g. h2: anti-affinity: group g3 already on host), " +
			"spread removed 1 (e.g. h2: spread: 1 of group g3 in domain r1, limit 1), maintenance removed 1 (e.g. h1)"},
		{"spread", place(with(func(r *engine.PlacementRequest) {
			for i := range r.Hosts {
				r.Hosts[i].Domain = fmt.Sprint("r", i)
			}
			r.Hosts[2].Maintenance = true
			r.VM.Group, r.VM.GroupSize, r.VM.GroupHosts = "g3", 4, []string{"h0", "h1"}
			r.Domains = 4 // limit ceil(4/4) = 1
		})), engine.ErrNoFeasibleHost, "no feasible host among 3: anti-affinity removed 2 (e.g. h0: anti-affinity: " +
			"group g3 already on host), spread removed 2 (e.g. h0: spread: 1 of group g3 in domain r0, limit 1), " +
			"maintenance removed 1 (e.g. h2)"},
		{"batch names the request", func() error {
			_, err := e.PlaceVMBatch(ctx, []engine.PlacementRequest{base, with(func(r *engine.PlacementRequest) { r.Hosts[1].Cost = -1 })})
			return err
		}, engine.ErrInvalidInput, "request 1: hosts[1] (h1).cost is -1"},
		{"batch no feasible host names the request", func() error {
			_, err := e.PlaceVMBatch(ctx, []engine.PlacementRequest{with(func(r *engine.PlacementRequest) {
				r.Overcommit = engine.Resources{0.1, 0.1, 0.1, 0.1}
			}), base})
			return err
		}, engine.ErrNoFeasibleHost, "request 0: no feasible host among 3: capacity removed 3"},
		{"empty batch", func() error { _, err := e.PlaceVMBatch(ctx, nil); return err },
			engine.ErrInvalidInput, "no placement requests"},
		{"too many requests", func() error { _, err := e.PlaceVMBatch(ctx, make([]engine.PlacementRequest, 4)); return err },
			engine.ErrTooLarge, "4 requests in one call; the limit is 3"},
		{"too many hosts", func() error {
			_, err := e.PlaceVMBatch(ctx, []engine.PlacementRequest{base, base, base})
			return err
		}, engine.ErrTooLarge, "9 hosts in one call; the limit is 8"},
		{"canceled", func() error { _, err := e.PlaceVM(canceled, base); return err },
			engine.ErrCanceled, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v\nwant %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
	// Still serving, and the base request places.
	if _, err := e.PlaceVM(ctx, base); err != nil {
		t.Fatal(err)
	}
}

// TestPlaceNoPlacementModel: a bundle without a placement model says so.
func TestPlaceNoPlacementModel(t *testing.T) {
	dir := testbundle.Copy(t)
	path := filepath.Join(dir, "manifest.json")
	var m map[string]any
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["models"] = slices.DeleteFunc(m["models"].([]any), func(x any) bool { return x.(map[string]any)["family"] == "itp" })
	data, _ = json.Marshal(m)
	testbundle.Write(t, path, string(data))
	e, err := runtime.Open(context.Background(), dir, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.PlaceVM(context.Background(), smallCluster())
	if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "has no itp model") {
		t.Fatalf("got %v", err)
	}
}

// TestPlaceTies: equal scores go to the lowest host index, and two hosts with the same
// factor row leave nothing to explain.
func TestPlaceTies(t *testing.T) {
	e := openDefault(t)
	ctx := context.Background()
	r := smallCluster()
	r.Hosts = r.Hosts[:2] // two identical hosts in one domain
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		c := clone(r)
		c.Hosts[0], c.Hosts[1] = r.Hosts[order[0]], r.Hosts[order[1]]
		p, err := e.PlaceVM(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if p.HostIndex != 0 || p.Host != c.Hosts[0].ID || len(p.Ranking) != 2 || p.Ranking[1].HostIndex != 1 ||
			p.Ranking[0].Score != p.Ranking[1].Score || p.TopFactors != nil {
			t.Errorf("order %v: %+v", order, p)
		}
	}
	one := clone(r)
	one.Hosts[1].Maintenance = true
	p, err := e.PlaceVM(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	if p.HostIndex != 0 || p.Feasible != 1 || len(p.Ranking) != 1 || p.TopFactors != nil ||
		!strings.Contains(p.Summary(), "the only feasible host") {
		t.Errorf("one feasible host: %+v (%s)", p, p.Summary())
	}
}

// TestPlace1000Hosts: the golden's first request scaled to 1,000 hosts places, with the
// same answer in a batch and alone, and explains itself.
func TestPlace1000Hosts(t *testing.T) {
	e := openDefault(t)
	_, g := testbundle.Placement(t)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	ctx := context.Background()
	p, err := e.PlaceVM(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hosts != 1000 || p.Feasible+len(p.Rejected) != 1000 || len(p.Ranking) != 5 {
		t.Fatalf("%s", p.Summary())
	}
	batch, err := e.PlaceVMBatch(ctx, []engine.PlacementRequest{r, smallCluster(), r})
	if err != nil {
		t.Fatal(err)
	}
	if !samePlacement(batch[0], p) || !samePlacement(batch[2], p) {
		t.Errorf("batch answers differ from the single call:\n%+v\n%+v", batch[0], p)
	}
	t.Log(p.Summary())
}

// TestPlaceMemoryStable: 20,000 PlaceVM calls (each with a scoring and an occlusion model
// run, so four tensors, and a pooled scratch) do not grow resident memory.
func TestPlaceMemoryStable(t *testing.T) {
	e := openDefault(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var reqs []engine.PlacementRequest
	for len(reqs) < 50 {
		if r := randomRequest(rng); len(r.Hosts) > 10 {
			reqs = append(reqs, r)
		}
	}
	run := func(n int) {
		for i := range n {
			if _, err := e.PlaceVM(ctx, reqs[i%len(reqs)]); err != nil && !errors.Is(err, engine.ErrNoFeasibleHost) {
				t.Fatal(err)
			}
		}
	}
	run(2000)
	before := rss(t)
	const calls = 20_000
	run(calls)
	after := rss(t)
	t.Logf("%d PlaceVM calls: RSS %.1f MiB -> %.1f MiB, growth %+.2f MiB", calls, mib(before), mib(after), mib(after-before))
	if after-before > 4<<20 {
		t.Fatalf("resident memory grew by %.1f MiB over %d PlaceVM calls: a leak", mib(after-before), calls)
	}
}
