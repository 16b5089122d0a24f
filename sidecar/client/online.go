package client

import (
	"context"
	"errors"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

var _ engine.Online = (*Client)(nil)

// reasonStoreFull is the sidecar's ErrorInfo reason of a full online store
// (server.ReasonStoreFull).
const reasonStoreFull = "STORE_FULL"

// maxObserveMessage bounds the samples' bytes in one Observe stream message, far below
// the message size limit.
const maxObserveMessage = 4 << 20

// SamplesToProto converts samples for Observe, sharing the slices.
func SamplesToProto(batch []engine.Samples) []*pb.EntitySamples {
	out := make([]*pb.EntitySamples, len(batch))
	for i, b := range batch {
		out[i] = &pb.EntitySamples{Entity: entityToProto(b.Entity), Schema: b.Schema,
			Timestamps: b.Timestamps, Values: b.Values}
		if h := b.Host; h != nil {
			out[i].Host = &pb.HostInfo{Domain: h.Domain, Capacity: h.Capacity[:], Allocated: h.Allocated[:],
				VmCount: int32(h.VMCount), NicMbps: h.NICMbps, FailureRate: h.FailureRate, Cost: h.Cost,
				Maintenance: h.Maintenance}
		}
	}
	return out
}

func entityToProto(e engine.EntityRef) *pb.EntityRef {
	return &pb.EntityRef{Kind: pb.EntityKind(e.Kind), Id: e.ID}
}

func observeResult(r *pb.ObserveResponse) engine.ObserveResult {
	return engine.ObserveResult{Accepted: int(r.GetAccepted()), Late: int(r.GetLate()), Invalid: int(r.GetInvalid()),
		EntityFull: int(r.GetEntityFull()), HostInfos: int(r.GetHostInfos()), Created: int(r.GetCreated())}
}

// Observer is one open Observe stream: Send as many batches as needed, then Close for
// the counts. Not safe for concurrent use.
type Observer struct {
	c      *Client
	stream pb.Engine_ObserveClient
	cancel context.CancelFunc
	ctx    context.Context
}

// Observer opens an Observe stream that lives until Close or ctx ends (no call timeout:
// a collector may keep it open).
func (c *Client) Observer(ctx context.Context) (*Observer, error) {
	ctx, cancel := context.WithCancel(ctx)
	st, err := c.rpc.Observe(ctx)
	if err != nil {
		cancel()
		return nil, c.observeFail(ctx, err)
	}
	return &Observer{c: c, stream: st, cancel: cancel, ctx: ctx}, nil
}

// Send sends batch in one or more stream messages. An error means the stream ended: Close
// returns why.
func (o *Observer) Send(batch []engine.Samples) error {
	for len(batch) > 0 {
		n, size := 0, 0
		for n < len(batch) && (n == 0 || size < maxObserveMessage) {
			size += 8*len(batch[n].Timestamps) + 8*len(batch[n].Values) + 64
			n++
		}
		if err := o.stream.Send(&pb.ObserveRequest{Batches: SamplesToProto(batch[:n])}); err != nil {
			return o.c.observeFail(o.ctx, err)
		}
		batch = batch[n:]
	}
	return nil
}

// Close ends the stream and returns what the store did with every sample sent. After an
// error in Send, it returns the sidecar's reason (a malformed batch, a full store).
func (o *Observer) Close() (engine.ObserveResult, error) {
	defer o.cancel()
	resp, err := o.stream.CloseAndRecv()
	if err != nil {
		return engine.ObserveResult{}, o.c.observeFail(o.ctx, err)
	}
	return observeResult(resp), nil
}

// Observe sends batch to the sidecar's online store on one stream (a call timeout
// applies as for every call).
func (c *Client) Observe(ctx context.Context, batch []engine.Samples) (engine.ObserveResult, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	o, err := c.Observer(ctx)
	if err != nil {
		return engine.ObserveResult{}, err
	}
	if err := o.Send(batch); err != nil {
		if _, cerr := o.Close(); cerr != nil {
			return engine.ObserveResult{}, cerr
		}
		return engine.ObserveResult{}, err
	}
	return o.Close()
}

// observeFail maps an Observe error; a full store comes back as CodeStoreFull.
func (c *Client) observeFail(ctx context.Context, err error) error {
	return c.storeFail(ctx, err, "observe")
}

// storeFail maps the error of a call that observes (op); a full store comes back as
// CodeStoreFull.
func (c *Client) storeFail(ctx context.Context, err error, op string) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted {
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == wire.Domain && info.GetReason() == reasonStoreFull {
				md := info.GetMetadata()
				return &engine.Error{Code: engine.CodeStoreFull, Op: md["op"], Model: md["model"], Msg: md["msg"]}
			}
		}
	}
	var e *engine.Error
	if errors.As(err, &e) {
		return e
	}
	return c.fail(ctx, err, op, "")
}

// ForecastBandwidthEntity forecasts from the samples the sidecar holds for e.
func (c *Client) ForecastBandwidthEntity(ctx context.Context, e engine.EntityRef) (engine.BandwidthForecast, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.ForecastBandwidth(ctx, &pb.ForecastBandwidthRequest{Entities: []*pb.EntityRef{entityToProto(e)}})
	if err != nil {
		return engine.BandwidthForecast{}, c.fail(ctx, err, "forecast bandwidth", "")
	}
	return one(answers(c.target, "forecast bandwidth", 1, resp.GetForecasts(), wire.ForecastFromProto))
}

// AnomalyScoreEntity scores the samples the sidecar holds for e.
func (c *Client) AnomalyScoreEntity(ctx context.Context, e engine.EntityRef) (engine.AnomalyResult, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.AnomalyScore(ctx, &pb.AnomalyScoreRequest{Entities: []*pb.EntityRef{entityToProto(e)}})
	if err != nil {
		return engine.AnomalyResult{}, c.fail(ctx, err, "anomaly score", "")
	}
	return one(answers(c.target, "anomaly score", 1, resp.GetResults(), wire.AnomalyFromProto))
}

// RecommendCapacityEntity sizes from the samples the sidecar holds for e.
func (c *Client) RecommendCapacityEntity(ctx context.Context, e engine.EntityRef) (engine.CapacityRecommendation, error) {
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	resp, err := c.rpc.RecommendCapacity(ctx, &pb.RecommendCapacityRequest{Entities: []*pb.EntityRef{entityToProto(e)}})
	if err != nil {
		return engine.CapacityRecommendation{}, c.fail(ctx, err, "recommend capacity", "")
	}
	return one(answers(c.target, "recommend capacity", 1, resp.GetRecommendations(), wire.CapacityFromProto))
}

// PlaceVMHeld places a VM on the state the sidecar holds for the named hosts.
func (c *Client) PlaceVMHeld(ctx context.Context, req engine.HeldPlacementRequest) (engine.Placement, error) {
	const op = "place vm"
	ctx, cancel := c.callCtx(ctx, c.timeout)
	defer cancel()
	full := wire.PlacementRequestsToProto([]engine.PlacementRequest{{VM: req.VM, Overcommit: req.Overcommit, Domains: req.Domains}})
	// The ids in one piece once the sidecar said it reads them (the first call, and any
	// call to an older sidecar, sends the repeated form).
	packed := c.packedIDs.Load() && c.packHostIDs(full[0], req.HostIDs)
	if !packed {
		full[0].HostIds = req.HostIDs
	}
	resp, err := c.rpc.PlaceVM(ctx, &pb.PlaceVMRequest{Requests: full, PackedRejections: true})
	if err != nil && packed && len(req.HostIDs) > 0 && olderSidecar(err) {
		// A sidecar replaced by an older one under the same target reads no packed ids
		// ("no hosts"): ask again the old way, and keep to it until a sidecar says otherwise.
		c.packedIDs.Store(false)
		full[0].HostIdsConcat, full[0].HostIdEnds, full[0].HostIds = "", nil, req.HostIDs
		resp, err = c.rpc.PlaceVM(ctx, &pb.PlaceVMRequest{Requests: full, PackedRejections: true})
	}
	if err != nil {
		return engine.Placement{}, c.fail(ctx, err, op, "")
	}
	c.packedIDs.Store(resp.GetReadsPackedHostIds())
	if got := len(resp.GetPlacements()); got != 1 {
		return engine.Placement{}, engine.Errorf(engine.CodeInternal, op, "", "sidecar %s answered %d of 1 requests", c.target, got)
	}
	p, err := wire.PlacementFromProtoHosts(resp.GetPlacements()[0], wire.HostIDList(req.HostIDs))
	if err != nil {
		return engine.Placement{}, engine.Errorf(engine.CodeInternal, op, "", "sidecar %s: %s", c.target, err)
	}
	return p, nil
}

// lastHostIDs is the host list a held call last packed, with its packed form (read-only:
// concurrent calls marshal the same string and offsets).
type lastHostIDs struct {
	ids    []string // a copy, so a caller reusing its slice cannot change it
	concat string
	ends   []uint32
}

// packHostIDs is wire.PackHostIDs, reusing the last call's packed form when ids equal the
// ids it packed: a scheduler sends its cluster's ids call after call, and comparing them
// costs less than copying them (no allocation either).
func (c *Client) packHostIDs(r *pb.PlacementRequest, ids []string) bool {
	if l := c.lastIDs.Load(); l != nil && slices.Equal(l.ids, ids) {
		r.HostIdsConcat, r.HostIdEnds = l.concat, l.ends
		return true
	}
	if !wire.PackHostIDs(r, ids) {
		return false
	}
	c.lastIDs.Store(&lastHostIDs{ids: slices.Clone(ids), concat: r.HostIdsConcat, ends: r.HostIdEnds})
	return true
}

// olderSidecar reports the refusal a sidecar that reads no packed host ids gives a held
// request: no hosts at all (a sidecar that reads them never says so for a request with ids).
func olderSidecar(err error) bool {
	e := wire.ErrorFromStatus(err, "", "", "")
	return e.Code == engine.CodeInvalidInput && strings.HasPrefix(e.Msg, "no hosts")
}
