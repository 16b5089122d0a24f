package featurecore

// #include "feature_core.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// TreesVersion numbers the tree evaluation rule and the built ensemble's layout
// (FC_TREES_VERSION).
const TreesVersion = C.FC_TREES_VERSION

// TreesKernel chooses how Trees.Score walks the trees; every kernel gives the same bits.
type TreesKernel int32

const (
	// TreesAuto is TreesInterleaved for 16 rows or more, else TreesBranchy.
	TreesAuto TreesKernel = C.FC_TREES_KERNEL_AUTO
	// TreesBranchy walks one row through every tree with branches: fastest when rows
	// repeat (branches predictable), slowest on distinct rows.
	TreesBranchy TreesKernel = C.FC_TREES_KERNEL_BRANCHY
	// TreesInterleaved walks 16 rows at once through one tree without a data-dependent
	// branch per node: fastest on distinct rows.
	TreesInterleaved TreesKernel = C.FC_TREES_KERNEL_INTERLEAVED
)

const (
	opTrees      = "trees"
	opTreesScore = "trees score"
)

// Names of the attributes a trees *Error's Channel points at (FC_TREES_ARG_* order).
var treesArgNames = [...]string{
	C.FC_TREES_ARG_NODES:   "nodes",
	C.FC_TREES_ARG_WEIGHTS: "target weights",
	C.FC_TREES_ARG_BASE:    "base_values",
	C.FC_TREES_ARG_MODEL:   "model attributes",
	C.FC_TREES_ARG_BUFFER:  "buffer",
	C.FC_TREES_ARG_ROWS:    "rows",
	C.FC_TREES_ARG_OUT:     "out",
}

var treeModes = map[string]int32{
	"BRANCH_LEQ": C.FC_TREE_BRANCH_LEQ, "BRANCH_LT": C.FC_TREE_BRANCH_LT,
	"BRANCH_GTE": C.FC_TREE_BRANCH_GTE, "BRANCH_GT": C.FC_TREE_BRANCH_GT,
	"BRANCH_EQ": C.FC_TREE_BRANCH_EQ, "BRANCH_NEQ": C.FC_TREE_BRANCH_NEQ,
	"BRANCH_MEMBER": C.FC_TREE_BRANCH_MEMBER, "LEAF": C.FC_TREE_LEAF,
}

var treeAggregates = map[string]int32{
	"": C.FC_TREES_SUM, "SUM": C.FC_TREES_SUM, "AVERAGE": C.FC_TREES_AVERAGE,
	"MIN": C.FC_TREES_MIN, "MAX": C.FC_TREES_MAX,
}

var treePosts = map[string]int32{
	"": C.FC_TREES_NONE, "NONE": C.FC_TREES_NONE, "SOFTMAX": C.FC_TREES_SOFTMAX,
	"LOGISTIC": C.FC_TREES_LOGISTIC, "SOFTMAX_ZERO": C.FC_TREES_SOFTMAX_ZERO,
	"PROBIT": C.FC_TREES_PROBIT,
}

// TreeEnsemble holds the attributes of an ONNX TreeEnsembleRegressor (ai.onnx.ml) that
// NewTrees reads, named as in ONNX. NTargets 0 means ONNX's default 1; empty
// AggregateFunction and PostTransform mean SUM and NONE; nil NodesMissingValueTracksTrue
// means all 0.
type TreeEnsemble struct {
	NodesTreeIDs, NodesNodeIDs, NodesFeatureIDs []int64
	NodesModes                                  []string
	NodesValues                                 []float32
	NodesTrueNodeIDs, NodesFalseNodeIDs         []int64
	NodesMissingValueTracksTrue                 []int64
	TargetTreeIDs, TargetNodeIDs, TargetIDs     []int64
	TargetWeights                               []float32
	BaseValues                                  []float32
	NTargets                                    int64
	AggregateFunction, PostTransform            string
}

// Trees is a tree ensemble built by the C core (fc_trees_init) into memory this value
// owns. It scores float32 rows with ONNX Runtime's TreeEnsembleRegressor bits; it is
// immutable, so one Trees may score from any number of goroutines.
type Trees struct {
	buf                   []uint64 // 8-aligned; holds no pointer
	nTrees, nNodes, nCols int
}

func ptr64(s []int64) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0]))
}

func ptrF32(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

// NewTrees builds e. Errors match ErrTreeUnsupported (a mode, aggregate, transform, target
// count or size the core does not evaluate), ErrTreeShape (arrays that are not trees),
// ErrLength (arrays of different lengths, more than one base value) or ErrEmpty (no node).
func NewTrees(e *TreeEnsemble) (*Trees, error) {
	n := len(e.NodesTreeIDs)
	for name, l := range map[string]int{"nodes_nodeids": len(e.NodesNodeIDs),
		"nodes_featureids": len(e.NodesFeatureIDs), "nodes_modes": len(e.NodesModes),
		"nodes_values": len(e.NodesValues), "nodes_truenodeids": len(e.NodesTrueNodeIDs),
		"nodes_falsenodeids": len(e.NodesFalseNodeIDs)} {
		if l != n {
			return nil, fmt.Errorf("featurecore: trees: %s has %d entries, nodes_treeids %d: %w", name, l, n, ErrLength)
		}
	}
	if mt := len(e.NodesMissingValueTracksTrue); mt != 0 && mt != n {
		return nil, fmt.Errorf("featurecore: trees: nodes_missing_value_tracks_true has %d entries, nodes_treeids %d: %w", mt, n, ErrLength)
	}
	w := len(e.TargetTreeIDs)
	if len(e.TargetNodeIDs) != w || len(e.TargetIDs) != w || len(e.TargetWeights) != w {
		return nil, fmt.Errorf("featurecore: trees: target_nodeids, target_ids and target_weights have %d, %d and %d entries, target_treeids %d: %w",
			len(e.TargetNodeIDs), len(e.TargetIDs), len(e.TargetWeights), w, ErrLength)
	}
	modes := make([]int32, n)
	for i, m := range e.NodesModes {
		v, ok := treeModes[m]
		if !ok {
			v = C.FC_TREE_MODE_OTHER
		}
		modes[i] = v
	}
	agg, ok := treeAggregates[e.AggregateFunction]
	if !ok {
		agg = C.FC_TREES_AGGREGATE_OTHER
	}
	post, ok := treePosts[e.PostTransform]
	if !ok {
		post = C.FC_TREES_POST_OTHER
	}
	targets := e.NTargets
	if targets == 0 {
		targets = 1
	}
	var size C.size_t
	if st := C.fc_trees_size(C.size_t(n), &size); st != C.FC_OK {
		return nil, &Error{Op: opTrees, Status: Status(st), Index: -1, Channel: -1, Feature: -1}
	}
	t := &Trees{buf: make([]uint64, (int(size)+7)/8)}
	var mt *C.int64_t
	if len(e.NodesMissingValueTracksTrue) > 0 {
		mt = ptr64(e.NodesMissingValueTracksTrue)
	}
	var modesPtr *C.int32_t
	if n > 0 {
		modesPtr = (*C.int32_t)(unsafe.Pointer(&modes[0]))
	}
	var out *C.fc_trees
	ce := noError()
	st := C.fc_trees_init(C.size_t(n), ptr64(e.NodesTreeIDs), ptr64(e.NodesNodeIDs),
		ptr64(e.NodesFeatureIDs), modesPtr, ptrF32(e.NodesValues), ptr64(e.NodesTrueNodeIDs),
		ptr64(e.NodesFalseNodeIDs), mt, C.size_t(w), ptr64(e.TargetTreeIDs),
		ptr64(e.TargetNodeIDs), ptr64(e.TargetIDs), ptrF32(e.TargetWeights),
		ptrF32(e.BaseValues), C.size_t(len(e.BaseValues)), C.int64_t(targets), C.int32_t(agg),
		C.int32_t(post), unsafe.Pointer(&t.buf[0]), C.size_t(len(t.buf)*8), &out, &ce)
	if st != C.FC_OK {
		return nil, treesError(opTrees, st, &ce)
	}
	var nt, nn, nc C.size_t
	C.fc_trees_info(t.handle(), &nt, &nn, &nc)
	t.nTrees, t.nNodes, t.nCols = int(nt), int(nn), int(nc)
	return t, nil
}

func (t *Trees) handle() *C.fc_trees { return (*C.fc_trees)(unsafe.Pointer(&t.buf[0])) }

// NumTrees is the number of trees, NumNodes the nodes kept (every node of every tree),
// NumCols the columns a row must have (the largest feature id + 1).
func (t *Trees) NumTrees() int { return t.nTrees }

// NumNodes: see NumTrees.
func (t *Trees) NumNodes() int { return t.nNodes }

// NumCols: see NumTrees.
func (t *Trees) NumCols() int { return t.nCols }

// Score scores len(out) rows of cols float32 each (row-major in rows, which must hold
// len(out)*cols values) into out: ONNX Runtime's bits (docs/feature-core.md "Tree
// ensembles"). Errors match ErrLength (cols below NumCols, or rows too short) or
// ErrBadParams (an unknown kernel).
func (t *Trees) Score(rows []float32, cols int, out []float32, kernel TreesKernel) error {
	n := len(out)
	if cols < 0 || len(rows) < n*cols {
		return fmt.Errorf("featurecore: trees score: %d rows of %d columns need %d values, got %d: %w",
			n, cols, n*cols, len(rows), ErrLength)
	}
	if n == 0 {
		return nil
	}
	ce := noError()
	st := C.fc_trees_score(t.handle(), (*C.float)(unsafe.Pointer(&rows[0])), C.size_t(n),
		C.size_t(cols), C.int32_t(kernel), (*C.float)(unsafe.Pointer(&out[0])), C.size_t(n), &ce)
	if st != C.FC_OK {
		return treesError(opTreesScore, st, &ce)
	}
	return nil
}

func treesError(op string, st C.fc_status, ce *C.fc_error) error {
	return locatedError(op, st, ce,
		func(i int) string { return nameAt(treesArgNames[:], i) },
		func(int) string { return "" })
}
