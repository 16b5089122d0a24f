// Command dwcp-client talks to a running dwcp-sidecar through sidecar/client (pure Go, no
// cgo): a demonstration of every kind of call, the versions served, and hot reload.
//
//	dwcp-client [-addr unix:///tmp/dwcp-sidecar.sock] [-bundle golden/bundle] [-wait 30s] [-timeout 2s] demo
//	dwcp-client [-addr ...] versions
//	dwcp-client [-addr ...] reload DIR
//
// demo waits until the sidecar serves, prints its versions, then sends one request of each
// kind on the golden inputs of -bundle (read locally): ForecastBandwidth on pba's first
// golden run, AnomalyScore on anomaly's, RecommendCapacity on scaling's, PlaceVM on the
// placement model's first golden request (chosen host, score, hosts removed by each hard
// constraint, top factors against the reference host), and Predict on row 0 of the
// anomaly model's golden input; it prints the answers as a table.
//
// reload asks the sidecar to verify and swap in the bundle in DIR, made absolute against
// this command's working directory (the sidecar runs on the same machine); on failure the
// sidecar keeps its bundle and the error says why.
//
// Bad usage prints one line and exits 2; a failed call exits 1.
package main
