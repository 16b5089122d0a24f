package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// Defaults of the options.
const (
	DefaultTimeout    = 2 * time.Second
	DefaultMaxMsgSize = 64 << 20 // the sidecar's default limit
	reloadTimeout     = time.Minute
)

// serviceName is the Engine's name in the sidecar's health service.
var serviceName = pb.Engine_ServiceDesc.ServiceName

// Option configures Dial.
type Option func(*options)

type options struct {
	timeout    time.Duration
	maxMsgSize int
	tls        *tls.Config
	dial       []grpc.DialOption
}

// WithTimeout sets the timeout of calls whose context has no deadline (default 2 s);
// 0 means none.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxMessageSize sets the largest request and answer in bytes (default 64 MiB).
func WithMaxMessageSize(n int) Option { return func(o *options) { o.maxMsgSize = n } }

// WithTLSConfig makes the client speak TLS to a sidecar on TCP: cfg's RootCAs verify the
// sidecar's certificate (nil = the system pool), its Certificates are the client
// certificate that admin calls (Reload) over TCP need, ServerName overrides the name
// checked. At least TLS 1.2. Without it the client speaks plaintext, right for the Unix
// socket and a loopback sidecar without TLS.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) {
		o.tls = cfg.Clone()
		if o.tls.MinVersion < tls.VersionTLS12 {
			o.tls.MinVersion = tls.VersionTLS12
		}
	}
}

// WithDialOptions adds gRPC dial options (e.g. interceptors for tracing, or TLS
// credentials for a sidecar reached over a network), applied after the client's own.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// Client is a connection to a dwcp-sidecar; safe for concurrent use.
type Client struct {
	target  string
	timeout time.Duration
	conn    *grpc.ClientConn
	rpc     pb.EngineClient
	health  healthpb.HealthClient
	// packedIDs: the sidecar said it reads packed host ids (PlaceVMResponse.reads_packed_host_ids).
	packedIDs atomic.Bool
	lastIDs   atomic.Pointer[lastHostIDs] // the last packed host list (packHostIDs)
}

var _ engine.Engine = (*Client)(nil)

// Dial returns a client of the sidecar at target: "unix:///path/to.sock" or "host:port".
// It does not wait for the sidecar (it connects on the first call and reconnects when the
// sidecar restarts); WaitReady waits until it serves.
func Dial(ctx context.Context, target string, opts ...Option) (*Client, error) {
	const op = "dial"
	if err := ctx.Err(); err != nil {
		return nil, &engine.Error{Code: engine.CodeCanceled, Op: op, Msg: err.Error(), Err: err}
	}
	o := options{timeout: DefaultTimeout, maxMsgSize: DefaultMaxMsgSize}
	for _, opt := range opts {
		opt(&o)
	}
	if !strings.HasPrefix(target, "unix:") {
		if _, _, err := net.SplitHostPort(target); err != nil {
			return nil, engine.Errorf(engine.CodeInvalidInput, op, "",
				"target %q: want unix:///path/to.sock or host:port (%w)", target, err)
		}
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// A local sidecar (re)starts within a second: retry connecting after 100 ms, not
		// gRPC's default 1 s, backing off to at most 5 s.
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second, Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second}}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.maxMsgSize), grpc.MaxCallSendMsgSize(o.maxMsgSize)),
	}, o.dial...)
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		return nil, engine.Errorf(engine.CodeInvalidInput, op, "", "target %q: %w", target, err)
	}
	return &Client{target: target, timeout: o.timeout, conn: conn,
		rpc: pb.NewEngineClient(conn), health: healthpb.NewHealthClient(conn)}, nil
}

// Close closes the connection; later calls fail with CodeUnavailable.
func (c *Client) Close() error {
	if err := c.conn.Close(); err != nil {
		return &engine.Error{Code: engine.CodeInternal, Op: "close", Msg: err.Error(), Err: err}
	}
	return nil
}

// WaitReady polls the sidecar's health until it reports SERVING (its bundle is loaded and
// verified) or ctx ends; then the error is CodeUnavailable with the last state seen and
// wraps ctx's error.
func (c *Client) WaitReady(ctx context.Context) error {
	last := "no answer yet"
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		cctx, cancel := c.callCtx(ctx, c.timeout)
		resp, err := c.health.Check(cctx, &healthpb.HealthCheckRequest{Service: serviceName})
		cancel()
		switch {
		case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
			return nil
		case err == nil:
			last = resp.GetStatus().String()
		default:
			last = wire.ErrorFromStatus(err, c.target, "wait ready", "").Error()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &engine.Error{Code: engine.CodeUnavailable, Op: "wait ready", Err: ctx.Err(),
				Msg: fmt.Sprintf("sidecar %s not serving (%s): %v", c.target, last, ctx.Err())}
		case <-t.C:
		}
	}
}

// callCtx applies the default timeout d when ctx has no deadline.
func (c *Client) callCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (c *Client) Predict(ctx context.Context, model, version string, features []float64) ([]float64, error) {
	return c.predict(ctx, "predict", model, version, 1, features)
}

func (c *Client) PredictBatch(ctx context.Context, model, version string, rows int, features []float64) ([]float64, error) {
	return c.predict(ctx, "predict batch", model, version, rows, features)
}

func (c *Client) predict(ctx context.Context, op, model, version string, rows int, features []float64) ([]float64, error) {
	out, _, err := c.predictFor(ctx, op, "", model, version, rows, features)
	return out, err
}

// PredictFor is PredictBatch for entity: the sidecar routes the call to its champion or
// canary by entity (sticky), and the answer names the model version and bundle that
// produced it.
func (c *Client) PredictFor(ctx context.Context, entity, model, version string, rows int, features []float64) ([]float64, engine.ModelRef, error) {
	return c.predictFor(ctx, "predict", entity, model, version, rows, features)
}

func (c *Client) predictFor(ctx context.Context, op, entity, model, version string, rows int, features []float64) ([]float64, engine.ModelRef, error) {
	if rows > math.MaxInt32 {
		return nil, engine.ModelRef{}, engine.Errorf(engine.CodeTooLarge, op, model, "%d rows; split the batch", rows)
	}
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.Predict(ctx, &pb.PredictRequest{Model: model, Version: version, Rows: int32(rows), Features: features,
		Entity: entity})
	if err != nil {
		return nil, engine.ModelRef{}, c.fail(ctx, err, op, model)
	}
	m := resp.GetModel()
	return resp.GetOutputs(), engine.ModelRef{Name: m.GetName(), Version: m.GetVersion(), Bundle: m.GetBundle()}, nil
}

func (c *Client) ForecastBandwidth(ctx context.Context, s engine.Series) (engine.BandwidthForecast, error) {
	return one(c.ForecastBandwidthBatch(ctx, []engine.Series{s}))
}

func (c *Client) ForecastBandwidthBatch(ctx context.Context, s []engine.Series) ([]engine.BandwidthForecast, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.ForecastBandwidth(ctx, &pb.ForecastBandwidthRequest{Series: seriesToProto(s)})
	if err != nil {
		return nil, c.fail(ctx, err, "forecast bandwidth", "")
	}
	return answers(c.target, "forecast bandwidth", len(s), resp.GetForecasts(), wire.ForecastFromProto)
}

func (c *Client) AnomalyScore(ctx context.Context, s engine.Series) (engine.AnomalyResult, error) {
	return one(c.AnomalyScoreBatch(ctx, []engine.Series{s}))
}

func (c *Client) AnomalyScoreBatch(ctx context.Context, s []engine.Series) ([]engine.AnomalyResult, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.AnomalyScore(ctx, &pb.AnomalyScoreRequest{Series: seriesToProto(s)})
	if err != nil {
		return nil, c.fail(ctx, err, "anomaly score", "")
	}
	return answers(c.target, "anomaly score", len(s), resp.GetResults(), wire.AnomalyFromProto)
}

func (c *Client) RecommendCapacity(ctx context.Context, s engine.Series) (engine.CapacityRecommendation, error) {
	return one(c.RecommendCapacityBatch(ctx, []engine.Series{s}))
}

func (c *Client) RecommendCapacityBatch(ctx context.Context, s []engine.Series) ([]engine.CapacityRecommendation, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.RecommendCapacity(ctx, &pb.RecommendCapacityRequest{Series: seriesToProto(s)})
	if err != nil {
		return nil, c.fail(ctx, err, "recommend capacity", "")
	}
	return answers(c.target, "recommend capacity", len(s), resp.GetRecommendations(), wire.CapacityFromProto)
}

func (c *Client) PlaceVM(ctx context.Context, req engine.PlacementRequest) (engine.Placement, error) {
	return one(c.place(ctx, "place vm", []engine.PlacementRequest{req}))
}

func (c *Client) PlaceVMBatch(ctx context.Context, reqs []engine.PlacementRequest) ([]engine.Placement, error) {
	return c.place(ctx, "place vm batch", reqs)
}

func (c *Client) place(ctx context.Context, op string, reqs []engine.PlacementRequest) ([]engine.Placement, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.PlaceVM(ctx, &pb.PlaceVMRequest{Requests: wire.PlacementRequestsToProto(reqs), PackedRejections: true})
	if err != nil {
		return nil, c.fail(ctx, err, op, "")
	}
	if got := len(resp.GetPlacements()); got != len(reqs) {
		return nil, engine.Errorf(engine.CodeInternal, op, "", "sidecar %s answered %d of %d requests", c.target, got, len(reqs))
	}
	out := make([]engine.Placement, len(reqs))
	for i, p := range resp.GetPlacements() {
		if out[i], err = wire.PlacementFromProtoHosts(p, wire.HostIDs(reqs[i].Hosts)); err != nil {
			return nil, engine.Errorf(engine.CodeInternal, op, "", "sidecar %s, request %d: %s", c.target, i, err)
		}
	}
	return out, nil
}

func (c *Client) Versions(ctx context.Context) (engine.Versions, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.Versions(ctx, &pb.VersionsRequest{})
	if err != nil {
		return engine.Versions{}, c.fail(ctx, err, "versions", "")
	}
	return wire.VersionsFromProto(resp.GetVersions()), nil
}

// Reload asks the sidecar to verify the bundle in dir (a path on the sidecar's machine;
// "" = its current one) and swap it in; on failure the old bundle keeps serving and the
// error says why (CodeBadBundle, CodeMismatch, ...). It has the shape of the runtime's
// Reload, so code can reload either.
func (c *Client) Reload(ctx context.Context, dir string) error {
	d := c.timeout
	if d > 0 {
		d = max(d, reloadTimeout)
	}
	ctx, cancel := c.callCtx(ctx, d)
	defer cancel()
	if _, err := c.rpc.Reload(ctx, &pb.ReloadRequest{BundleDir: dir}); err != nil {
		return c.fail(ctx, err, "reload", "")
	}
	return nil
}

// seriesToProto is wire.SeriesToProto with each series' entity (which routes it).
func seriesToProto(s []engine.Series) []*pb.Series {
	out := wire.SeriesToProto(s)
	for i := range s {
		out[i].Entity = s[i].Entity
	}
	return out
}

// ActualKind is the kind of outcome ReportActual reports.
type ActualKind int

// The outcomes, one per typed call whose answer they score.
const (
	ActualBandwidth ActualKind = ActualKind(pb.ActualKind_ACTUAL_KIND_BANDWIDTH) // mean throughput over the horizon (KB/s)
	ActualCapacity  ActualKind = ActualKind(pb.ActualKind_ACTUAL_KIND_CAPACITY)  // peak CPU demand over the horizon (MHz)
	ActualAnomaly   ActualKind = ActualKind(pb.ActualKind_ACTUAL_KIND_ANOMALY)   // 1 = the window was anomalous, 0 = not
)

// ReportActual reports the observed value for entity at timestamp (Unix s: valid_until of
// a forecast or capacity answer, the last sample of an anomaly window) and returns how
// many served predictions (one per slot) it was joined to. CodeNotFound: nothing served
// waits for it; CodeInvalidInput: the value cannot score (NaN, a label not 0 or 1, ...).
func (c *Client) ReportActual(ctx context.Context, kind ActualKind, entity string, timestamp int64, value float64) (int, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.ReportActual(ctx, &pb.ReportActualRequest{Kind: pb.ActualKind(kind), Entity: entity,
		Timestamp: timestamp, Value: value})
	if err != nil {
		return 0, c.fail(ctx, err, "report actual", "")
	}
	return int(resp.GetJoined()), nil
}

// RolloutRequest is a SetRollout call (an admin call, like Reload).
type RolloutRequest struct {
	// Action: "set" (CanaryDir at CanaryWeightBP, ShadowDir, Policy: what is given),
	// "promote", "rollback", "withdraw" or "clear-shadow".
	Action         string
	CanaryDir      string // a bundle directory on the sidecar's machine, under its bundle root
	CanaryWeightBP int    // basis points; 0 = the policy's first step
	ShadowDir      string
	Policy         *rollout.Policy // nil = keep; zero fields = defaults
}

var rolloutActions = map[string]pb.RolloutAction{
	"set": pb.RolloutAction_ROLLOUT_ACTION_SET, "promote": pb.RolloutAction_ROLLOUT_ACTION_PROMOTE,
	"rollback": pb.RolloutAction_ROLLOUT_ACTION_ROLLBACK, "withdraw": pb.RolloutAction_ROLLOUT_ACTION_WITHDRAW,
	"clear-shadow": pb.RolloutAction_ROLLOUT_ACTION_CLEAR_SHADOW,
}

// SetRollout changes the sidecar's rollout and returns its status afterwards. Opening a
// canary or shadow bundle verifies it like Reload, so it gets Reload's longer timeout.
func (c *Client) SetRollout(ctx context.Context, req RolloutRequest) (rollout.Status, error) {
	action, ok := rolloutActions[req.Action]
	if !ok {
		return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, "set rollout", "",
			"action %q: one of set, promote, rollback, withdraw, clear-shadow", req.Action)
	}
	d := c.timeout
	if d > 0 {
		d = max(d, reloadTimeout)
	}
	ctx, cancel := c.callCtx(ctx, d)
	defer cancel()
	msg := &pb.SetRolloutRequest{Action: action, CanaryDir: req.CanaryDir, CanaryWeightBp: int32(req.CanaryWeightBP),
		ShadowDir: req.ShadowDir}
	if req.Policy != nil {
		msg.Policy = rollout.PolicyToProto(*req.Policy)
	}
	resp, err := c.rpc.SetRollout(ctx, msg)
	if err != nil {
		return rollout.Status{}, c.fail(ctx, err, "set rollout", "")
	}
	return rollout.StatusFromProto(resp.GetVersions()), nil
}

// Rollout returns the sidecar's slots, canary weight and rollout state (from Versions).
func (c *Client) Rollout(ctx context.Context) (rollout.Status, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.Versions(ctx, &pb.VersionsRequest{})
	if err != nil {
		return rollout.Status{}, c.fail(ctx, err, "versions", "")
	}
	return rollout.StatusFromProto(resp.GetVersions()), nil
}

// fail turns the error of a call made with ctx into an *engine.Error. A Canceled status
// while ctx is live was not the caller's doing: the connection was closed (Close) or cut
// (the sidecar stopped), so it is CodeUnavailable.
func (c *Client) fail(ctx context.Context, err error, op, model string) *engine.Error {
	e := wire.ErrorFromStatus(err, c.target, op, model)
	if e.Code == engine.CodeCanceled && ctx.Err() == nil {
		return &engine.Error{Code: engine.CodeUnavailable, Op: op, Model: model, Err: err,
			Msg: fmt.Sprintf("sidecar %s: the call was cut off (%v)", c.target, err)}
	}
	return e
}

// answers converts a typed call's answers, which must be one per series.
func answers[P, A any](target, op string, n int, in []P, fromProto func(P) A) ([]A, error) {
	if len(in) != n {
		return nil, engine.Errorf(engine.CodeInternal, op, "", "sidecar %s answered %d of %d series", target, len(in), n)
	}
	out := make([]A, n)
	for i, p := range in {
		out[i] = fromProto(p)
	}
	return out, nil
}

func one[A any](a []A, err error) (A, error) {
	if err != nil {
		var zero A
		return zero, err
	}
	return a[0], nil
}
