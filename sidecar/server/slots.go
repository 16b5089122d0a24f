package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// Opened is an engine the Server opened itself for the canary or shadow slot (Config.Open);
// *runtime.Engine is one. The Server closes it when the slot lets it go.
type Opened interface {
	engine.Engine
	Reloader
	Close() error
}

// Opener opens the bundle in dir as a new engine, verified exactly like the served one
// (the command passes runtime.Open with the same configuration, trusted keys included).
type Opener func(ctx context.Context, dir string) (Opened, error)

// attached is one engine in a slot and what the metric labels need from its bundle.
type attached struct {
	eng    engine.Engine
	rel    Reloader     // nil if it cannot reload
	closer func() error // nil: its owner closes it (the engine given to Attach)
	v      engine.Versions
	models map[string]string // model name -> version, for Predict's label and routing
	typed  map[string]string // RPC method -> model name, for the typed calls' label
}

func newAttached(eng engine.Engine, rel Reloader, closer func() error, v engine.Versions) *attached {
	a := &attached{eng: eng, rel: rel, closer: closer, v: v, models: map[string]string{}, typed: map[string]string{}}
	for _, m := range v.Models {
		a.models[m.Name] = m.Version
		for method, family := range typedFamily {
			if _, seen := a.typed[method]; !seen && m.Family == family {
				a.typed[method] = m.Name
			}
		}
	}
	return a
}

// slots is one immutable state of what serves: the champion, the canary with its routing
// weight, the shadow and the previous champion. Calls hold mu for reading while they use
// its engines; a swap retires it (mu for writing), so an engine it alone held is closed
// only after the last call on it, and a call never meets a closed engine.
type slots struct {
	mu       sync.RWMutex
	retired  bool
	champion *attached
	canary   *attached // nil: no canary
	shadow   *attached // nil: no shadow
	previous *attached // nil: none kept
	router   rollout.Router
}

func (st *slots) get(slot rollout.Slot) *attached {
	switch slot {
	case rollout.Champion:
		return st.champion
	case rollout.Canary:
		return st.canary
	case rollout.Shadow:
		return st.shadow
	case rollout.Previous:
		return st.previous
	}
	return nil
}

// route picks the slot of an entity: the canary only when there is one.
func (st *slots) route(entity string) rollout.Slot {
	if st.canary == nil {
		return rollout.Champion
	}
	return st.router.Route(entity)
}

// with returns a copy of st (unlocked, not retired) that change edits.
func (st *slots) with(change func(n *slots)) *slots {
	n := &slots{champion: st.champion, canary: st.canary, shadow: st.shadow, previous: st.previous, router: st.router}
	change(n)
	if n.canary == nil {
		n.router = rollout.Router{}
	}
	return n
}

func (st *slots) all() []*attached {
	return []*attached{st.champion, st.canary, st.shadow, st.previous}
}

// acquire returns the current slots held for reading (release with st.mu.RUnlock).
func (s *Server) acquire() (*slots, error) {
	for {
		st := s.cur.Load()
		if st == nil {
			return nil, engine.Errorf(engine.CodeUnavailable, "", "", "the sidecar is loading its bundle; retry when its health is SERVING")
		}
		st.mu.RLock()
		if !st.retired {
			return st, nil
		}
		st.mu.RUnlock() // swapped meanwhile: take the new one
	}
}

// swap makes n the current slots; the caller holds rolloutMu. The old state is retired
// once its calls finished, then the engines n no longer holds are closed (in the
// background: a swap does not wait for a long call).
func (s *Server) swap(n *slots) {
	old := s.cur.Swap(n)
	s.setNeeds(n)
	s.metrics.setSlots(n, s.signed)
	s.forgetVacated(old, n)
	s.setReferences(n)
	if old == nil {
		return
	}
	keep := map[*attached]bool{}
	for _, a := range n.all() {
		if a != nil {
			keep[a] = true
		}
	}
	var drop []*attached
	for _, a := range old.all() {
		if a != nil && !keep[a] && a.closer != nil {
			drop = append(drop, a)
		}
	}
	s.closing.Add(1)
	go func() {
		defer s.closing.Done()
		old.mu.Lock()
		old.retired = true
		old.mu.Unlock()
		for _, a := range drop {
			if err := a.closer(); err != nil {
				s.log.Warn("closing a retired engine", "bundle", a.v.Bundle, "err", err)
			}
		}
	}()
}

// closeOpened closes, at shutdown, the engines the Server opened (not the owner's).
func (s *Server) closeOpened() {
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	s.closing.Wait()
	st := s.cur.Load()
	if st == nil {
		return
	}
	seen := map[*attached]bool{}
	for _, a := range st.all() {
		if a != nil && a.closer != nil && !seen[a] {
			seen[a] = true
			if err := a.closer(); err != nil {
				s.log.Warn("closing an engine", "bundle", a.v.Bundle, "err", err)
			}
		}
	}
}

// serverFault reports whether err counts against a slot in its error rate: a failure of
// the bundle or the engine, not of the caller's input.
func serverFault(err error) bool {
	if err == nil {
		return false
	}
	var ee *engine.Error
	if !errors.As(err, &ee) {
		return true
	}
	switch ee.Code {
	case engine.CodeInvalidInput, engine.CodeTooLarge, engine.CodeCanceled, engine.CodeNoFeasibleHost, engine.CodePermissionDenied:
		return false
	}
	return true
}

// part is one slot's share of a call, for the metrics.
type part struct {
	slot   rollout.Slot
	bundle string
	took   time.Duration
	err    error
}

// callRecord collects the parts of one call (the observe interceptor puts it in ctx).
type callRecord struct {
	mu    sync.Mutex
	parts []part
}

type recordKey struct{}

func (s *Server) recordPart(ctx context.Context, slot rollout.Slot, a *attached, took time.Duration, err error) {
	if slot == rollout.Champion || slot == rollout.Canary {
		s.stats.Load().Record(slot, took, serverFault(err))
	}
	if r, ok := ctx.Value(recordKey{}).(*callRecord); ok {
		r.mu.Lock()
		r.parts = append(r.parts, part{slot: slot, bundle: a.v.Bundle, took: took, err: err})
		r.mu.Unlock()
	}
}

// dispatch runs a call's items on the slots their entities route to: the items of one
// slot go to its engine together (one item to the single call, more to the batch call,
// so a single call is exactly the in-process one), and the answers come back in order.
// It returns each item's slot too.
func dispatch[R, A any](ctx context.Context, s *Server, st *slots, items []R, entity func(int) string,
	one func(engine.Engine, context.Context, R) (A, error),
	batch func(engine.Engine, context.Context, []R) ([]A, error)) ([]A, []rollout.Slot, error) {
	routes := make([]rollout.Slot, len(items))
	var canary []int
	for i := range items {
		routes[i] = st.route(entity(i))
		if routes[i] == rollout.Canary {
			canary = append(canary, i)
		}
	}
	out := make([]A, len(items))
	run := func(slot rollout.Slot, idx []int) error {
		a := st.get(slot)
		sub := items
		if idx != nil {
			sub = make([]R, len(idx))
			for j, i := range idx {
				sub[j] = items[i]
			}
		}
		start := time.Now()
		var (
			ans []A
			err error
		)
		sctx := withSlot(ctx, slot)
		if len(sub) == 1 {
			var x A
			x, err = one(a.eng, sctx, sub[0])
			ans = []A{x}
		} else {
			ans, err = batch(a.eng, sctx, sub)
		}
		if err == nil && len(ans) != len(sub) {
			err = engine.Errorf(engine.CodeInternal, "", "", "the %s engine answered %d of %d items", slot, len(ans), len(sub))
		}
		s.recordPart(ctx, slot, a, time.Since(start), err)
		if err != nil {
			return err
		}
		for j, x := range ans {
			if idx == nil {
				out[j] = x
			} else {
				out[idx[j]] = x
			}
		}
		return nil
	}
	if len(canary) == 0 {
		return out, routes, run(rollout.Champion, nil)
	}
	if len(canary) == len(items) {
		return out, routes, run(rollout.Canary, nil)
	}
	champ := make([]int, 0, len(items)-len(canary))
	for i, r := range routes {
		if r == rollout.Champion {
			champ = append(champ, i)
		}
	}
	if err := run(rollout.Champion, champ); err != nil {
		return nil, nil, err
	}
	if err := run(rollout.Canary, canary); err != nil {
		return nil, nil, err
	}
	return out, routes, nil
}
