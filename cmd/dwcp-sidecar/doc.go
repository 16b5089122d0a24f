// Command dwcp-sidecar serves a dwcp-ml model bundle over gRPC (the dwcp.ml.v1 Engine
// service and the standard gRPC health service) on a Unix socket and/or TCP, for DWCP
// services that call the models through sidecar/client instead of linking the runtime.
//
//	dwcp-sidecar [-bundle golden/bundle] [-unix /tmp/dwcp-sidecar.sock] [-tcp 127.0.0.1:9400]
//	             [-metrics 127.0.0.1:9464] [-ort-lib PATH] [-max-batch 4096] [-shutdown-timeout 10s]
//
// It listens first, with health NOT_SERVING, then loads and verifies the bundle (golden
// predictions bit for bit) and reports SERVING. Prometheus metrics are served on
// http://ADDR/metrics (-metrics "" turns that off).
//
// Signals: SIGHUP reloads the bundle directory (verify, then swap; on failure the old
// bundle keeps serving and the error is logged). SIGINT or SIGTERM report NOT_SERVING, let
// the calls in flight finish (for at most -shutdown-timeout), close the engine, remove the
// socket and exit 0.
//
// The socket is created with the process umask (by default only its owner may connect). A
// socket file left by a dead process is replaced; one a live process serves is an error.
// Logs are one log/slog line per event on stderr. Bad usage exits 2, a failure 1.
package main
