// Command dwcp-sidecar serves a dwcp-ml model bundle over gRPC (the dwcp.ml.v1 Engine
// service and the standard gRPC health service) on a Unix socket and/or TCP, for DWCP
// services that call the models through sidecar/client instead of linking the runtime.
//
//	dwcp-sidecar [-bundle golden/bundle] [-bundle-root DIR] [-unix PATH] [-socket-mode 0660]
//	             [-admin-uids UID,...] [-tcp 127.0.0.1:9400] [-tls-cert F -tls-key F [-tls-client-ca F]]
//	             [-insecure] [-max-conns 256] [-max-streams 64] [-idle-timeout 5m]
//	             [-handshake-timeout 5s] [-metrics 127.0.0.1:9464] [-ort-lib PATH]
//	             [-max-batch 4096] [-shutdown-timeout 10s]
//
// It listens first, with health NOT_SERVING, then loads and verifies the bundle (golden
// predictions bit for bit) and reports SERVING. Prometheus metrics are served on
// http://ADDR/metrics (-metrics "" turns that off).
//
// Who may steer it: the Reload RPC (and any later admin call) is allowed on the Unix socket
// to the uids of -admin-uids (default the sidecar's own), read from the kernel
// (SO_PEERCRED), and over TCP only to a client whose certificate -tls-client-ca verified;
// it loads only "" (-bundle) or a directory under -bundle-root (default the parent of
// -bundle) reached without symbolic links. Model calls are open to any connected peer.
// -tcp beyond loopback needs TLS or -insecure.
//
// Sockets: without -unix the socket is dwcp-sidecar.sock in a private runtime directory
// (client.RuntimeDir: $XDG_RUNTIME_DIR/dwcp-sidecar, /run/dwcp-sidecar for root, else
// /tmp/dwcp-sidecar-UID), created 0700 and refused if it is a link, another uid's or open
// to others. The socket is created with -socket-mode. <socket>.lock, flocked for the
// process's life, refuses a second instance on the same path; a stale socket is replaced
// only by the lock's holder, a live one or a file that is not a socket is an error; on exit
// the socket is removed only if it still is the one this process created.
//
// Rollout: -rollout FILE (JSON, docs/rollout.md) sets a canary, a shadow and the rollout
// policy at start and again on SIGHUP; a file that does not parse is one line and exit 2
// at start, and is logged (changing nothing) on SIGHUP. Canary and shadow bundles must be
// under -bundle-root and pass the same checks as a reload (signatures with -trusted-keys).
// The sidecar keeps online accuracy from ReportActual and live drift per slot
// (sidecar/monitor, default bounds) and judges the canary every policy interval.
//
// Signals: SIGHUP reloads -bundle (verify, then swap; on failure the old bundle keeps
// serving and the error is logged), then re-reads -rollout. SIGINT or SIGTERM report NOT_SERVING, let the calls in
// flight finish (for at most -shutdown-timeout), close the engine, remove the socket and
// exit 0.
//
// Limits: at most -max-conns connections (more are closed at accept), -max-streams calls
// per connection, idle connections closed after -idle-timeout, handshakes bounded by
// -handshake-timeout, keepalive enforced; the open files limit is raised to its hard limit.
// Logs are one log/slog line per event on stderr. Bad usage exits 2, a failure 1.
// docs/sidecar.md lists every flag with its default.
package main
