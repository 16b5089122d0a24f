package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// placeModels opens the default bundle and returns its placement models with their goldens.
func placeModels(t *testing.T) (*Engine, []*model, map[string]*bundle.Golden) {
	t.Helper()
	e, _ := openPlacement(t)
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var ms []*model
	for _, entry := range b.Manifest.Models {
		if m := e.current.Load().models[entry.Name]; m.place {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		t.Fatal("the default bundle has no placement model")
	}
	return e, ms, b.Goldens
}

// TestPlaceGoldenBits: for every placement model, the golden requests (JSON → engine
// types) go through the path of PlaceVM — validation, hard constraints, assembly, the
// feature core — and give the golden's feasible hosts (where it lists them; the rows
// prove them anyway) and every factor bit; one model run on all rows gives every score
// bit.
func TestPlaceGoldenBits(t *testing.T) {
	_, ms, goldens := placeModels(t)
	for _, m := range ms {
		t.Run(m.entry.Name, func(t *testing.T) {
			g := goldens[m.entry.Name]
			reqs := make([]engine.PlacementRequest, len(g.Placements))
			for i, p := range g.Placements {
				reqs[i] = p.Request
			}
			sc := scratchPool.Get().(*placeScratch)
			defer scratchPool.Put(sc)
			jobs, err := m.prepare(sc, "test", reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, j := range jobs {
				got := make([]int, j.n)
				for k, h := range sc.feasible[j.off : j.off+j.n] {
					got[k] = int(h)
				}
				if want := g.Placements[i].Feasible; want != nil && !slices.Equal(got, want) {
					t.Errorf("request %d: feasible %v, golden %v", i, got, g.Placements[i].Feasible)
				}
			}
			rows := len(sc.feasible)
			if err := sameBits("factors", g.Input, sc.factors[:rows*m.inLen]); err != nil {
				t.Fatalf("%v (%s)", err, m.placeCell(jobs, sc, g.Input, sc.factors[:rows*m.inLen]))
			}
			out := make([]float32, rows)
			if err := m.run(sc.factors[:rows*m.inLen], rows, out); err != nil {
				t.Fatal(err)
			}
			if err := sameBits("output", g.Output, out); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d requests, %d rows: factors and scores match bit for bit", len(reqs), rows)
		})
	}
}

// TestPlaceOcclusion checks each TopFactors entry against the definition: the chosen
// host's factor row with that one factor set to the runner-up's value, scored alone,
// gives Score + Delta; no factor left out lowers the score more than the last one kept.
func TestPlaceOcclusion(t *testing.T) {
	e, _, _ := placeModels(t)
	_, g := testbundle.Placement(t)
	m := e.current.Load().byFamily[FamilyPlacement]
	ctx := context.Background()
	explained := 0
	for i, gp := range g.Placements {
		// The golden's requests and a 300-host one with hosts filled to different levels.
		for _, r := range []engine.PlacementRequest{gp.Request, varied(testbundle.ScaleHosts(gp.Request, 300))} {
			p, err := e.PlaceVM(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			sc := scratchPool.Get().(*placeScratch)
			if _, err := m.prepare(sc, "test", []engine.PlacementRequest{r}); err != nil {
				t.Fatal(err)
			}
			row := func(host int) []float32 {
				k := slices.Index(sc.feasible, int32(host))
				return slices.Clone(sc.factors[k*m.inLen : (k+1)*m.inLen])
			}
			// The reference is the best host scoring below the chosen one, ties to the lowest index.
			all := make([]float32, len(sc.feasible))
			if err := m.run(sc.factors[:len(all)*m.inLen], len(all), all); err != nil {
				t.Fatal(err)
			}
			want := engine.HostScore{}
			for k, s := range all {
				if float64(s) < p.Score && (want.Host == "" || float64(s) > want.Score) {
					hi := int(sc.feasible[k])
					want = engine.HostScore{Host: r.Hosts[hi].ID, HostIndex: hi, Score: float64(s)}
				}
			}
			if p.Reference != want {
				t.Fatalf("request %d: reference %+v, want %+v", i, p.Reference, want)
			}
			if p.Reference.Host == "" {
				continue // every feasible host ties
			}
			chosen, ref := row(p.HostIndex), row(p.Reference.HostIndex)
			scratchPool.Put(sc)
			score := func(x []float32) float64 {
				out := make([]float32, 1)
				if err := m.run(x, 1, out); err != nil {
					t.Fatal(err)
				}
				return float64(out[0])
			}
			if score(chosen) != p.Score {
				t.Fatalf("request %d: the chosen row scores %v alone, the placement %v", i, score(chosen), p.Score)
			}
			var deltas []float64 // every factor's occlusion delta
			for f := range m.inLen {
				x := slices.Clone(chosen)
				x[f] = ref[f]
				deltas = append(deltas, score(x)-p.Score)
			}
			for k, fe := range p.TopFactors {
				if fe.Name != featurecore.PlaceFactorName(fe.Index) || fe.Value != float64(chosen[fe.Index]) ||
					fe.Reference != float64(ref[fe.Index]) || fe.Delta != deltas[fe.Index] || !(fe.Delta < 0) {
					t.Errorf("request %d: top factor %d %+v; chosen %v, runner-up %v, delta %v", i, k, fe,
						chosen[fe.Index], ref[fe.Index], deltas[fe.Index])
				}
				if k > 0 && fe.Delta < p.TopFactors[k-1].Delta {
					t.Errorf("request %d: top factors out of order", i)
				}
			}
			kept := map[int]bool{}
			for _, fe := range p.TopFactors {
				kept[fe.Index] = true
			}
			for f, d := range deltas {
				if kept[f] || !(d < 0) {
					continue
				}
				if len(p.TopFactors) < topN || d < p.TopFactors[len(p.TopFactors)-1].Delta {
					t.Errorf("request %d: factor %s (delta %v) should be among the top factors %+v", i,
						featurecore.PlaceFactorName(f), d, p.TopFactors)
				}
			}
			if len(p.TopFactors) > 0 {
				explained++
			}
		}
	}
	if explained == 0 {
		t.Error("no decision had a factor to report; the test checked nothing")
	}
}

// varied fills host i to (i mod 7) tenths of its capacity, with a usage history that
// differs from host to host, so that the hosts' factor rows differ.
func varied(r engine.PlacementRequest) engine.PlacementRequest {
	r.Hosts = slices.Clone(r.Hosts)
	for i := range r.Hosts {
		h := &r.Hosts[i]
		h.Usage = slices.Clone(h.Usage)
		for k := range engine.NumResources {
			h.Allocated[k] = math.Floor(h.Capacity[k] * float64(i%7) / 10)
			for s := range len(h.Usage) / engine.NumResources {
				h.Usage[s*engine.NumResources+k] = math.Floor(h.Allocated[k] * (0.2 + 0.05*float64((i+s)%5)))
			}
		}
	}
	return r
}

// TestPlaceGoldenMismatch: a golden whose feasible hosts, factors or scores differ is
// refused with a message that names the difference.
func TestPlaceGoldenMismatch(t *testing.T) {
	_, ms, goldens := placeModels(t)
	m, g := ms[0], goldens[ms[0].entry.Name]
	sc := &placeScratch{hostIdx: map[string]int32{}, domIdx: map[string]int32{}}
	jobs, err := m.prepare(sc, "test", []engine.PlacementRequest{g.Placements[0].Request})
	if err != nil {
		t.Fatal(err)
	}
	var feasible0 []int // the first request's feasible hosts
	for _, h := range sc.feasible[:jobs[0].n] {
		feasible0 = append(feasible0, int(h))
	}
	tests := []struct {
		name   string
		mutate func(g *bundle.Golden)
		msg    string
	}{
		{"feasible", func(g *bundle.Golden) {
			g.Placements[0].Feasible = slices.Clone(feasible0)
			g.Placements[0].Feasible[0]++
		}, "golden request 0: the hard constraints leave hosts"},
		{"factor", func(g *bundle.Golden) {
			g.Input = slices.Clone(g.Input)
			g.Input[3] = math.Float32frombits(math.Float32bits(g.Input[3]) ^ 1)
		}, "golden factors[3]: golden 0x"}, // and "(request 0, host H (ID), factor NAME)", checked below
		{"score", func(g *bundle.Golden) {
			g.Output = slices.Clone(g.Output)
			g.Output[1] = math.Float32frombits(math.Float32bits(g.Output[1]) ^ 1)
		}, "golden output[1]: golden 0x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := *g
			bad.Placements = slices.Clone(g.Placements)
			tt.mutate(&bad)
			err := checkPlaceGolden(m, &bad)
			if !errors.Is(err, engine.ErrMismatch) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want a mismatch containing %q", err, tt.msg)
			}
		})
	}
	bad := *g
	bad.Input = slices.Clone(g.Input)
	bad.Input[m.inLen+2] = -1 // row 1, factor 2
	err = checkPlaceGolden(m, &bad)
	host := feasible0[1]
	want := fmt.Sprintf("(request 0, host %d (%s), factor %s)", host, g.Placements[0].Request.Hosts[host].ID,
		featurecore.PlaceFactorName(2))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want it to name %q", err, want)
	}
	if err := checkPlaceGolden(m, g); err != nil {
		t.Fatal(err)
	}
}
