package runtime

import "testing"

// AttachCoreTreesForTest gives e's placement model the core's tree evaluator, proved on the
// golden rows as attachTrees does at load, for the external benchmarks; the returned func
// takes it away again (ONNX Runtime scores).
func AttachCoreTreesForTest(tb testing.TB, e *Engine) func() {
	m := withTrees(tb, e)
	return func() { m.trees = nil }
}

// DetachCoreTreesForTest makes e's placement model score with ONNX Runtime (whether or not
// the load attached the core's evaluator) until the returned func restores it.
func DetachCoreTreesForTest(e *Engine) func() {
	m := e.current.Load().byFamily[FamilyPlacement]
	trees := m.trees
	m.trees = nil
	return func() { m.trees = trees }
}
