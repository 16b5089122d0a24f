// Package dwcpmlv1 is the generated gRPC code of the dwcp-sidecar API (engine.proto,
// package dwcp.ml.v1). Go callers use sidecar/client, which speaks it and returns the
// sidecar/engine types; other languages generate their own stubs from engine.proto.
//
// Regenerate with `make proto` after editing engine.proto; the output is committed so a
// build needs no protoc.
package dwcpmlv1
