package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// The placement model's scores can come from the feature core's tree evaluator instead of
// ONNX Runtime (docs/serving.md "PlaceVM speed"): the same bits (the core follows ONNX
// Runtime's TreeEnsembleRegressor rule and is proved against it on golden/trees_v1.txt), at
// a fraction of the cost. It is used only for a graph that is one TreeEnsembleRegressor from
// the input to the output (Identity nodes allowed) that the core evaluates, and only once
// it gave ONNX Runtime's bits on the bundle's golden rows at load; otherwise ONNX Runtime
// scores, as before.

// defaultTreesKernel is the kernel PlaceVM scores with (see featurecore.TreesKernel).
const defaultTreesKernel = featurecore.TreesAuto

// errNotTrees says the graph is not one plain TreeEnsembleRegressor: ONNX Runtime scores it.
var errNotTrees = errors.New("not a single TreeEnsembleRegressor graph")

// onnxTrees reads the TreeEnsembleRegressor of an ONNX model whose graph is that node (input
// to output) plus Identity nodes, with the protobuf walker eachField (ModelProto.graph = 7;
// GraphProto.node = 1, input = 11, output = 12, ValueInfoProto.name = 1; NodeProto.input =
// 1, output = 2, op_type = 4, domain = 7, attribute = 5; AttributeProto.name = 1, floats =
// 7, ints = 8, strings = 9, i = 3, s = 4). Any other graph is errNotTrees.
func onnxTrees(data []byte) (*featurecore.TreeEnsemble, error) {
	type node struct {
		op, domain string
		in, out    []string
		attrs      [][]byte
	}
	var nodes []node
	var gin, gout []string
	err := eachField(data, func(num protowire.Number, typ protowire.Type, graph []byte, _ uint64) error {
		if num != 7 || typ != protowire.BytesType {
			return nil
		}
		return eachField(graph, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if typ != protowire.BytesType {
				return nil
			}
			switch num {
			case 1:
				var n node
				err := eachField(v, func(num protowire.Number, typ protowire.Type, f []byte, _ uint64) error {
					if typ != protowire.BytesType {
						return nil
					}
					switch num {
					case 1:
						n.in = append(n.in, string(f))
					case 2:
						n.out = append(n.out, string(f))
					case 4:
						n.op = string(f)
					case 5:
						n.attrs = append(n.attrs, f)
					case 7:
						n.domain = string(f)
					}
					return nil
				})
				nodes = append(nodes, n)
				return err
			case 11, 12:
				return eachField(v, func(fnum protowire.Number, typ protowire.Type, f []byte, _ uint64) error {
					if fnum == 1 && typ == protowire.BytesType {
						if num == 11 {
							gin = append(gin, string(f))
						} else {
							gout = append(gout, string(f))
						}
					}
					return nil
				})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(gin) != 1 || len(gout) != 1 {
		return nil, errNotTrees
	}
	// Follow the value from the graph input to its output: one tree ensemble, Identities.
	var trees *node
	cur := gin[0]
	for used := 0; used < len(nodes); used++ {
		next := -1
		for k := range nodes {
			if len(nodes[k].in) == 1 && nodes[k].in[0] == cur {
				if next >= 0 {
					return nil, errNotTrees // the value feeds two nodes
				}
				next = k
			}
		}
		if next < 0 {
			break
		}
		n := &nodes[next]
		switch {
		case n.op == "Identity" && n.domain == "" && len(n.out) == 1:
		case n.op == "TreeEnsembleRegressor" && n.domain == "ai.onnx.ml" && len(n.out) == 1 && trees == nil:
			trees = n
		default:
			return nil, errNotTrees
		}
		cur = n.out[0]
	}
	if trees == nil || cur != gout[0] {
		return nil, errNotTrees
	}
	for _, n := range nodes { // every node on that path
		if n.op != "Identity" && n.op != "TreeEnsembleRegressor" {
			return nil, errNotTrees
		}
	}
	return treeAttributes(trees.attrs)
}

// treeAttributes decodes a TreeEnsembleRegressor's attributes.
func treeAttributes(attrs [][]byte) (*featurecore.TreeEnsemble, error) {
	e := &featurecore.TreeEnsemble{}
	ints := map[string]*[]int64{
		"nodes_treeids": &e.NodesTreeIDs, "nodes_nodeids": &e.NodesNodeIDs,
		"nodes_featureids": &e.NodesFeatureIDs, "nodes_truenodeids": &e.NodesTrueNodeIDs,
		"nodes_falsenodeids":              &e.NodesFalseNodeIDs,
		"nodes_missing_value_tracks_true": &e.NodesMissingValueTracksTrue,
		"target_treeids":                  &e.TargetTreeIDs, "target_nodeids": &e.TargetNodeIDs,
		"target_ids": &e.TargetIDs,
	}
	floats := map[string]*[]float32{"nodes_values": &e.NodesValues,
		"target_weights": &e.TargetWeights, "base_values": &e.BaseValues}
	for _, a := range attrs {
		var name, s string
		var fs []float32
		var is []int64
		var ss []string
		var i int64
		if err := eachField(a, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
			switch {
			case num == 1 && typ == protowire.BytesType:
				name = string(v)
			case num == 3 && typ == protowire.VarintType:
				i = int64(n)
			case num == 4 && typ == protowire.BytesType:
				s = string(v)
			case num == 7 && typ == protowire.Fixed32Type:
				fs = append(fs, math.Float32frombits(uint32(n)))
			case num == 7 && typ == protowire.BytesType:
				if len(v)%4 != 0 {
					return fmt.Errorf("attribute %s: packed floats of %d bytes", name, len(v))
				}
				for ; len(v) >= 4; v = v[4:] {
					fs = append(fs, math.Float32frombits(binary.LittleEndian.Uint32(v)))
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
			return nil, err
		}
		switch {
		case ints[name] != nil:
			*ints[name] = is
		case floats[name] != nil:
			*floats[name] = fs
		case name == "nodes_modes":
			e.NodesModes = ss
		case name == "n_targets":
			e.NTargets = i
		case name == "aggregate_function":
			e.AggregateFunction = s
		case name == "post_transform":
			e.PostTransform = s
		case name == "nodes_values_as_tensor" || name == "target_weights_as_tensor" ||
			name == "base_values_as_tensor" || name == "classlabels_strings":
			return nil, errNotTrees // double thresholds or weights: not the core's rule
		}
	}
	return e, nil
}

// attachTrees gives a placement model the core's tree evaluator when its ONNX file (data)
// is one TreeEnsembleRegressor the core evaluates and the evaluator gives ONNX Runtime's
// bits on rows (the bundle's golden factor rows, which ONNX Runtime has just reproduced):
// every kernel, every row. A graph or ensemble the core does not take keeps ONNX Runtime
// (nil error); a different bit refuses the bundle (CodeMismatch), naming the row.
func (m *model) attachTrees(data []byte, rows []float32) error {
	e, err := onnxTrees(data)
	if errors.Is(err, errNotTrees) {
		return nil
	}
	if err != nil {
		return badBundle(m.entry.Name, "%s: reading the tree ensemble: %w", m.entry.File, err)
	}
	trees, err := featurecore.NewTrees(e)
	if errors.Is(err, featurecore.ErrTreeUnsupported) {
		return nil
	}
	if err != nil {
		return badBundle(m.entry.Name, "%s: %w", m.entry.File, err)
	}
	if trees.NumCols() > m.inLen || m.outLen != 1 {
		return badBundle(m.entry.Name, "%s: the trees read column %d of %d-value rows into %d outputs",
			m.entry.File, trees.NumCols()-1, m.inLen, m.outLen)
	}
	n := len(rows) / m.inLen
	want := make([]float32, n)
	if err := m.run(rows, n, want); err != nil {
		return err
	}
	got := make([]float32, n)
	for _, k := range []featurecore.TreesKernel{featurecore.TreesAuto, featurecore.TreesBranchy, featurecore.TreesInterleaved} {
		if err := trees.Score(rows, m.inLen, got, k); err != nil {
			return internal(m.entry.Name, "tree evaluator: %w", err)
		}
		for i := range got {
			if a, b := math.Float32bits(got[i]), math.Float32bits(want[i]); a != b {
				return mismatch(m.entry.Name, "golden row %d: the feature core's tree evaluator (kernel %d) "+
					"scores %08x, ONNX Runtime %08x: this feature core does not reproduce ONNX Runtime's "+
					"TreeEnsembleRegressor on this model", i, k, a, b)
			}
		}
	}
	m.trees, m.treesKernel = trees, defaultTreesKernel
	return nil
}

// score runs the placement model over rows factor rows into out (one score per row): the
// core's tree evaluator when attachTrees proved it, else ONNX Runtime.
func (m *model) score(in []float32, rows int, out []float32) error {
	if m.trees == nil {
		return m.run(in, rows, out)
	}
	if err := m.trees.Score(in[:rows*m.inLen], m.inLen, out[:rows], m.treesKernel); err != nil {
		return internal(m.entry.Name, "tree evaluator: %w", err)
	}
	return nil
}
