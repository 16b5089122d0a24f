package runtime

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// BenchmarkPlaceSplit1000 times the phases of one PlaceVM over 1,000 hosts (the request of
// BenchmarkPlaceVM1000) one after the other, as PlaceVMBatch runs them, and reports each
// phase's median per call: checks (validation, the host and domain index, the hard
// constraints), assemble (the contract inputs of the feasible hosts, without the core),
// factors (the feature core's one call), model (the ONNX Runtime run over the feasible
// rows, or the feature core's tree evaluator: sub-benchmarks onnxruntime/ and core-trees/), choose (argmax, ranking, the reference), explain (the occlusion rows and their
// model run). Phase medians need not add up to the whole call's median exactly.
func BenchmarkPlaceSplit1000(b *testing.B) {
	e, m := openPlacement(b)
	_, g := testbundle.Placement(b)
	m.trees = nil // ONNX Runtime first, whatever the load attached
	for _, scorer := range []string{"onnxruntime", "core-trees"} {
		if scorer == "core-trees" {
			withTrees(b, e)
		}
		for _, bc := range []struct {
			name string
			r    engine.PlacementRequest
		}{
			{"golden", testbundle.ScaleHosts(g.Placements[0].Request, 1000)},
			{"fits", fitsAll(testbundle.ScaleHosts(g.Placements[0].Request, 1000))},
		} {
			b.Run(scorer+"/"+bc.name, func(b *testing.B) { benchSplit(b, m, bc.r) })
		}
	}
}

// fitsAll is r without its group and with empty hosts, so that no host is rejected.
func fitsAll(r engine.PlacementRequest) engine.PlacementRequest {
	r.VM.Group, r.VM.GroupSize, r.VM.GroupHosts, r.VM.PeerHosts = "", 0, nil, nil
	r.Hosts = slices.Clone(r.Hosts)
	for i := range r.Hosts {
		r.Hosts[i].Allocated, r.Hosts[i].Maintenance = engine.Resources{}, false
	}
	return r
}

var splitPhases = []string{"checks", "assemble", "factors", "model", "choose", "explain", "total"}

func benchSplit(b *testing.B, m *model, r engine.PlacementRequest) {
	lat := make([][]time.Duration, len(splitPhases))
	feasible := 0
	occl := 0
	b.ReportAllocs()
	for b.Loop() {
		sc := scratchPool.Get().(*placeScratch)
		var t [8]time.Time
		t[0] = time.Now()
		sc.feasible, sc.factors = sc.feasible[:0], sc.factors[:0]
		jobs := make([]placeJob, 1)
		j := &jobs[0]
		j.req = &r
		if err := m.validate(j.req, ""); err != nil {
			b.Fatal(err)
		}
		if err := m.index(sc, j.req); err != nil {
			b.Fatal(err)
		}
		if nf := m.filter(sc, j); nf != nil {
			b.Fatal(nf)
		}
		t[1] = time.Now()
		in, err := m.assembleInputs(sc, j)
		if err != nil {
			b.Fatal(err)
		}
		t[2] = time.Now()
		F := m.inLen
		sc.factors = extend(sc.factors, j.n*F)
		if err := featurecore.PlaceFactors(m.placeParams, &in, sc.factors); err != nil {
			b.Fatal(err)
		}
		t[3] = time.Now()
		rows := len(sc.feasible)
		sc.scores = grow(sc.scores, rows)
		if err := m.score(sc.factors[:rows*F], rows, sc.scores); err != nil {
			b.Fatal(err)
		}
		t[4] = time.Now()
		out := make([]engine.Placement, 1)
		if err := m.choose(j, sc, &out[0]); err != nil {
			b.Fatal(err)
		}
		t[5] = time.Now()
		if err := m.explain(jobs, sc, out); err != nil {
			b.Fatal(err)
		}
		t[6] = time.Now()
		feasible, occl = j.n, j.occN
		scratchPool.Put(sc)
		for k := range 6 {
			lat[k] = append(lat[k], t[k+1].Sub(t[k]))
		}
		lat[6] = append(lat[6], t[6].Sub(t[0]))
	}
	line := fmt.Sprintf("PlaceVM split, %d hosts, %d feasible, %d occlusion rows, median µs:", len(r.Hosts), feasible, occl)
	for k, name := range splitPhases {
		slices.Sort(lat[k])
		med := float64(lat[k][len(lat[k])/2].Nanoseconds()) / 1e3
		b.ReportMetric(med, name+"-µs")
		line += fmt.Sprintf(" %s %.0f", name, med)
	}
	b.Log(line)
}
