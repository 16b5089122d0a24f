package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// ReasonStoreFull is the ErrorInfo reason of a CodeStoreFull error (gRPC ResourceExhausted).
const ReasonStoreFull = "STORE_FULL"

// Store returns the online feature store the Server's Observe feeds and its entity calls
// answer from.
func (s *Server) Store() *store.Store { return s.store }

// setNeeds sizes the store for what the slots' engines read (the longest window of each
// schema over champion, canary and shadow).
func (s *Server) setNeeds(n *slots) {
	var needs []store.Need
	for _, a := range n.all() {
		if src, ok := a.source(); ok {
			needs = append(needs, store.NeedsOf(context.Background(), src)...)
		}
	}
	s.store.SetNeeds(needs)
}

// source is the engine as the store's Source; false for an engine without window
// parameters (not the runtime's) or an empty slot.
func (a *attached) source() (store.Source, bool) {
	if a == nil {
		return nil, false
	}
	src, ok := a.eng.(store.Source)
	return src, ok
}

func entityRef(op string, r *pb.EntityRef) (engine.EntityRef, error) {
	k := engine.EntityKind(r.GetKind())
	if k < engine.EntityVM || k > engine.EntityLink {
		return engine.EntityRef{}, engine.Errorf(engine.CodeInvalidInput, op, "", "entity %q has kind %s; it must be vm, host or link", r.GetId(), r.GetKind())
	}
	return engine.EntityRef{Kind: k, ID: r.GetId()}, nil
}

// heldSeries builds, for each entity, the series its slot's model reads from the store
// (the entity routes as a series with that entity would).
func (s *Server) heldSeries(ctx context.Context, st *slots, op, family string, refs []*pb.EntityRef) ([]engine.Series, error) {
	out := make([]engine.Series, len(refs))
	for i, r := range refs {
		ref, err := entityRef(op, r)
		if err != nil {
			return nil, err
		}
		a := st.get(st.route(ref.ID))
		src, ok := a.source()
		if !ok {
			return nil, engine.Errorf(engine.CodeUnavailable, op, "", "the %s engine cannot answer from the online store", st.route(ref.ID))
		}
		if out[i], err = store.SeriesFor(ctx, s.store, src, family, ref); err != nil {
			if len(refs) > 1 {
				var e *engine.Error
				if errors.As(err, &e) {
					c := *e
					c.Msg = fmt.Sprintf("entity %d: %s", i, e.Msg)
					return nil, &c
				}
			}
			return nil, err
		}
	}
	return out, nil
}

// heldHosts fills the hosts of every request that names host ids from the store, with
// the placement model of the slot the VM routes to.
func (s *Server) heldHosts(ctx context.Context, st *slots, reqs []*pb.PlacementRequest, in []engine.PlacementRequest,
	pooled func() *[]engine.HostState) error {
	const op = "place vm"
	for i, r := range reqs {
		prefix := ""
		if len(reqs) > 1 {
			prefix = fmt.Sprintf("request %d: ", i)
		}
		idp := hostIDSlices.Get().(*[]string)
		ids, err := wire.HeldHostIDsTo(r, *idp)
		if err != nil {
			hostIDSlices.Put(idp)
			return engine.Errorf(engine.CodeInvalidInput, op, "", "%s%s", prefix, err)
		}
		if len(r.GetHostIdEnds()) > 0 { // split into the pooled slice: give it back after the lookup
			defer func() {
				clear(ids) // hold no strings of this request
				*idp = ids[:0]
				hostIDSlices.Put(idp)
			}()
		} else {
			hostIDSlices.Put(idp)
		}
		if len(ids) == 0 {
			continue
		}
		if len(r.GetHosts()) > 0 {
			return engine.Errorf(engine.CodeInvalidInput, op, "", "%s%d hosts and %d host ids: send the hosts' state or their ids, not both",
				prefix, len(r.GetHosts()), len(ids))
		}
		slot := st.route(in[i].VM.ID)
		src, ok := st.get(slot).source()
		if !ok {
			return engine.Errorf(engine.CodeUnavailable, op, "", "the %s engine cannot place on held host state", slot)
		}
		hp := pooled()
		var dst []engine.HostState
		if hp != nil {
			dst = (*hp)[:0]
		}
		full, err := store.PlacementFor(ctx, s.store, src, engine.HeldPlacementRequest{VM: in[i].VM, HostIDs: ids,
			Overcommit: in[i].Overcommit, Domains: in[i].Domains}, dst)
		if err != nil {
			var e *engine.Error
			if prefix != "" && errors.As(err, &e) {
				c := *e
				c.Msg = prefix + e.Msg
				return &c
			}
			return err
		}
		in[i].Hosts = full.Hosts
		if hp != nil {
			*hp = full.Hosts[:0] // grown, if it had to: kept for the next call
		}
	}
	return nil
}

// hostIDSlices recycles the id lists that packed host ids are split into (the store
// keeps its own copy of a list it remembers).
var hostIDSlices = sync.Pool{New: func() any { return new([]string) }}

// hostSlices recycles the host lists of held placements (not when a shadow keeps the
// request after the call).
var hostSlices = sync.Pool{New: func() any { return new([]engine.HostState) }}

// SamplesFromProto converts one Observe message's batches (sharing the slices).
func SamplesFromProto(batches []*pb.EntitySamples) ([]engine.Samples, error) {
	out := make([]engine.Samples, len(batches))
	for i, b := range batches {
		out[i] = engine.Samples{Entity: engine.EntityRef{Kind: engine.EntityKind(b.GetEntity().GetKind()), ID: b.GetEntity().GetId()},
			Schema: b.GetSchema(), Timestamps: b.GetTimestamps(), Values: b.GetValues()}
		if h := b.GetHost(); h != nil {
			if len(h.GetCapacity()) != engine.NumResources || len(h.GetAllocated()) != engine.NumResources {
				return nil, engine.Errorf(engine.CodeInvalidInput, "observe", "", "batch %d: host %q: capacity has %d values and allocated %d; want %d each, one per resource %v",
					i, b.GetEntity().GetId(), len(h.GetCapacity()), len(h.GetAllocated()), engine.NumResources, engine.ResourceNames)
			}
			hi := &engine.HostInfo{Domain: h.GetDomain(), VMCount: int(h.GetVmCount()), NICMbps: h.GetNicMbps(),
				FailureRate: h.GetFailureRate(), Cost: h.GetCost(), Maintenance: h.GetMaintenance()}
			copy(hi.Capacity[:], h.GetCapacity())
			copy(hi.Allocated[:], h.GetAllocated())
			out[i].Host = hi
		}
	}
	return out, nil
}

// ObserveResultToProto converts the counts of an Observe call.
func ObserveResultToProto(r engine.ObserveResult) *pb.ObserveResponse {
	return &pb.ObserveResponse{Accepted: int64(r.Accepted), Late: int64(r.Late), Invalid: int64(r.Invalid),
		EntityFull: int64(r.EntityFull), HostInfos: int64(r.HostInfos), Created: int64(r.Created)}
}

// observeStatus is the status of an Observe error: a full store is ResourceExhausted with
// reason STORE_FULL (the shared error mapping has no such code); the rest as every call's.
func observeStatus(ctx context.Context, err error, res engine.ObserveResult) error {
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.CodeStoreFull {
		return wire.Status(ctx, err)
	}
	msg := fmt.Sprintf("%s (%d samples accepted before it)", e.Msg, res.Accepted)
	st := status.New(codes.ResourceExhausted, "dwcp-ml: observe: "+msg)
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonStoreFull, Domain: wire.Domain,
		Metadata: map[string]string{"op": e.Op, "model": e.Model, "msg": msg}}); derr == nil {
		st = d
	}
	return st.Err()
}

// Observe feeds the online store from a client stream; any peer may observe (it is not an
// admin call, like ReportActual).
func (h service) Observe(stream pb.Engine_ObserveServer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			h.metrics.panics.WithLabelValues("Observe").Inc()
			h.log.Error("panic in handler", "method", "Observe", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "dwcp-ml: Observe: internal error (a panic, logged by the sidecar)")
		}
	}()
	ctx := stream.Context()
	var total engine.ObserveResult
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(ObserveResultToProto(total))
		}
		if err != nil {
			return err
		}
		batch, err := SamplesFromProto(msg.GetBatches())
		if err == nil {
			var res engine.ObserveResult
			res, err = h.store.Observe(ctx, batch)
			total.Add(res)
		}
		if err != nil {
			return observeStatus(ctx, err, total)
		}
	}
}

// storeCollector exports the store's figures at scrape time.
type storeCollector struct {
	st                                  *store.Store
	entities, samples, bytes            *prometheus.Desc
	observed, refused, evicted, hostSet *prometheus.Desc
}

func newStoreCollector(st *store.Store) *storeCollector {
	return &storeCollector{st: st,
		entities: prometheus.NewDesc("dwcp_ml_store_entities", "Entity buffers the online store holds ((kind, id, schema)).", nil, nil),
		samples:  prometheus.NewDesc("dwcp_ml_store_samples", "Raw samples the online store holds.", nil, nil),
		bytes:    prometheus.NewDesc("dwcp_ml_store_buffer_bytes", "Memory of the store's sample buffers (slots x (8 + 8 x channels)).", nil, nil),
		observed: prometheus.NewDesc("dwcp_ml_store_samples_total", "Samples observed, by result: accepted, late, invalid, entity_full.", []string{"result"}, nil),
		refused:  prometheus.NewDesc("dwcp_ml_store_refused_entities_total", "New entities refused because the store was full.", nil, nil),
		evicted:  prometheus.NewDesc("dwcp_ml_store_evicted_entities_total", "Entities evicted after the TTL without samples.", nil, nil),
		hostSet:  prometheus.NewDesc("dwcp_ml_store_host_states_total", "Host placement states replaced by Observe.", nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.entities, c.samples, c.bytes, c.observed, c.refused, c.evicted, c.hostSet} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(c.entities, prometheus.GaugeValue, float64(st.Entities))
	ch <- prometheus.MustNewConstMetric(c.samples, prometheus.GaugeValue, float64(st.Samples))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
	for _, r := range []struct {
		name string
		v    int64
	}{{"accepted", st.Accepted}, {"late", st.Late}, {"invalid", st.Invalid}, {"entity_full", st.EntityFull}} {
		ch <- prometheus.MustNewConstMetric(c.observed, prometheus.CounterValue, float64(r.v), r.name)
	}
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(st.Evicted))
	ch <- prometheus.MustNewConstMetric(c.hostSet, prometheus.CounterValue, float64(st.HostInfos))
}
