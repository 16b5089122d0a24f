// Package engine is the API that DWCP code programs against: the Engine interface, its
// request and answer types, and its errors. It is pure Go (no cgo), so both
// implementations share it:
//
//   - sidecar/runtime runs the models in-process (cgo: the feature core and ONNX Runtime);
//   - sidecar/client calls the dwcp-sidecar process over gRPC and builds with CGO_ENABLED=0.
//
// A service picks one at start-up and sees the same answers, to the bit, either way.
// Both also implement Partitioner (task partitioning, docs/partition.md), an interface of
// its own so that Engine's other implementations need not grow.
//
// Errors are *Error values with a Code; match them with errors.Is against the sentinels
// (ErrInvalidInput, ErrNotFound, ...) or read the code with CodeOf. The message names what
// was wrong and, where it helps, what to do.
package engine
