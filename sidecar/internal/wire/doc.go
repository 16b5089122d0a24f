// Package wire converts between sidecar/engine's types and the dwcp.ml.v1 protobuf messages,
// and between *engine.Error and gRPC statuses. sidecar/server and sidecar/client both use
// it, so the two directions of every conversion live side by side and round-trip exactly:
// an answer or an error that crosses the sidecar is the one the engine gave in-process.
//
// Pure Go: the client builds with CGO_ENABLED=0.
package wire
