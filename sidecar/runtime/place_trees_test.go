package runtime

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// A measurement for issue 15 item 4, not a serving path: how fast a plain Go evaluator of
// the shipped itp TreeEnsembleRegressor scores PlaceVM's rows, and whether it gives ONNX
// Runtime's bits (ORT's TreeEnsemble semantics: BRANCH_LEQ, NaN to the true branch where
// missing_value_tracks_true, leaf weights summed in float32 in tree order, then + the base
// value). It was not faster than ONNX Runtime; what serves is the feature core's evaluator
// (fc_trees_*, place_trees.go), used alike by Python and Go and proved by golden/trees_v1.txt
// (docs/serving.md, "PlaceVM speed").

// treeEnsemble is one TreeEnsembleRegressor (one target, SUM, post_transform NONE) as
// flat arrays; node k of the ensemble is a branch when !leaf[k].
type treeEnsemble struct {
	roots      []int32
	feature    []int32
	threshold  []float32
	next       [][2]int32 // true, false child
	leaf       []bool
	nanTrue    []bool
	weight     []float32 // leaf value
	base       float32
	maxFeature int
}

// packedNode is one node in 16 bytes: a leaf has feature -1 and its weight in threshold;
// a branch's children are kids[0] (true: x <= threshold, or NaN where nanTrue) and kids[1].
type packedNode struct {
	feature   int32
	threshold float32
	kids      [2]int32
}

// pack lays the ensemble out as packedNodes (nanTrue in bit 31 of kids[1]).
func (t *treeEnsemble) pack() []packedNode {
	out := make([]packedNode, len(t.leaf))
	for k := range out {
		if t.leaf[k] {
			out[k] = packedNode{feature: -1, threshold: t.weight[k]}
			continue
		}
		out[k] = packedNode{feature: t.feature[k], threshold: t.threshold[k], kids: t.next[k]}
		if t.nanTrue[k] {
			out[k].kids[1] |= -1 << 31
		}
	}
	return out
}

// scorePacked is score over packed nodes with a branch-free step: the child is chosen by
// indexing with the comparison, so an unpredictable split costs no mispredicted branch.
func (t *treeEnsemble) scorePacked(nodes []packedNode, rows []float32, F int, out []float32) {
	for r := range out {
		x := rows[r*F : (r+1)*F : (r+1)*F]
		var s float32
		for _, root := range t.roots {
			nd := &nodes[root]
			for nd.feature >= 0 {
				v := x[nd.feature]
				right := b2i(!(v <= nd.threshold)) &^ (b2i(v != v) & int(uint32(nd.kids[1])>>31))
				nd = &nodes[nd.kids[right]&0x7fffffff]
			}
			s += nd.threshold
		}
		out[r] = s + t.base
	}
}

// scoreTreeMajor is score in ORT's single-thread order: blocks of 128 rows, every tree
// over the block before the next tree (each row's sum still in tree order).
func (t *treeEnsemble) scoreTreeMajor(nodes []packedNode, rows []float32, F int, out []float32) {
	const block = 128
	for lo := 0; lo < len(out); lo += block {
		hi := min(lo+block, len(out))
		acc := out[lo:hi]
		clear(acc)
		for _, root := range t.roots {
			for r := range acc {
				x := rows[(lo+r)*F : (lo+r+1)*F : (lo+r+1)*F]
				nd := &nodes[root]
				for nd.feature >= 0 {
					v := x[nd.feature]
					if v <= nd.threshold || (v != v && nd.kids[1] < 0) {
						nd = &nodes[nd.kids[0]]
					} else {
						nd = &nodes[nd.kids[1]&0x7fffffff]
					}
				}
				acc[r] += nd.threshold
			}
		}
		for r := range acc {
			acc[r] += t.base
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t *treeEnsemble) score(rows []float32, F int, out []float32) {
	for r := range out {
		x := rows[r*F : (r+1)*F : (r+1)*F]
		var s float32
		for _, n := range t.roots {
			for !t.leaf[n] {
				v := x[t.feature[n]]
				if v <= t.threshold[n] || (t.nanTrue[n] && v != v) {
					n = t.next[n][0]
				} else {
					n = t.next[n][1]
				}
			}
			s += t.weight[n]
		}
		out[r] = s + t.base
	}
}

// readTreeEnsemble parses the first TreeEnsembleRegressor of an ONNX file with protowire
// (ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4, attribute = 5;
// AttributeProto name = 1, floats = 7, ints = 8, strings = 9).
func readTreeEnsemble(path string) (*treeEnsemble, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	floats, ints, strs := map[string][]float32{}, map[string][]int64{}, map[string][]string{}
	found := false
	err = eachField(data, func(num protowire.Number, typ protowire.Type, graph []byte, _ uint64) error {
		if num != 7 || typ != protowire.BytesType {
			return nil
		}
		return eachField(graph, func(num protowire.Number, typ protowire.Type, node []byte, _ uint64) error {
			if num != 1 || typ != protowire.BytesType || found {
				return nil
			}
			var op string
			var attrs [][]byte
			if err := eachField(node, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				switch {
				case num == 4 && typ == protowire.BytesType:
					op = string(v)
				case num == 5 && typ == protowire.BytesType:
					attrs = append(attrs, v)
				}
				return nil
			}); err != nil || op != "TreeEnsembleRegressor" {
				return err
			}
			found = true
			for _, a := range attrs {
				var name string
				var fs []float32
				var is []int64
				var ss []string
				if err := eachField(a, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
					switch {
					case num == 1 && typ == protowire.BytesType:
						name = string(v)
					case num == 7 && typ == protowire.Fixed32Type:
						fs = append(fs, math.Float32frombits(uint32(n)))
					case num == 7 && typ == protowire.BytesType:
						for len(v) >= 4 {
							fs = append(fs, math.Float32frombits(binary.LittleEndian.Uint32(v)))
							v = v[4:]
						}
					case num == 8 && typ == protowire.VarintType:
						is = append(is, int64(n))
					case num == 8 && typ == protowire.BytesType:
						for len(v) > 0 {
							x, k := protowire.ConsumeVarint(v)
							if k < 0 {
								return fmt.Errorf("attribute %s: bad varint", name)
							}
							is, v = append(is, int64(x)), v[k:]
						}
					case num == 9 && typ == protowire.BytesType:
						ss = append(ss, string(v))
					}
					return nil
				}); err != nil {
					return err
				}
				floats[name], ints[name], strs[name] = fs, is, ss
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s: no TreeEnsembleRegressor", path)
	}
	return buildEnsemble(floats, ints, strs)
}

func buildEnsemble(floats map[string][]float32, ints map[string][]int64, strs map[string][]string) (*treeEnsemble, error) {
	tree, id, feat := ints["nodes_treeids"], ints["nodes_nodeids"], ints["nodes_featureids"]
	tn, fn, mt := ints["nodes_truenodeids"], ints["nodes_falsenodeids"], ints["nodes_missing_value_tracks_true"]
	modes, vals := strs["nodes_modes"], floats["nodes_values"]
	n := len(tree)
	for name, l := range map[string]int{"nodeids": len(id), "featureids": len(feat), "truenodeids": len(tn),
		"falsenodeids": len(fn), "modes": len(modes), "values": len(vals)} {
		if l != n {
			return nil, fmt.Errorf("nodes_%s has %d entries, nodes_treeids %d", name, l, n)
		}
	}
	if len(mt) != 0 && len(mt) != n {
		return nil, fmt.Errorf("nodes_missing_value_tracks_true has %d entries, want %d", len(mt), n)
	}
	if pt := strs["post_transform"]; len(pt) > 0 && pt[0] != "NONE" {
		return nil, fmt.Errorf("post_transform %s", pt[0])
	}
	if len(ints["n_targets"]) > 0 && ints["n_targets"][0] != 1 {
		return nil, fmt.Errorf("%d targets", ints["n_targets"][0])
	}
	type key struct{ tree, node int64 }
	at := make(map[key]int32, n)
	t := &treeEnsemble{feature: make([]int32, n), threshold: make([]float32, n), next: make([][2]int32, n),
		leaf: make([]bool, n), nanTrue: make([]bool, n), weight: make([]float32, n)}
	for k := range n {
		at[key{tree[k], id[k]}] = int32(k)
		if k == 0 || tree[k] != tree[k-1] {
			t.roots = append(t.roots, int32(k)) // trees in order of appearance, as ORT's roots
		}
	}
	for k := range n {
		switch modes[k] {
		case "LEAF":
			t.leaf[k] = true
		case "BRANCH_LEQ":
			t.feature[k], t.threshold[k] = int32(feat[k]), vals[k]
			t.nanTrue[k] = len(mt) > 0 && mt[k] == 1
			t.maxFeature = max(t.maxFeature, int(feat[k]))
			a, ok1 := at[key{tree[k], tn[k]}]
			b, ok2 := at[key{tree[k], fn[k]}]
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("node %d of tree %d: a child is missing", id[k], tree[k])
			}
			t.next[k] = [2]int32{a, b}
		default:
			return nil, fmt.Errorf("node mode %s (only BRANCH_LEQ and LEAF here)", modes[k])
		}
	}
	seen := make([]bool, n)
	wt, wn, ww, wid := ints["target_treeids"], ints["target_nodeids"], floats["target_weights"], ints["target_ids"]
	for k := range wt {
		j, ok := at[key{wt[k], wn[k]}]
		if !ok || !t.leaf[j] || seen[j] || (len(wid) > 0 && wid[k] != 0) {
			return nil, fmt.Errorf("target weight %d (tree %d node %d) is not the one weight of a leaf", k, wt[k], wn[k])
		}
		seen[j], t.weight[j] = true, ww[k]
	}
	if b := floats["base_values"]; len(b) == 1 {
		t.base = b[0]
	} else if len(b) > 1 {
		return nil, fmt.Errorf("%d base values", len(b))
	}
	return t, nil
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
	e, err := Open(context.Background(), testbundle.Dir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	m := e.current.Load().byFamily[FamilyPlacement]
	_, g := testbundle.Placement(t)
	var rows []float32
	for _, p := range g.Placements {
		rows = append(rows, placeRows(t, m, p.Request)...)
	}
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

// TestTreeEvaluatorBits: the Go evaluator gives every bit of ONNX Runtime's scores for
// the shipped itp model on the rows of treeRows (each scored by ORT as one batch).
func TestTreeEvaluatorBits(t *testing.T) {
	m, rows := treeRows(t)
	te, err := readTreeEnsemble(filepath.Join(testbundle.Dir(), m.entry.File))
	if err != nil {
		t.Fatal(err)
	}
	F := m.inLen
	n := len(rows) / F
	want, got := make([]float32, n), make([]float32, n)
	if err := m.run(rows, n, want); err != nil {
		t.Fatal(err)
	}
	te.score(rows, F, got)
	packed := make([]float32, n)
	te.scorePacked(te.pack(), rows, F, packed)
	major := make([]float32, n)
	te.scoreTreeMajor(te.pack(), rows, F, major)
	for i := range want {
		if math.Float32bits(major[i]) != math.Float32bits(want[i]) {
			t.Fatalf("row %d of %d: tree-major Go evaluator %v, ONNX Runtime %v", i, n, major[i], want[i])
		}
		if math.Float32bits(packed[i]) != math.Float32bits(want[i]) {
			t.Fatalf("row %d of %d: packed Go evaluator %v, ONNX Runtime %v", i, n, packed[i], want[i])
		}
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("row %d of %d: Go evaluator %v (%08x), ONNX Runtime %v (%08x)", i, n, got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	t.Logf("%d rows (%d trees, %d nodes): every score bit equals ONNX Runtime's", n, len(te.roots), len(te.leaf))
}

// BenchmarkTreeEvaluator prints the model phase of PlaceVM over the golden 1,000-host
// request (668 feasible rows) through ONNX Runtime and through the Go evaluator.
func BenchmarkTreeEvaluator(b *testing.B) {
	e, err := Open(context.Background(), testbundle.Dir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	m := e.current.Load().byFamily[FamilyPlacement]
	te, err := readTreeEnsemble(filepath.Join(testbundle.Dir(), m.entry.File))
	if err != nil {
		b.Fatal(err)
	}
	_, g := testbundle.Placement(b)
	rows := placeRows(b, m, testbundle.ScaleHosts(g.Placements[0].Request, 1000))
	n := len(rows) / m.inLen
	out := make([]float32, n)
	nodes := te.pack()
	for _, ev := range []struct {
		name string
		run  func() error
	}{
		{"onnxruntime", func() error { return m.run(rows, n, out) }},
		{"go", func() error { te.score(rows, m.inLen, out); return nil }},
		{"go-packed", func() error { te.scorePacked(nodes, rows, m.inLen, out); return nil }},
		{"go-tree-major", func() error { te.scoreTreeMajor(nodes, rows, m.inLen, out); return nil }},
	} {
		b.Run(ev.name, func(b *testing.B) {
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
			b.Logf("%s: %d rows, p50 %v", ev.name, n, lat[len(lat)/2])
		})
	}
}
