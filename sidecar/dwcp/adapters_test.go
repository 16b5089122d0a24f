//go:build cgo

package dwcp_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/dwcp"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// TestDetectorParity runs one sequence (warm-up, a flagged spike, a quiet step, a latency
// jump, a gap the grid fills) through a Detector over the in-process engine and one over
// the client of a sidecar: every answer equal, bit for bit.
func TestDetectorParity(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	cl := sidecar(t, eng)
	in, err := dwcp.NewDetector(ctx, online(eng), dwcp.DetectorConfig{Entity: "link-1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := dwcp.NewDetector(ctx, cl, dwcp.DetectorConfig{Entity: "link-1"})
	if err != nil {
		t.Fatal(err)
	}
	w := in.Window()
	var flagged []string
	steps := []int{}
	for i := 0; i < w+3; i++ {
		steps = append(steps, i)
	}
	steps = append(steps, w+5, w+6) // two bins filled by repetition
	for _, i := range steps {
		v := linkMetrics(i, w-1)
		if i == w+1 {
			v.Latency = 400
		}
		a, errIn := in.Detect(ctx, v)
		b, errOut := out.Detect(ctx, v)
		if errIn != nil || errOut != nil {
			t.Fatalf("step %d: %v / %v", i, errIn, errOut)
		}
		if err := sameBits(a, b); err != nil {
			t.Fatalf("step %d: in-process and sidecar differ: %v", i, err)
		}
		if i < w-1 && a != nil {
			t.Fatalf("step %d: an answer while warming up: %+v", i, a)
		}
		if a != nil {
			flagged = append(flagged, a.MetricName)
			if a.Model.Name != "anomaly" || a.Score < a.Threshold || a.Timestamp != v.Timestamp {
				t.Errorf("step %d: %+v", i, a)
			}
		}
	}
	if strings.Join(flagged, ",") != "bandwidth,latency" {
		t.Errorf("flagged %v, want the bandwidth spike and the latency jump", flagged)
	}
	if in.Pending() != 0 || out.Pending() != 0 {
		t.Errorf("pending %d, %d after the warm-up", in.Pending(), out.Pending())
	}
}

// TestScalerParity: a VM's and a node's CPU through both engines, every answer equal.
func TestScalerParity(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	cl := sidecar(t, eng)
	cfg := dwcp.ScalerConfig{CapacityMHz: map[string]float64{"vm-1": 4 * dwcp.MHzPerCore, "node-1": 64 * dwcp.MHzPerCore}}
	in, err := dwcp.NewScaler(ctx, online(eng), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := dwcp.NewScaler(ctx, cl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for i := range in.Window() + 10 {
		for _, m := range []*dwcp.MetricsData{
			{Timestamp: at(i), TargetID: "vm-1", TargetType: dwcp.TargetVM, CPUUsage: 0.2 + 0.03*float64(i%7), MemoryUsage: 0.4},
			{Timestamp: at(i), TargetID: "node-1", TargetType: dwcp.TargetNode, CPUUsage: 0.5 + 0.01*float64(i), MemoryUsage: 0.7},
		} {
			a, errIn := in.Predict(m, 0)
			b, errOut := out.Predict(m, in.HorizonMinutes())
			if i < in.Window()-1 {
				var w *dwcp.WarmingUpError
				if !errors.As(errIn, &w) || !errors.Is(errOut, dwcp.ErrWarmingUp) || w.Have != i+1 || w.Need != in.Window() {
					t.Fatalf("step %d: %v / %v, want warming up", i, errIn, errOut)
				}
				continue
			}
			if errIn != nil || errOut != nil {
				t.Fatalf("step %d: %v / %v", i, errIn, errOut)
			}
			if err := sameBits(a, b); err != nil {
				t.Fatalf("step %d %s: in-process and sidecar differ: %v", i, m.TargetID, err)
			}
			want := a.Recommendation.PredictedPeakMHz / a.CapacityMHz
			if a.PredictedCPU != want || a.PredictedMemory != m.MemoryUsage || a.Confidence != 0.9 ||
				a.HorizonMinutes != 15 || a.PredictionTime != m.Timestamp {
				t.Errorf("step %d: %+v", i, a)
			}
			answered++
		}
	}
	if answered != 2*11 {
		t.Errorf("%d answers, want 22", answered)
	}
}

// TestPlacerParity: PlaceVM and PlaceVMBatch through both engines, and PlaceVMBatch equal
// to the engine's PlaceVMBatch on the same requests.
func TestPlacerParity(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	cl := sidecar(t, eng)
	nodes := exampleNodes()
	in, err := dwcp.NewPlacer(ctx, online(eng), dwcp.PlacerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := dwcp.NewPlacer(ctx, cl, dwcp.PlacerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*dwcp.Placer{in, out} {
		if err := p.SetNodes(nodes); err != nil {
			t.Fatal(err)
		}
		// Observed demand for web-1 and n4 (the others fall back to their reservations).
		for s := range p.History() {
			d := engine.Resources{9000 + 100*float64(s%3), 7000, 2000 + 10*float64(s), 300}
			if err := p.ObserveVM("web-1", at(s), d); err != nil {
				t.Fatal(err)
			}
			if err := p.ObserveNode("n4", at(s), engine.Resources{20000, 60000, 5000, 1000 + float64(s)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	vms := []*dwcp.VM{
		{ID: "web-3", RequestedCPU: 4, RequestedMemory: 8 * gib, AntiAffinityGroup: "web", AffinityGroup: "shop"},
		{ID: "batch-1", RequestedCPU: 16, RequestedMemory: 32 * gib},
		{ID: "gpu-1", RequestedCPU: 2, RequestedMemory: 4 * gib, RequestedGPU: 1},
		{ID: "big-1", RequestedCPU: 24, RequestedMemory: 300 * gib},
	}
	nodes[2].TotalGPU, nodes[2].AvailableGPU = 2, 1 // only n2 has a GPU
	c := &dwcp.Constraints{MaxCostPerHour: 4}

	got, err := in.PlaceVMBatch(ctx, vms, c)
	if err != nil {
		t.Fatal(err)
	}
	viaSidecar, err := out.PlaceVMBatch(ctx, vms, c)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := in.Requests(vms, c)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := eng.PlaceVMBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	dIn, err := in.DecideBatch(ctx, vms, c)
	if err != nil {
		t.Fatal(err)
	}
	dOut, err := out.DecideBatch(ctx, vms, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, vm := range vms {
		if got[vm.ID].ID != direct[i].Host || viaSidecar[vm.ID].ID != direct[i].Host {
			t.Errorf("%s: adapter %s, sidecar %s, engine PlaceVMBatch %s", vm.ID, got[vm.ID].ID, viaSidecar[vm.ID].ID, direct[i].Host)
		}
		if err := sameBits(dIn[i].Placement, direct[i]); err != nil {
			t.Errorf("%s: adapter vs engine batch: %v", vm.ID, err)
		}
		if err := sameBits(dIn[i], dOut[i]); err != nil {
			t.Errorf("%s: in-process vs sidecar: %v", vm.ID, err)
		}
		one, err := in.PlaceVM(ctx, vm, c)
		if err != nil {
			t.Fatal(err)
		}
		if one != got[vm.ID] {
			t.Errorf("%s: PlaceVM %s, PlaceVMBatch %s", vm.ID, one.ID, got[vm.ID].ID)
		}
	}
	if got["gpu-1"].ID != "n2" {
		t.Errorf("gpu-1 on %s, want n2 (the only node with a free GPU)", got["gpu-1"].ID)
	}
	if n := got["web-3"].ID; n == "n0" || n == "n1" {
		t.Errorf("web-3 on %s, in the rack of its group member", n)
	}

	// No feasible node: the adapter's error, matching both its sentinel and the engine's.
	for _, p := range []*dwcp.Placer{in, out} {
		_, err := p.PlaceVM(ctx, &dwcp.VM{ID: "huge", RequestedCPU: 64, RequestedMemory: gib}, c)
		var nf *engine.NoFeasibleHostError
		var ne *dwcp.NoFeasibleNodeError
		if !errors.Is(err, dwcp.ErrNoFeasibleNode) || !errors.As(err, &nf) || !errors.As(err, &ne) ||
			engine.CodeOf(err) != engine.CodeNoFeasibleHost || nf.Hosts != len(nodes) || ne.VM != "huge" {
			t.Errorf("%v", err)
		}
	}
}

// TestPlacementMapping checks the request the Placer sends, field by field.
func TestPlacementMapping(t *testing.T) {
	ctx := context.Background()
	p, err := dwcp.NewPlacer(ctx, online(openEngine(t)), dwcp.PlacerConfig{ReferenceCostPerHour: 2})
	if err != nil {
		t.Fatal(err)
	}
	nodes := exampleNodes()
	nodes[4].NetworkBandwidth, nodes[4].DiskIOPS = 0, 0 // the defaults
	if err := p.SetNodes(nodes); err != nil {
		t.Fatal(err)
	}
	vm := &dwcp.VM{ID: "web-3", RequestedCPU: 4, RequestedMemory: 8 * gib, RequestedGPU: 1,
		AntiAffinityGroup: "web", AffinityGroup: "shop", RequiredRegions: []string{"eu-1"},
		RequiredLabels: map[string]string{"ssd": "yes"}}
	nodes[5].Labels = map[string]string{"ssd": "yes"}
	nodes[5].TotalGPU, nodes[5].AvailableGPU = 1, 1
	reqs, err := p.Requests([]*dwcp.VM{vm}, &dwcp.Constraints{RequiredUptime: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	r := reqs[0]
	H := p.History()
	tests := []struct {
		name      string
		got, want any
	}{
		{"vm request", r.VM.Request, engine.Resources{4 * 2600, 8192, 100, 100}},
		{"vm history: its request, no io", r.VM.History[:4], []float64{10400, 8192, 0, 0}},
		{"vm history length", len(r.VM.History), H * 4},
		{"group", r.VM.Group, "web"},
		{"group hosts", r.VM.GroupHosts, []string{"n0"}},
		{"group size", r.VM.GroupSize, 2},
		{"peer hosts", r.VM.PeerHosts, []string{"n0", "n1"}},
		{"overcommit: DWCP's Available rule", r.Overcommit, engine.Resources{1, 1, 1, 1}},
		{"n0 capacity", r.Hosts[0].Capacity, engine.Resources{32 * 2600, 384 * 1024, 128_000 * 4, math.Floor(10_000 * 1e6 / 8 / 1024)}},
		{"n0 allocated: cores, GiB, resident io requests", r.Hosts[0].Allocated, engine.Resources{12 * 2600, 84 * 1024, 100, 100}},
		{"n0 usage: its reservations", r.Hosts[0].Usage[:4], []float64{12 * 2600, 84 * 1024, 0, 0}},
		{"n0 domain, VMs, NIC, failure rate, cost", []any{r.Hosts[0].Domain, r.Hosts[0].VMCount, r.Hosts[0].NICMbps,
			r.Hosts[0].FailureRate, r.Hosts[0].Cost}, []any{"r0", 1, 10_000.0, 0.5, 0.5}},
		{"n4 defaults: disk and NIC", []any{r.Hosts[4].Capacity[engine.ResourceDisk], r.Hosts[4].NICMbps},
			[]any{float64(dwcp.DefaultDiskKBs), float64(dwcp.DefaultNICMbps)}},
		{"excluded as maintenance: all but n5 (no GPU or label), n3 (its own)",
			[]bool{r.Hosts[0].Maintenance, r.Hosts[1].Maintenance, r.Hosts[2].Maintenance, r.Hosts[3].Maintenance,
				r.Hosts[4].Maintenance, r.Hosts[5].Maintenance}, []bool{true, true, true, true, true, false}},
	}
	for _, tc := range tests {
		if err := sameBits(tc.got, tc.want); err != nil {
			t.Errorf("%s: %v (got %v, want %v)", tc.name, err, tc.got, tc.want)
		}
	}
	d, err := p.Decide(ctx, vm, &dwcp.Constraints{RequiredUptime: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if d.Node.ID != "n5" || len(d.Excluded) != 5 || d.Excluded[0].Node != "n0" ||
		strings.Join(d.Excluded[0].Reasons, "; ") != "gpu: 0 available < 1 requested; label ssd=yes missing" {
		t.Errorf("%s, excluded %+v", d.Node.ID, d.Excluded)
	}
}

// TestErrors: one typed error per bad input; a refused input changes nothing.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	det, err := dwcp.NewDetector(ctx, online(eng), dwcp.DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := det.Detect(ctx, linkMetrics(5, -1)); err != nil {
		t.Fatal(err)
	}
	nan, inf := math.NaN(), math.Inf(1)
	mv := func(f func(*dwcp.MetricVector)) *dwcp.MetricVector { v := linkMetrics(6, -1); f(v); return v }
	for _, tc := range []struct {
		name  string
		in    *dwcp.MetricVector
		want  error
		field string
	}{
		{"nil", nil, dwcp.ErrNil, "MetricVector"},
		{"no timestamp", mv(func(v *dwcp.MetricVector) { v.Timestamp = time.Time{} }), dwcp.ErrNoTimestamp, "MetricVector.Timestamp"},
		{"NaN", mv(func(v *dwcp.MetricVector) { v.Latency = nan }), dwcp.ErrNotFinite, "MetricVector.Latency"},
		{"Inf", mv(func(v *dwcp.MetricVector) { v.ErrorRate = inf }), dwcp.ErrNotFinite, "MetricVector.ErrorRate"},
		{"negative", mv(func(v *dwcp.MetricVector) { v.Bandwidth = -1 }), dwcp.ErrNegative, "MetricVector.Bandwidth"},
		{"older than any window reads", mv(func(v *dwcp.MetricVector) { v.Timestamp = at(5 - 2*det.Window()) }), dwcp.ErrTimeOrder, "MetricVector.Timestamp"},
		{"before 1970", mv(func(v *dwcp.MetricVector) { v.Timestamp = time.Unix(-600, 0) }), dwcp.ErrTimeRange, "MetricVector.Timestamp"},
	} {
		_, err := det.Detect(ctx, tc.in)
		var ie *dwcp.InputError
		if !errors.Is(err, tc.want) || !errors.As(err, &ie) || ie.Field != tc.field || ie.Op != "detect" {
			t.Errorf("detect %s: %v, want %v on %s", tc.name, err, tc.want, tc.field)
		}
	}
	if det.Pending() != det.Window()-1 {
		t.Errorf("pending %d after refused inputs, want %d", det.Pending(), det.Window()-1)
	}

	sc, err := dwcp.NewScaler(ctx, online(eng), dwcp.ScalerConfig{CapacityMHz: map[string]float64{"vm-1": 10400, "huge": 1e9}})
	if err != nil {
		t.Fatal(err)
	}
	md := func(f func(*dwcp.MetricsData)) *dwcp.MetricsData {
		m := &dwcp.MetricsData{Timestamp: at(0), TargetID: "vm-1", TargetType: dwcp.TargetVM, CPUUsage: 0.5}
		f(m)
		return m
	}
	for _, tc := range []struct {
		name    string
		in      *dwcp.MetricsData
		horizon int
		want    error
	}{
		{"nil", nil, 15, dwcp.ErrNil},
		{"no timestamp", md(func(m *dwcp.MetricsData) { m.Timestamp = time.Time{} }), 15, dwcp.ErrNoTimestamp},
		{"empty target", md(func(m *dwcp.MetricsData) { m.TargetID = "" }), 15, dwcp.ErrEmptyID},
		{"unknown target type", md(func(m *dwcp.MetricsData) { m.TargetType = "pod" }), 15, dwcp.ErrUnknownTarget},
		{"NaN cpu", md(func(m *dwcp.MetricsData) { m.CPUUsage = nan }), 15, dwcp.ErrNotFinite},
		{"negative cpu", md(func(m *dwcp.MetricsData) { m.CPUUsage = -0.1 }), 15, dwcp.ErrNegative},
		{"Inf memory", md(func(m *dwcp.MetricsData) { m.MemoryUsage = inf }), 15, dwcp.ErrNotFinite},
		{"no capacity", md(func(m *dwcp.MetricsData) { m.TargetID = "vm-2" }), 15, dwcp.ErrNoCapacity},
		{"horizon", md(func(*dwcp.MetricsData) {}), 30, dwcp.ErrHorizon},
		{"warming up", md(func(*dwcp.MetricsData) {}), 15, dwcp.ErrWarmingUp},
	} {
		if _, err := sc.Predict(tc.in, tc.horizon); !errors.Is(err, tc.want) {
			t.Errorf("predict %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The engine's own refusal comes wrapped: 1e9 MHz × 0.5 is beyond its CPU bound.
	var err2 error
	for i := range sc.Window() {
		_, err2 = sc.Predict(&dwcp.MetricsData{Timestamp: at(i), TargetID: "huge", TargetType: dwcp.TargetCluster, CPUUsage: 0.5}, 0)
	}
	if !errors.Is(err2, engine.ErrInvalidInput) || !strings.HasPrefix(err2.Error(), "dwcp: predict: dwcp-ml:") {
		t.Errorf("beyond the engine's bound: %v", err2)
	}

	pl, err := dwcp.NewPlacer(ctx, online(eng), dwcp.PlacerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.PlaceVM(ctx, &dwcp.VM{ID: "a"}, nil); !errors.Is(err, dwcp.ErrNoNodes) {
		t.Errorf("no nodes: %v", err)
	}
	node := func(f func(*dwcp.Node)) []*dwcp.Node { ns := exampleNodes(); f(ns[1]); return ns }
	vm := &dwcp.VM{ID: "v", RequestedCPU: 1, RequestedMemory: gib}
	for _, tc := range []struct {
		name  string
		nodes []*dwcp.Node
		vm    *dwcp.VM
		c     *dwcp.Constraints
		want  error
		field string
	}{
		{"nil vm", exampleNodes(), nil, nil, dwcp.ErrNil, "VM"},
		{"vm without ID", exampleNodes(), &dwcp.VM{}, nil, dwcp.ErrEmptyID, "VM.ID"},
		{"negative request", exampleNodes(), &dwcp.VM{ID: "v", RequestedMemory: -1}, nil, dwcp.ErrNegative, "VM.RequestedMemory"},
		{"negative capacity", node(func(n *dwcp.Node) { n.TotalCPU = -4 }), vm, nil, dwcp.ErrNegative, "nodes[1](n1).TotalCPU"},
		{"zero capacity", node(func(n *dwcp.Node) { n.TotalMemory, n.AvailableMemory = 0, 0 }), vm, nil, dwcp.ErrZeroCapacity, "nodes[1](n1).TotalMemory"},
		{"available > total", node(func(n *dwcp.Node) { n.AvailableGPU = 1 }), vm, nil, dwcp.ErrOverAvailable, "nodes[1](n1).AvailableGPU"},
		{"NaN failure rate", node(func(n *dwcp.Node) { n.FailureRate = nan }), vm, nil, dwcp.ErrNotFinite, "nodes[1](n1).FailureRate"},
		{"negative bandwidth", node(func(n *dwcp.Node) { n.NetworkBandwidth = -1 }), vm, nil, dwcp.ErrNegative, "nodes[1](n1).NetworkBandwidth"},
		{"NaN constraint", exampleNodes(), vm, &dwcp.Constraints{MinBandwidth: nan}, dwcp.ErrNotFinite, "Constraints.MinBandwidth"},
	} {
		if err := pl.SetNodes(tc.nodes); err != nil {
			t.Fatal(err)
		}
		_, err := pl.PlaceVM(ctx, tc.vm, tc.c)
		var ie *dwcp.InputError
		if !errors.Is(err, tc.want) || !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("place %s: %v, want %v on %s", tc.name, err, tc.want, tc.field)
		}
	}
	dup := exampleNodes()
	dup[2].ID = "n0"
	for _, tc := range []struct {
		name  string
		nodes []*dwcp.Node
		want  error
	}{{"duplicate node", dup, dwcp.ErrDuplicateID}, {"nil node", []*dwcp.Node{nil}, dwcp.ErrNil},
		{"node without ID", []*dwcp.Node{{}}, dwcp.ErrEmptyID}} {
		if err := pl.SetNodes(tc.nodes); !errors.Is(err, tc.want) {
			t.Errorf("set nodes %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := pl.SetNodes(exampleNodes()); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.PlaceVMBatch(ctx, []*dwcp.VM{vm, vm}, nil); !errors.Is(err, dwcp.ErrDuplicateID) {
		t.Errorf("batch with a VM twice: %v", err)
	}
	if err := pl.ObserveVM("v", at(0), engine.Resources{1, nan, 0, 0}); !errors.Is(err, dwcp.ErrNotFinite) {
		t.Errorf("observe NaN: %v", err)
	}
	one, err := dwcp.NewScaler(ctx, online(eng), dwcp.ScalerConfig{DefaultCapacityMHz: 10400, MaxTargets: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := func(id string) *dwcp.MetricsData {
		return &dwcp.MetricsData{Timestamp: at(0), TargetID: id, TargetType: dwcp.TargetVM, CPUUsage: 0.5}
	}
	if _, err := one.Predict(m("a"), 0); !errors.Is(err, dwcp.ErrWarmingUp) {
		t.Errorf("first target: %v", err)
	}
	if _, err := one.Predict(m("b"), 0); !errors.Is(err, dwcp.ErrBadConfig) {
		t.Errorf("a target beyond MaxTargets: %v", err)
	}
	if err := one.Forget("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := one.Predict(m("b"), 0); !errors.Is(err, dwcp.ErrWarmingUp) {
		t.Errorf("after Forget: %v", err)
	}
	if _, err := dwcp.NewScaler(ctx, online(eng), dwcp.ScalerConfig{TrendDeadband: 2}); !errors.Is(err, dwcp.ErrBadConfig) {
		t.Errorf("deadband 2: %v", err)
	}
}

// TestForget: a forgotten target, stream or node starts a new history in the store, in
// process and through the sidecar.
func TestForget(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	for _, e := range []dwcp.ScalingEngine{online(eng), sidecar(t, eng)} {
		sc, err := dwcp.NewScaler(ctx, e, dwcp.ScalerConfig{DefaultCapacityMHz: 10400})
		if err != nil {
			t.Fatal(err)
		}
		have := func(step int) int {
			_, err := sc.Predict(&dwcp.MetricsData{Timestamp: at(step), TargetID: "gone", TargetType: dwcp.TargetVM, CPUUsage: 0.5}, 0)
			var w *dwcp.WarmingUpError
			if !errors.As(err, &w) {
				t.Fatalf("step %d: %v, want warming up", step, err)
			}
			return w.Have
		}
		if h0, h1 := have(0), have(1); h0 != 1 || h1 != 2 {
			t.Fatalf("have %d, %d, want 1, 2", h0, h1)
		}
		if err := sc.Forget("gone"); err != nil {
			t.Fatal(err)
		}
		if h := have(2); h != 1 {
			t.Errorf("after Forget: %d bins held, want 1 (a new history)", h)
		}
		n, err := e.Forget(ctx, []engine.EntityRef{dwcp.TargetEntity("gone"), dwcp.TargetEntity("never")})
		if err != nil || n != 1 {
			t.Errorf("Forget: %d buffers, %v; want 1", n, err)
		}
	}
}

// rawTrace is a trace as collectors report it: gaps of 0, 1 and 2 bins (within the
// fill limit), samples anywhere in their bin, a second sample in a bin now and then, and
// a late one into the bin before the newest.
func rawTrace(n int) []time.Time {
	var out []time.Time
	for i, step := 0, 0; i < n; i, step = i+1, step+1+i%3 {
		out = append(out, at(step).Add(time.Duration(17*i%300)*time.Second))
		switch {
		case i%5 == 4:
			out = append(out, at(step).Add(299*time.Second)) // a duplicate of the bin
		case i%7 == 6 && step > 0:
			out = append(out, at(step-1).Add(7*time.Second)) // out of order, late
		}
	}
	return out
}

// offline is the engine's batch path on raw samples: the feature core resamples the
// whole trace (fc_resample on the family model's grid) and the last window bins are the
// series.
func offline(t *testing.T, eng *runtime.Engine, family string, ts []int64, vals []float64) engine.Series {
	t.Helper()
	p, info, err := eng.WindowParams(context.Background(), family)
	if err != nil {
		t.Fatal(err)
	}
	t0, n, err := p.Grid(ts)
	if err != nil {
		t.Fatal(err)
	}
	ch := len(vals) / len(ts)
	grid := make([]float64, n*ch)
	if err := p.Resample(t0, n, ts, vals, grid, make([]uint32, n)); err != nil {
		t.Fatal(err)
	}
	w := info.WindowSamples
	s := engine.Series{Values: grid[(n-w)*ch:]}
	for k := n - w; k < n; k++ {
		s.Timestamps = append(s.Timestamps, t0+int64(k)*p.StepSeconds)
	}
	return s
}

// TestWindowIsResample: the adapters' answers on a raw trace (irregular, duplicate, late
// samples) in-process and through the sidecar equal, bit for bit, the engine's typed call
// on the feature core's resampling of the whole trace: the store's window is the offline
// window.
func TestWindowIsResample(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	cl := sidecar(t, eng)
	trace := rawTrace(60)

	t.Run("scaler", func(t *testing.T) {
		var ts []int64
		var vals []float64
		var last [2]*dwcp.ResourcePrediction
		for k, e := range []dwcp.ScalingEngine{online(eng), cl} {
			sc, err := dwcp.NewScaler(ctx, e, dwcp.ScalerConfig{DefaultCapacityMHz: 10400})
			if err != nil {
				t.Fatal(err)
			}
			for i, tm := range trace {
				u := 0.1 + 0.013*float64(i)
				if k == 0 {
					ts, vals = append(ts, tm.Unix()), append(vals, u*10400)
				}
				p, err := sc.Predict(&dwcp.MetricsData{Timestamp: tm, TargetID: "vm", TargetType: dwcp.TargetVM, CPUUsage: u}, 0)
				if err == nil {
					last[k] = p
				} else if !errors.Is(err, dwcp.ErrWarmingUp) {
					t.Fatal(err)
				}
			}
		}
		s := offline(t, eng, "scaling", ts, vals)
		s.Entity = "vm"
		want, err := eng.RecommendCapacity(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if last[0] == nil || last[1] == nil {
			t.Fatal("no answer")
		}
		if err := sameBits(last[0].Recommendation, want); err != nil {
			t.Errorf("in-process adapter vs the offline window: %v", err)
		}
		if err := sameBits(last[0], last[1]); err != nil {
			t.Errorf("in-process vs sidecar: %v", err)
		}
		if end := time.Unix(s.Timestamps[len(s.Timestamps)-1], 0); !last[0].PredictionTime.Equal(end) {
			t.Errorf("prediction time %v, want the window's last bin %v", last[0].PredictionTime, end)
		}
	})

	t.Run("bandwidth", func(t *testing.T) {
		var ts []int64
		var vals []float64
		var history []dwcp.NetworkSample
		var got []*dwcp.BandwidthPrediction
		for k, e := range []dwcp.LinkForecaster{online(eng), cl} {
			p, err := dwcp.NewBandwidthPredictor(ctx, e, dwcp.BandwidthConfig{})
			if err != nil {
				t.Fatal(err)
			}
			for i, tm := range trace {
				s := linkSample(i)
				s.Timestamp = tm
				if k == 0 {
					history = append(history, s)
					ts = append(ts, tm.Unix())
					vals = append(vals, s.BandwidthMbps, s.LatencyMs, s.PacketLoss, s.JitterMs)
				}
				if err := p.AddSample(s); err != nil {
					t.Fatal(err)
				}
			}
			held, err := p.PredictBandwidth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := p.Predict(history)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, held, whole)
		}
		s := offline(t, eng, "link", ts, vals)
		s.Entity = got[0].Link
		want, err := eng.ForecastLink(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if g.PredictedBandwidthMbps != want.PointMbps || g.LowerMbps != want.LowerMbps || g.UpperMbps != want.UpperMbps ||
				g.PredictedLatencyMs != want.LatencyMs || g.PredictedPacketLoss != want.LossRatio ||
				g.PredictedJitterMs != want.JitterMs || !g.ValidUntil.Equal(want.ValidUntil) {
				t.Errorf("answer %d (in-process/sidecar, held/whole) %+v, offline %+v", i, g, want)
			}
			if err := sameBits(g, got[0]); err != nil {
				t.Errorf("answer %d vs 0: %v", i, err)
			}
		}
	})
}

// recording is an in-process online store, keeping the series each typed call received (the
// calls still run on the real engine).
type recording struct {
	*store.Online
	anomaly  []engine.Series
	capacity []engine.Series
}

func (r *recording) AnomalyScoreBatch(ctx context.Context, s []engine.Series) ([]engine.AnomalyResult, error) {
	r.anomaly = s
	return r.Online.AnomalyScoreBatch(ctx, s)
}

func (r *recording) RecommendCapacity(ctx context.Context, s engine.Series) (engine.CapacityRecommendation, error) {
	r.capacity = append(r.capacity, s)
	return r.Online.RecommendCapacity(ctx, s)
}

// TestDetectorMapping: each MetricVector field becomes its own series, values unchanged,
// timestamps the grid bins, all under the Detector's entity.
func TestDetectorMapping(t *testing.T) {
	ctx := context.Background()
	rec := &recording{Online: online(openEngine(t))}
	d, err := dwcp.NewDetector(ctx, rec, dwcp.DetectorConfig{Entity: "node-9"})
	if err != nil {
		t.Fatal(err)
	}
	var last *dwcp.MetricVector
	for i := range d.Window() {
		last = linkMetrics(i, -1)
		last.Timestamp = last.Timestamp.Add(123 * time.Second) // inside its bin
		if _, err := d.Detect(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.anomaly) != 7 {
		t.Fatalf("%d series, want 7", len(rec.anomaly))
	}
	for i, tc := range []struct {
		field string
		value float64
	}{{"Bandwidth", last.Bandwidth}, {"Latency", last.Latency}, {"PacketLoss", last.PacketLoss}, {"Jitter", last.Jitter},
		{"CPUUsage", last.CPUUsage}, {"MemoryUsage", last.MemoryUsage}, {"ErrorRate", last.ErrorRate}} {
		s := rec.anomaly[i]
		n := len(s.Timestamps)
		if n != d.Window() || len(s.Values) != n || s.Entity != "node-9" {
			t.Fatalf("%s: %d timestamps, %d values, entity %q", tc.field, n, len(s.Values), s.Entity)
		}
		if s.Values[n-1] != tc.value || s.Timestamps[n-1] != at(d.Window()-1).Unix() || s.Timestamps[0] != t0.Unix() {
			t.Errorf("%s: newest %v at %d, first at %d; want %v at %d, first %d", tc.field, s.Values[n-1],
				s.Timestamps[n-1], s.Timestamps[0], tc.value, at(d.Window()-1).Unix(), t0.Unix())
		}
	}
}

// TestScalerMapping: demand MHz = CPUUsage × the target's capacity (its own, else the
// default), one series per target under its TargetID.
func TestScalerMapping(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		cfg    dwcp.ScalerConfig
		target string
		mhz    float64
	}{
		{"own capacity", dwcp.ScalerConfig{CapacityMHz: map[string]float64{"vm-1": 8 * dwcp.MHzPerCore}, DefaultCapacityMHz: 1}, "vm-1", 8 * 2600},
		{"default capacity", dwcp.ScalerConfig{CapacityMHz: map[string]float64{"vm-1": 1}, DefaultCapacityMHz: 4 * dwcp.MHzPerCore}, "vm-2", 4 * 2600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recording{Online: online(openEngine(t))}
			sc, err := dwcp.NewScaler(ctx, rec, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var p *dwcp.ResourcePrediction
			for i := range sc.Window() {
				p, err = sc.Predict(&dwcp.MetricsData{Timestamp: at(i), TargetID: tc.target, TargetType: dwcp.TargetVM,
					CPUUsage: 0.25 + 0.05*float64(i%4), NetworkIO: math.NaN(), ResponseTime: -1}, 15) // ignored fields
			}
			if err != nil {
				t.Fatal(err)
			}
			s := rec.capacity[0]
			for i, v := range s.Values {
				if want := (0.25 + 0.05*float64(i%4)) * tc.mhz; v != want {
					t.Errorf("sample %d: %v MHz, want %v", i, v, want)
				}
			}
			if s.Entity != tc.target || p.CapacityMHz != tc.mhz || p.PredictedCPU != p.Recommendation.PredictedPeakMHz/tc.mhz ||
				p.PredictedLoad != p.Recommendation.CapacityMHz/tc.mhz {
				t.Errorf("%+v", p)
			}
		})
	}
}

// TestConcurrent: the adapters are safe for concurrent use (run with -race); every
// goroutine's answers equal the sequential ones.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	sc, err := dwcp.NewScaler(ctx, online(eng), dwcp.ScalerConfig{DefaultCapacityMHz: 10400})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := dwcp.NewPlacer(ctx, online(eng), dwcp.PlacerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.SetNodes(exampleNodes()); err != nil {
		t.Fatal(err)
	}
	vm := &dwcp.VM{ID: "web-3", RequestedCPU: 4, RequestedMemory: 8 * gib, AntiAffinityGroup: "web"}
	want, err := pl.PlaceVM(ctx, vm, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("vm-", g)
			for i := range sc.Window() + 5 {
				_, err := sc.Predict(&dwcp.MetricsData{Timestamp: at(i), TargetID: id, TargetType: dwcp.TargetVM, CPUUsage: 0.5}, 0)
				if err != nil && !(errors.Is(err, dwcp.ErrWarmingUp) && i < sc.Window()-1) {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 20 {
				if err := pl.ObserveNode(fmt.Sprint("other-", g), at(i), engine.Resources{1, 1, 1, 1}); err != nil {
					errs <- err
					return
				}
				got, err := pl.PlaceVM(ctx, vm, nil)
				if err != nil || got != want {
					errs <- fmt.Errorf("PlaceVM %v %v, want %s", got, err, want.ID)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
