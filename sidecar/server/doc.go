// Package server serves an engine.Engine over gRPC (the dwcp.ml.v1 Engine service of
// sidecar/proto) for cmd/dwcp-sidecar.
//
// A Server starts without an engine so it can listen at once: the standard gRPC health
// service (grpc.health.v1) reports NOT_SERVING, and engine calls fail with Unavailable,
// until Attach hands it an engine whose bundle is loaded and verified; then SERVING, and
// NOT_SERVING again from the start of Shutdown. Requests are checked before they reach the
// engine (model name, rows, row length, batch size), engine errors become gRPC statuses with
// the engine's code and message (see sidecar/internal/wire), and a panic in a handler
// becomes Internal instead of ending the process.
//
// Reload (the Reload RPC, or SIGHUP in the command) asks the engine's Reloader to verify
// and swap in a bundle; on failure the old bundle keeps serving and the error is returned,
// logged and counted. "" is Config.BundleDir.
//
// Slots (docs/rollout.md): besides the champion (the engine given to Attach) the Server
// serves a canary (a share of entities, sticky by FNV-1a 64 of the entity mod 10000; no
// entity = champion), a shadow (run off the request path on a bounded queue, recorded and
// compared, never returned) and keeps the previous champion after a completed rollout.
// Canary and shadow engines come from Config.Open, under the bundle root, verified like a
// reload. SetRollout (RPC and method) changes them; a sidecar/rollout Controller judges
// the canary every policy interval (error rate, p99, and with Config.Monitor drift and
// online accuracy) and rolls it back or promotes it. A slot change swaps an immutable
// state: calls in flight finish on the engines they started with, and an engine no slot
// holds is closed after its last call. ReportActual joins outcomes in Config.Monitor.
//
// Trust: admin calls (adminOps: Reload, SetRollout) need an authorized peer, found by the transport
// credentials' handshake: on a Unix socket the peer's uid (SO_PEERCRED, PeerCred) must be
// in Config.AdminUIDs (default the process's own); on TCP the peer needs a client
// certificate verified by Config.TLS's ClientCAs. Others get PermissionDenied naming who
// was refused. The Reload RPC loads only directories under Config.BundleRoot without a
// symbolic link below it, and its refusal says the same whatever is outside the root.
// Other calls are open to any connected peer.
//
// Limits: at most Config.MaxConns connections over all listeners (more are closed at
// accept), MaxStreams calls per connection, idle connections closed after IdleTimeout,
// handshake and HTTP/2 preface within HandshakeTimeout, keepalive enforcement.
//
// Metrics live on the Server's own Prometheus registry (Registry, MetricsHandler):
//
//	dwcp_ml_request_duration_seconds{method,model,slot,bundle_version}  histogram, 10 µs to 1 s
//	dwcp_ml_requests_total{method,model,slot,bundle_version,code}       by gRPC code
//	dwcp_ml_bundle_info{bundle_version,slot}        1 per slot with a bundle
//	dwcp_ml_bundle_signed{bundle_version,slot}      1 signature-checked (Config.Signed), 0 not
//	dwcp_ml_ready                                   1 while a bundle serves
//	dwcp_ml_canary_weight, dwcp_ml_rollout_step     0..1, percent (0 = no canary)
//	dwcp_ml_rollout_transitions_total{action}       start|promote|rollback|complete|withdraw
//	dwcp_ml_shadow_requests_total{result}           ok|error|dropped
//	dwcp_ml_shadow_duration_seconds                 histogram
//	dwcp_ml_shadow_disagreement{model}              histogram of |shadow - champion|
//	dwcp_ml_reloads_total{result}                   result = ok | error
//	dwcp_ml_panics_total{method}                    handler panics turned into Internal
//	dwcp_ml_connections                             connections open now
//	dwcp_ml_connections_refused_total               connections closed beyond MaxConns
//
// The model label is a model of the served bundle (or "unknown"), so clients cannot grow
// the label set.
package server
