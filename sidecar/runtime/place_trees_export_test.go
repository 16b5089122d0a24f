package runtime

import "testing"

// AttachCoreTreesForTest gives e's placement model the core's tree evaluator, proved on the
// golden rows as attachTrees does at load, for the external benchmarks; the returned func
// takes it away again (ONNX Runtime scores).
func AttachCoreTreesForTest(tb testing.TB, e *Engine) func() {
	m := withTrees(tb, e)
	return func() { m.trees = nil }
}
