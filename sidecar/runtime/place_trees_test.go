package runtime

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// openPlacement opens the test bundle for the test's lifetime and returns its placement
// model.
func openPlacement(tb testing.TB) (*Engine, *model) {
	tb.Helper()
	e, err := Open(context.Background(), testbundle.Dir(), Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e, e.current.Load().byFamily[FamilyPlacement]
}

// placeRows returns the factor rows PlaceVM scores for r (its feasible hosts).
func placeRows(t testing.TB, m *model, r engine.PlacementRequest) []float32 {
	t.Helper()
	sc := scratchPool.Get().(*placeScratch)
	defer scratchPool.Put(sc)
	if _, err := m.prepare(sc, "test", []engine.PlacementRequest{r}); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(sc.factors[:len(sc.feasible)*m.inLen])
}

// treeRows are the rows the Go evaluator is compared on: every golden request's rows, the
// 1,000-host request's, the no-rejection one's, and each of these with every factor in
// turn replaced by another row's value (the occlusion rows of PlaceVM's explanation).
func treeRows(t testing.TB) (*model, []float32) {
	t.Helper()
	_, m := openPlacement(t)
	_, g := testbundle.Placement(t)
	rows := goldenPlaceRows(t, m)
	big := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	rows = append(rows, placeRows(t, m, big)...)
	rows = append(rows, placeRows(t, m, fitsAll(big))...)
	F := m.inLen
	base := len(rows) / F
	for a := 0; a+1 < base; a += 7 {
		for f := range F {
			row := slices.Clone(rows[a*F : (a+1)*F])
			row[f] = rows[(a+1)*F+f]
			rows = append(rows, row...)
		}
	}
	return m, rows
}

// goldenPlaceRows are the factor rows of every golden placement request (the rows the
// bundle load's golden.output check scores).
func goldenPlaceRows(t testing.TB, m *model) []float32 {
	t.Helper()
	_, g := testbundle.Placement(t)
	var rows []float32
	for _, p := range g.Placements {
		rows = append(rows, placeRows(t, m, p.Request)...)
	}
	return rows
}

// withTrees attaches the core's tree evaluator to the placement model of e, proved on the
// golden rows, as the bundle load does.
func withTrees(t testing.TB, e *Engine) *model {
	t.Helper()
	m := e.current.Load().byFamily[FamilyPlacement]
	data, err := os.ReadFile(filepath.Join(testbundle.Dir(), m.entry.File))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.attachTrees(data, goldenPlaceRows(t, m)); err != nil {
		t.Fatal(err)
	}
	if m.trees == nil {
		t.Fatal("the shipped itp model got no tree evaluator")
	}
	return m
}

// TestCoreTreesBits: the core's evaluator built from the shipped itp ONNX file by the
// runtime's own reader gives every bit of ONNX Runtime's scores on the rows of treeRows
// (golden requests, 1,000-host requests, occlusion variants: 40,088 rows), every kernel.
func TestCoreTreesBits(t *testing.T) {
	m, rows := treeRows(t)
	data, err := os.ReadFile(filepath.Join(testbundle.Dir(), m.entry.File))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.attachTrees(data, goldenPlaceRows(t, m)); err != nil || m.trees == nil {
		t.Fatalf("attachTrees: %v (trees %v)", err, m.trees)
	}
	F := m.inLen
	n := len(rows) / F
	want := make([]float32, n)
	if err := m.run(rows, n, want); err != nil {
		t.Fatal(err)
	}
	for _, k := range []featurecore.TreesKernel{featurecore.TreesAuto, featurecore.TreesBranchy, featurecore.TreesInterleaved} {
		got := make([]float32, n)
		if err := m.trees.Score(rows, F, got, k); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("kernel %d row %d of %d: core %08x, ONNX Runtime %08x", k, i, n,
					math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
	t.Logf("%d rows, %d trees: every kernel gives ONNX Runtime's bits", n, m.trees.NumTrees())
}

// TestPlaceVMTreesSameAnswer: PlaceVM with the core's evaluator answers exactly as with
// ONNX Runtime (scores, ranking, explanation) on every golden request and the 1,000-host
// ones.
func TestPlaceVMTreesSameAnswer(t *testing.T) {
	e, m := openPlacement(t)
	_, g := testbundle.Placement(t)
	reqs := []engine.PlacementRequest{}
	for _, p := range g.Placements {
		reqs = append(reqs, p.Request)
	}
	big := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	reqs = append(reqs, big, fitsAll(big))
	m.trees = nil // ONNX Runtime first, whatever the load attached
	want, err := e.PlaceVMBatch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	withTrees(t, e)
	defer func() { m.trees = nil }()
	got, err := e.PlaceVMBatch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !placementsEqual(got[i], want[i]) {
			t.Fatalf("request %d: with the core's trees %+v, with ONNX Runtime %+v", i, got[i], want[i])
		}
	}
}

func placementsEqual(a, b engine.Placement) bool {
	if a.Host != b.Host || a.HostIndex != b.HostIndex || math.Float64bits(a.Score) != math.Float64bits(b.Score) ||
		a.Reference != b.Reference || !slices.Equal(a.Ranking, b.Ranking) || len(a.TopFactors) != len(b.TopFactors) {
		return false
	}
	for i := range a.TopFactors {
		if a.TopFactors[i] != b.TopFactors[i] {
			return false
		}
	}
	return true
}

// TestAttachTreesRefusals: another model's trees are refused with CodeMismatch naming the
// row; a graph that is not one TreeEnsembleRegressor keeps ONNX Runtime.
func TestAttachTreesRefusals(t *testing.T) {
	_, m := openPlacement(t)
	rows := goldenPlaceRows(t, m)
	tests := []struct {
		file    string
		refused bool // with CodeMismatch
		trees   bool
	}{
		{"itp_gb.onnx", true, false}, // other trees: other bits
		{"pba.onnx", false, false},   // not a tree ensemble
		{m.entry.File, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m.trees = nil
			data, err := os.ReadFile(filepath.Join(testbundle.Dir(), tc.file))
			if err != nil {
				t.Fatal(err)
			}
			err = m.attachTrees(data, rows)
			var ee *engine.Error
			switch {
			case !tc.refused && err != nil:
				t.Fatalf("err %v", err)
			case tc.refused && (!errors.As(err, &ee) || ee.Code != engine.CodeMismatch):
				t.Fatalf("err %v, want CodeMismatch", err)
			case (m.trees != nil) != tc.trees:
				t.Fatalf("trees attached: %v, want %v", m.trees != nil, tc.trees)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
	m.trees = nil
	if _, err := onnxTrees([]byte{0xff}); err == nil {
		t.Error("a broken protobuf parsed")
	}
}

// distinctRows are n rows drawn uniformly, factor by factor, from the range each factor
// takes over the golden requests' rows (seeded): distinct hosts, whose paths through the
// trees differ, unlike the replicated 1,000-host request's.
func distinctRows(t testing.TB, m *model, n int) []float32 {
	base := goldenPlaceRows(t, m)
	F := m.inLen
	lo, hi := slices.Clone(base[:F]), slices.Clone(base[:F])
	for r := 1; r < len(base)/F; r++ {
		for f := range F {
			lo[f], hi[f] = min(lo[f], base[r*F+f]), max(hi[f], base[r*F+f])
		}
	}
	rng := rand.New(rand.NewPCG(20261204, 15))
	out := make([]float32, n*F)
	for i := range out {
		f := i % F
		out[i] = lo[f] + float32(rng.Float64())*(hi[f]-lo[f])
	}
	return out
}

// BenchmarkCoreTrees prints the model phase over 668 rows (the 1,000-host request's
// feasible rows, replicated hosts) and over 668 distinct rows: ONNX Runtime and the core's
// kernels, p50 per call.
func BenchmarkCoreTrees(b *testing.B) {
	e, _ := openPlacement(b)
	m := withTrees(b, e)
	_, g := testbundle.Placement(b)
	replicated := placeRows(b, m, testbundle.ScaleHosts(g.Placements[0].Request, 1000))
	n := len(replicated) / m.inLen
	sets := []struct {
		name string
		rows []float32
	}{{"replicated", replicated}, {"distinct", distinctRows(b, m, n)}}
	out := make([]float32, n)
	for _, set := range sets {
		for _, ev := range []struct {
			name string
			run  func() error
		}{
			{"onnxruntime", func() error { return m.run(set.rows, n, out) }},
			{"core-branchy", func() error { return m.trees.Score(set.rows, m.inLen, out, featurecore.TreesBranchy) }},
			{"core-interleaved", func() error { return m.trees.Score(set.rows, m.inLen, out, featurecore.TreesInterleaved) }},
		} {
			b.Run(set.name+"/"+ev.name, func(b *testing.B) {
				lat := make([]time.Duration, 0, 1024)
				for b.Loop() {
					start := time.Now()
					if err := ev.run(); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
				b.Logf("%s %s: %d rows, p50 %v", set.name, ev.name, n, lat[len(lat)/2])
			})
		}
	}
}
