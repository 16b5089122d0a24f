package server

import (
	"context"
	"errors"
	"math"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// The monitor keys of a slot's answers are {model name, bundle version, slot}. What each
// typed call records for ReportActual (entity = the series' entity, ts = the time the
// actual refers to):
//
//	ForecastBandwidth  Forecast  ts = last sample + horizon  Point, [Lower, Upper]
//	RecommendCapacity  Capacity  ts = last sample + horizon  Point = CapacityMHz
//	AnomalyScore       Flag      ts = last sample            Flag = Anomalous
//	ForecastLink       Forecast  ts = last sample + horizon  PointMbps, [LowerMbps, UpperMbps]
//
// A link answer's actual is ReportActual kind LINK (the mean available bandwidth in
// Mbit/s), not BANDWIDTH (a VM's throughput in KB/s): its monitor entity is "link:" + the
// link's id (linkEntity), so a VM and a link of one id never join each other's actuals.
//
// PlaceVM and Predict answers are not joined (no actual names them), but their inputs
// feed the live drift like every model run's.

var monitorKinds = map[actualKind]monitor.Kind{
	actualBandwidth: monitor.Forecast, actualCapacity: monitor.Capacity, actualAnomaly: monitor.Flag,
	actualLink: monitor.Forecast,
}

// linkEntity is the monitor's entity of a link answer (see above).
func linkEntity(id string) string { return "link:" + id }

// prediction is what the monitor keeps of a typed answer.
func prediction(ans any) (monitor.Prediction, bool) {
	switch a := ans.(type) {
	case engine.BandwidthForecast:
		return monitor.Prediction{Point: a.Point, Lo: a.Lower, Hi: a.Upper}, true
	case engine.CapacityRecommendation:
		return monitor.Prediction{Point: a.CapacityMHz}, true
	case engine.AnomalyResult:
		return monitor.Prediction{Flag: a.Anomalous}, true
	case engine.LinkForecast:
		return monitor.Prediction{Point: a.PointMbps, Lo: a.LowerMbps, Hi: a.UpperMbps}, true
	}
	return monitor.Prediction{}, false
}

// served records a typed answer of slot for entity in the monitor (no entity: nothing to
// join an actual to).
func served[A any, P interface{ GetModel() *pb.ModelRef }](s *Server, spec typedSpec[A, P], slot rollout.Slot,
	entity string, in engine.Series, ans A) {
	if s.mon == nil || entity == "" {
		return
	}
	p, ok := prediction(any(ans))
	if !ok {
		return
	}
	ref := spec.ref(ans)
	if spec.actual == actualLink {
		entity = linkEntity(entity)
	}
	s.mon.Served(monitor.Key{Model: ref.Name, Version: ref.Bundle, Slot: string(slot)}, monitorKinds[spec.actual],
		entity, spec.target(ans, in), p)
}

// slotKey is the context key of the slot a call runs on, for ObserveModel.
type slotKey struct{}

func withSlot(ctx context.Context, slot rollout.Slot) context.Context {
	return context.WithValue(ctx, slotKey{}, slot)
}

// ObserveModel feeds a model run's input and output tensors to the monitor's live drift
// windows, under the slot the Server ran it on; pass it as runtime.Config.Observe of
// every engine the Server serves. Runs outside a Server call are ignored.
func (s *Server) ObserveModel(ctx context.Context, ref engine.ModelRef, rows int, input, output []float32) {
	slot, ok := ctx.Value(slotKey{}).(rollout.Slot)
	if !ok || s.mon == nil {
		return
	}
	k := monitor.Key{Model: ref.Name, Version: ref.Bundle, Slot: string(slot)}
	// Errors (no reference for this model, a shape the reference does not fit) are the
	// monitor's to count; a call never fails for its drift.
	_ = s.mon.ObserveInputTensor(k, input, rows)
	_ = s.mon.ObserveOutputTensor(k, output, rows)
}

// forgetVacated drops the monitor's keys of every bundle that left its slot between old
// and n (pending predictions, pairs, drift window), so the gauges show only what serves.
// A canary that completes starts afresh under the champion's keys.
func (s *Server) forgetVacated(old, n *slots) {
	if s.mon == nil || old == nil {
		return
	}
	for _, slot := range []rollout.Slot{rollout.Champion, rollout.Canary, rollout.Shadow} {
		was, now := old.get(slot), n.get(slot)
		if was == nil || was == now || now != nil && now.v.Bundle == was.v.Bundle {
			continue
		}
		for _, m := range was.v.Models {
			s.mon.Forget(monitor.Key{Model: m.Name, Version: was.v.Bundle, Slot: string(slot)})
		}
	}
}

// driftSource is an engine that gives its bundle's drift references (*runtime.Engine).
type driftSource interface {
	DriftReferences(ctx context.Context) (map[string]*bundle.DriftReference, error)
}

// setReferences gives the monitor the drift references of every slot of st (called on
// each swap; a slot whose bundle did not change keeps its live window).
func (s *Server) setReferences(st *slots) {
	if s.mon == nil {
		return
	}
	for _, slot := range []rollout.Slot{rollout.Champion, rollout.Canary, rollout.Shadow} {
		a := st.get(slot)
		if a == nil {
			continue
		}
		src, ok := a.eng.(driftSource)
		if !ok {
			continue
		}
		refs, err := src.DriftReferences(context.Background())
		if err != nil {
			continue
		}
		for _, m := range a.v.Models {
			if ref := refs[m.Name]; ref != nil {
				k := monitor.Key{Model: m.Name, Version: a.v.Bundle, Slot: string(slot)}
				if err := s.mon.SetReference(k, ref); err != nil {
					s.log.Warn("drift reference refused by the monitor", "key", k.String(), "err", err)
				}
			}
		}
	}
}

// monitorSignals reads a slot's Quality from the monitor: the largest PSI over its models'
// input features, and per model its online loss (lower is better): pba WAPE, scaling
// capacity shortfall, anomaly 1 - flag precision.
type monitorSignals struct {
	mon *monitor.Monitor
	st  *slots
}

func (s *Server) signals() rollout.Signals {
	if s.mon == nil {
		return nil
	}
	return monitorSignals{mon: s.mon, st: s.cur.Load()}
}

func (m monitorSignals) Quality(slot rollout.Slot) rollout.Quality {
	q := rollout.Quality{DriftPSI: math.NaN(), DriftN: math.MaxInt, Losses: map[string]rollout.Loss{}}
	a := m.st.get(slot)
	if a == nil {
		return q
	}
	for _, info := range a.v.Models {
		k := monitor.Key{Model: info.Name, Version: a.v.Bundle, Slot: string(slot)}
		if fd, err := m.mon.Drift(k); err == nil {
			for _, f := range fd {
				if f.Kind != bundle.DriftInput || f.N == 0 || math.IsNaN(f.PSI) {
					continue
				}
				if math.IsNaN(q.DriftPSI) || f.PSI > q.DriftPSI {
					q.DriftPSI = f.PSI
				}
				q.DriftN = min(q.DriftN, f.N)
			}
		}
		acc := m.mon.Accuracy(k)
		var name string
		var v float64
		switch info.Family {
		case "pba":
			name, v = "wape", acc.WAPE
		case "scaling":
			name, v = "shortfall", acc.Shortfall
		case "anomaly":
			name, v = "1-precision", 1-acc.Precision
		default:
			continue
		}
		// The loss is named by model, not bundle, so the canary's and the champion's meet.
		q.Losses[info.Name+"/"+name] = rollout.Loss{Value: v, Pairs: acc.Pairs}
	}
	if math.IsNaN(q.DriftPSI) {
		q.DriftN = 0
	}
	return q
}

// ReportActual joins an observed outcome to the predictions served for it (monitor.Actual).
func (h service) ReportActual(ctx context.Context, req *pb.ReportActualRequest) (*pb.ReportActualResponse, error) {
	const op = "report actual"
	if h.mon == nil {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeUnavailable, op, "", "this sidecar keeps no online accuracy (no monitor configured)"))
	}
	kind, ok := map[pb.ActualKind]monitor.Kind{
		pb.ActualKind_ACTUAL_KIND_BANDWIDTH: monitor.Forecast,
		pb.ActualKind_ACTUAL_KIND_CAPACITY:  monitor.Capacity,
		pb.ActualKind_ACTUAL_KIND_ANOMALY:   monitor.Flag,
		pb.ActualKind_ACTUAL_KIND_LINK:      monitor.Forecast,
	}[req.GetKind()]
	if !ok {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInvalidInput, op, "",
			"kind %s: give BANDWIDTH, CAPACITY, ANOMALY or LINK", req.GetKind()))
	}
	entity := req.GetEntity()
	if req.GetKind() == pb.ActualKind_ACTUAL_KIND_LINK {
		entity = linkEntity(entity)
	}
	n, err := h.mon.Actual(kind, entity, req.GetTimestamp(), req.GetValue())
	switch {
	case errors.Is(err, monitor.ErrInvalidActual):
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInvalidInput, op, "", "%w", err))
	case errors.Is(err, monitor.ErrNoPrediction):
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeNotFound, op, "", "%w", err))
	case err != nil:
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInternal, op, "", "%w", err))
	}
	return &pb.ReportActualResponse{Joined: int32(n)}, nil
}
