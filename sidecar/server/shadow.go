package server

import (
	"context"
	"math"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// DefaultShadowQueue bounds the shadow calls waiting to run (Config.ShadowQueue).
const DefaultShadowQueue = 256

// shadowTimeout bounds one shadow call: it has no caller waiting, but must not hold the
// slots (and so a swap) for long.
const shadowTimeout = 10 * time.Second

// enqueueShadow queues job for the shadow goroutine, or drops and counts it when the
// queue is full: the caller never waits for the shadow.
func (s *Server) enqueueShadow(job func(ctx context.Context, st *slots)) {
	select {
	case s.shadowQ <- func() {
		st, err := s.acquire()
		if err != nil {
			return
		}
		defer st.mu.RUnlock()
		if st.shadow == nil { // cleared since the call
			return
		}
		ctx, cancel := context.WithTimeout(withSlot(context.Background(), rollout.Shadow), shadowTimeout)
		defer cancel()
		job(ctx, st)
	}:
	default:
		s.metrics.shadowRequests.WithLabelValues("dropped").Inc()
	}
}

// runShadow runs the queued shadow calls one at a time (one core at most) until Shutdown.
func (s *Server) runShadow() {
	defer s.workers.Done()
	for {
		select {
		case <-s.stop:
			return
		case job := <-s.shadowQ:
			job()
		}
	}
}

// shadowDone counts a shadow call and its time.
func (s *Server) shadowDone(took time.Duration, err error) bool {
	s.metrics.shadowDuration.Observe(took.Seconds())
	if err != nil {
		s.metrics.shadowRequests.WithLabelValues("error").Inc()
		return false
	}
	s.metrics.shadowRequests.WithLabelValues("ok").Inc()
	return true
}

// disagree records |shadow - champion| of one main output (only for items the champion
// served: that is the comparison that decides a promotion of the shadow's bundle).
func (s *Server) disagree(model string, shadow, champion float64) {
	if d := math.Abs(shadow - champion); !math.IsNaN(d) {
		s.metrics.shadowDisagreement.WithLabelValues(model).Observe(d)
	}
}

// shadowTyped runs a typed call's series on the shadow, off the request path.
func shadowTyped[A any, P interface{ GetModel() *pb.ModelRef }](s *Server, spec typedSpec[A, P], in []engine.Series,
	entities []string, answered []A, routes []rollout.Slot) {
	s.enqueueShadow(func(ctx context.Context, st *slots) {
		start := time.Now()
		var (
			ans []A
			err error
		)
		if len(in) == 1 {
			var x A
			x, err = spec.one(st.shadow.eng, ctx, in[0])
			ans = []A{x}
		} else {
			ans, err = spec.batch(st.shadow.eng, ctx, in)
		}
		if !s.shadowDone(time.Since(start), err) || len(ans) != len(in) {
			return
		}
		for i, a := range ans {
			if routes[i] == rollout.Champion {
				s.disagree(spec.ref(a).Name, spec.main(a), spec.main(answered[i]))
			}
			served(s, spec, rollout.Shadow, entities[i], in[i], a)
		}
	})
}

// shadowPlace runs placement requests on the shadow; the main output is the chosen host's score.
func (s *Server) shadowPlace(in []engine.PlacementRequest, served []engine.Placement, routes []rollout.Slot) {
	s.enqueueShadow(func(ctx context.Context, st *slots) {
		start := time.Now()
		var (
			ans []engine.Placement
			err error
		)
		if len(in) == 1 {
			var p engine.Placement
			p, err = st.shadow.eng.PlaceVM(ctx, in[0])
			ans = []engine.Placement{p}
		} else {
			ans, err = st.shadow.eng.PlaceVMBatch(ctx, in)
		}
		if !s.shadowDone(time.Since(start), err) || len(ans) != len(in) {
			return
		}
		for i, p := range ans {
			if routes[i] == rollout.Champion {
				s.disagree(p.Model.Name, p.Score, served[i].Score)
			}
		}
	})
}

// shadowPredict runs a Predict call on the shadow; the main output is each row's first value.
func (s *Server) shadowPredict(model string, rows int, features, served []float64, slot rollout.Slot) {
	s.enqueueShadow(func(ctx context.Context, st *slots) {
		start := time.Now()
		out, err := st.shadow.eng.PredictBatch(ctx, model, "", rows, features)
		if !s.shadowDone(time.Since(start), err) || slot != rollout.Champion || len(out) != len(served) {
			return
		}
		step := len(out) / rows
		for r := range rows {
			s.disagree(model, out[r*step], served[r*step])
		}
	})
}
