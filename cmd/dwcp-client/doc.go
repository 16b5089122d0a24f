// Command dwcp-client talks to a running dwcp-sidecar through sidecar/client (pure Go, no
// cgo): a demonstration of every kind of call, the versions served, and hot reload.
//
//	dwcp-client [-addr unix://$XDG_RUNTIME_DIR/dwcp-sidecar/dwcp-sidecar.sock] [-bundle golden/bundle] [-wait 30s] [-timeout 2s] demo
//	dwcp-client [-addr ...] versions
//	dwcp-client [-addr ...] reload DIR
//	dwcp-client [-addr ...] rollout show | promote | rollback | withdraw | clear-shadow
//	dwcp-client [-addr ...] rollout set [-canary DIR] [-weight BP] [-shadow DIR] [-hold D] [-window D]
//	dwcp-client [-addr ...] report-actual bandwidth|capacity|anomaly|link ENTITY TS VALUE
//	dwcp-client -addr HOST:PORT [-tls-ca CA.pem] [-tls-cert C.pem -tls-key C.key] [-tls-server-name NAME] ...
//
// The default -addr is dwcp-sidecar's default socket for this user (client.DefaultSocket:
// $XDG_RUNTIME_DIR/dwcp-sidecar/, else /run/dwcp-sidecar/ for root, else
// /tmp/dwcp-sidecar-UID/). Any -tls-* flag turns TLS on for a TCP -addr: -tls-ca verifies
// the sidecar's certificate (default: the system's CAs), -tls-cert and -tls-key present a
// client certificate, which reload over TCP needs (mutual TLS).
//
// demo waits until the sidecar serves, prints its versions, then sends one request of each
// kind on the golden inputs of -bundle (read locally): ForecastBandwidth on pba's first
// golden run, AnomalyScore on anomaly's, RecommendCapacity on scaling's, ForecastLink on
// link's (skipped when the bundle has no link model), PlaceVM on the
// placement model's first golden request (chosen host, score, hosts removed by each hard
// constraint, top factors against the reference host), and Predict on row 0 of the
// anomaly model's golden input; it prints the answers as a table.
//
// reload asks the sidecar to verify and swap in the bundle in DIR, made absolute against
// this command's working directory (the sidecar runs on the same machine); on failure the
// sidecar keeps its bundle and the error says why. Reload is an admin call: the sidecar
// allows it on its Unix socket to the uids of its -admin-uids (default its own) and over
// TCP only with a client certificate its -tls-client-ca verified, and only for a DIR
// under its -bundle-root.
//
// rollout shows or changes the sidecar's canary and shadow (docs/rollout.md): show prints
// the slots, the canary weight, the policy, the last judgement and transitions; set opens
// a canary (at -weight basis points, 0 = the first step) and/or a shadow and may change the
// policy's hold and window; promote, rollback, withdraw and clear-shadow act at once. All
// but show are admin calls, authorized like reload, with DIRs under -bundle-root.
//
// report-actual reports an observed outcome for ENTITY at TS (Unix seconds: valid_until of
// the forecast, link or capacity answer, the last sample of an anomaly window; kind link is
// a link's mean available bandwidth in Mbit/s) and prints how many
// served predictions it was joined to.
//
// Bad usage prints one line and exits 2; a failed call exits 1.
package main
