package featurecore_test

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// treesVector is one model of golden/trees_v1.txt (docs/feature-core.md, "Tree ensembles"):
// its attributes, rows (with labels) and ONNX Runtime's scores.
type treesVector struct {
	name   string
	e      featurecore.TreeEnsemble
	cols   int
	labels []string
	rows   []float32
	out    []float32
}

func hexFloats(toks []string) ([]float32, error) {
	out := make([]float32, len(toks))
	for i, t := range toks {
		b, err := strconv.ParseUint(t, 16, 32)
		if err != nil || len(t) != 8 {
			return nil, fmt.Errorf("bad float32 bits %q", t)
		}
		out[i] = math.Float32frombits(uint32(b))
	}
	return out, nil
}

func decInts(toks []string) ([]int64, error) {
	out := make([]int64, len(toks))
	for i, t := range toks {
		v, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

var modeNames = map[int64]string{0: "BRANCH_LEQ", 1: "BRANCH_LT", 2: "BRANCH_GTE", 3: "BRANCH_GT",
	4: "BRANCH_EQ", 5: "BRANCH_NEQ", 6: "BRANCH_MEMBER", 7: "LEAF"}

func readTreesGolden(t *testing.T) []treesVector {
	t.Helper()
	f, err := os.Open(goldenFilePath("FEATURECORE_TREES_GOLDEN", "trees_v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var vs []treesVector
	var v *treesVector
	line := 0
	header := []string{"dwcp-fc-golden 1", "fc_version " + featurecore.Version(),
		fmt.Sprintf("trees_version %d", featurecore.TreesVersion)}
	for sc.Scan() {
		line++
		text := sc.Text()
		if line <= len(header) {
			if text != header[line-1] {
				t.Fatalf("line %d: %q, want %q", line, text, header[line-1])
			}
			continue
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, rest, _ := strings.Cut(text, " ")
		toks := strings.Fields(rest)
		var err error
		switch {
		case key == "vector":
			vs = append(vs, treesVector{name: rest})
			v = &vs[len(vs)-1]
		case v == nil:
			t.Fatalf("line %d: %s outside a vector", line, key)
		case key == "end":
			v = nil
		case key == "nodes_treeids":
			v.e.NodesTreeIDs, err = decInts(toks)
		case key == "nodes_nodeids":
			v.e.NodesNodeIDs, err = decInts(toks)
		case key == "nodes_featureids":
			v.e.NodesFeatureIDs, err = decInts(toks)
		case key == "nodes_truenodeids":
			v.e.NodesTrueNodeIDs, err = decInts(toks)
		case key == "nodes_falsenodeids":
			v.e.NodesFalseNodeIDs, err = decInts(toks)
		case key == "nodes_missing_value_tracks_true":
			v.e.NodesMissingValueTracksTrue, err = decInts(toks)
		case key == "nodes_modes":
			var m []int64
			m, err = decInts(toks)
			for _, x := range m {
				v.e.NodesModes = append(v.e.NodesModes, modeNames[x])
			}
		case key == "nodes_values":
			v.e.NodesValues, err = hexFloats(toks)
		case key == "target_treeids":
			v.e.TargetTreeIDs, err = decInts(toks)
		case key == "target_nodeids":
			v.e.TargetNodeIDs, err = decInts(toks)
		case key == "target_ids":
			v.e.TargetIDs, err = decInts(toks)
		case key == "target_weights":
			v.e.TargetWeights, err = hexFloats(toks)
		case key == "base_values":
			v.e.BaseValues, err = hexFloats(toks)
		case key == "model":
			if rest != "1 0 0" {
				t.Fatalf("line %d: model %q (one target, SUM, NONE expected)", line, rest)
			}
		case key == "n_cols":
			v.cols, err = strconv.Atoi(rest)
		case key == "row":
			var r []float32
			r, err = hexFloats(toks[1:])
			if err == nil && len(r) != v.cols {
				err = fmt.Errorf("row has %d values, n_cols %d", len(r), v.cols)
			}
			v.labels = append(v.labels, toks[0])
			v.rows = append(v.rows, r...)
		case key == "out":
			v.out, err = hexFloats(toks)
		}
		if err != nil {
			t.Fatalf("line %d (%s): %v", line, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no tree vectors")
	}
	return vs
}

// TestTreesGolden: every row of every model of golden/trees_v1.txt, built from the file's
// attributes, scores ONNX Runtime's bits with every kernel.
func TestTreesGolden(t *testing.T) {
	for _, v := range readTreesGolden(t) {
		trees, err := featurecore.NewTrees(&v.e)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if len(v.out)*v.cols != len(v.rows) {
			t.Fatalf("%s: %d outputs for %d rows", v.name, len(v.out), len(v.rows)/v.cols)
		}
		for _, k := range []featurecore.TreesKernel{featurecore.TreesAuto, featurecore.TreesBranchy, featurecore.TreesInterleaved} {
			got := make([]float32, len(v.out))
			if err := trees.Score(v.rows, v.cols, got, k); err != nil {
				t.Fatalf("%s kernel %d: %v", v.name, k, err)
			}
			for i := range got {
				if a, b := math.Float32bits(got[i]), math.Float32bits(v.out[i]); a != b {
					t.Fatalf("%s kernel %d row %d (%s): core %08x, ONNX Runtime %08x", v.name, k, i, v.labels[i], a, b)
				}
			}
		}
		t.Logf("%s: %d trees, %d rows, every bit", v.name, trees.NumTrees(), len(v.out))
	}
}
