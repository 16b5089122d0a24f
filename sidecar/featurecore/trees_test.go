package featurecore_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// smallEnsemble is one tree: node 0 splits feature 1 at 0.5 (NaN to the true child),
// leaf 1 (true) weighs 1, leaf 2 (false) 2; base 0.25.
func smallEnsemble() *featurecore.TreeEnsemble {
	return &featurecore.TreeEnsemble{
		NodesTreeIDs: []int64{0, 0, 0}, NodesNodeIDs: []int64{0, 1, 2}, NodesFeatureIDs: []int64{1, 0, 0},
		NodesModes: []string{"BRANCH_LEQ", "LEAF", "LEAF"}, NodesValues: []float32{0.5, 0, 0},
		NodesTrueNodeIDs: []int64{1, 0, 0}, NodesFalseNodeIDs: []int64{2, 0, 0},
		NodesMissingValueTracksTrue: []int64{1, 0, 0},
		TargetTreeIDs:               []int64{0, 0}, TargetNodeIDs: []int64{1, 2}, TargetIDs: []int64{0, 0},
		TargetWeights: []float32{1, 2}, BaseValues: []float32{0.25},
	}
}

func TestTreesRule(t *testing.T) {
	trees, err := featurecore.NewTrees(smallEnsemble())
	if err != nil {
		t.Fatal(err)
	}
	if trees.NumTrees() != 1 || trees.NumNodes() != 3 || trees.NumCols() != 2 {
		t.Fatalf("trees %d nodes %d cols %d", trees.NumTrees(), trees.NumNodes(), trees.NumCols())
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	rows := []float32{9, 0.5, 9, 0.75, 9, nan, 9, -inf, 9, inf}
	want := []float32{1.25, 2.25, 1.25, 1.25, 2.25}
	for _, k := range []featurecore.TreesKernel{featurecore.TreesAuto, featurecore.TreesBranchy, featurecore.TreesInterleaved} {
		got := make([]float32, len(want))
		if err := trees.Score(rows, 2, got, k); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("kernel %d row %d: %v, want %v", k, i, got[i], want[i])
			}
		}
	}
	if err := trees.Score(nil, 2, nil, featurecore.TreesAuto); err != nil {
		t.Errorf("no rows: %v", err)
	}
}

func TestTreesErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *featurecore.TreeEnsemble)
		want   error
		text   string
	}{
		{"mode", func(e *featurecore.TreeEnsemble) { e.NodesModes[0] = "BRANCH_LT" }, featurecore.ErrTreeUnsupported, `element 0, array "nodes"`},
		{"unknown mode", func(e *featurecore.TreeEnsemble) { e.NodesModes[0] = "X" }, featurecore.ErrTreeUnsupported, `element 0, array "nodes"`},
		{"post transform", func(e *featurecore.TreeEnsemble) { e.PostTransform = "LOGISTIC" }, featurecore.ErrTreeUnsupported, `array "model attributes"`},
		{"aggregate", func(e *featurecore.TreeEnsemble) { e.AggregateFunction = "MAX" }, featurecore.ErrTreeUnsupported, `array "model attributes"`},
		{"targets", func(e *featurecore.TreeEnsemble) { e.NTargets = 2 }, featurecore.ErrTreeUnsupported, `array "model attributes"`},
		{"missing child", func(e *featurecore.TreeEnsemble) { e.NodesTrueNodeIDs[0] = 9 }, featurecore.ErrTreeShape, `element 0, array "nodes"`},
		{"leaf weight twice", func(e *featurecore.TreeEnsemble) { e.TargetNodeIDs[1] = 1 }, featurecore.ErrTreeShape, `element 1, array "target weights"`},
		{"two base values", func(e *featurecore.TreeEnsemble) { e.BaseValues = []float32{1, 2} }, featurecore.ErrLength, `array "base_values"`},
		{"short array", func(e *featurecore.TreeEnsemble) { e.NodesValues = e.NodesValues[:2] }, featurecore.ErrLength, "nodes_values has 2 entries"},
		{"no nodes", func(e *featurecore.TreeEnsemble) { *e = featurecore.TreeEnsemble{} }, featurecore.ErrEmpty, "trees"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := smallEnsemble()
			tc.change(e)
			_, err := featurecore.NewTrees(e)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
	trees, err := featurecore.NewTrees(smallEnsemble())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 2)
	if err := trees.Score(make([]float32, 2), 1, out, featurecore.TreesAuto); !errors.Is(err, featurecore.ErrLength) {
		t.Errorf("1 column: %v", err)
	}
	if err := trees.Score(make([]float32, 3), 2, out, featurecore.TreesAuto); !errors.Is(err, featurecore.ErrLength) {
		t.Errorf("short rows: %v", err)
	}
	if err := trees.Score(make([]float32, 4), 2, out, 7); !errors.Is(err, featurecore.ErrBadParams) {
		t.Errorf("kernel 7: %v", err)
	}
}
