package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// RolloutOp is what a RolloutRequest does.
type RolloutOp string

// The rollout operations (SetRollout's actions).
const (
	// OpSet sets what the request names: the canary (CanaryDir, at CanaryWeightBP; 0 = the
	// policy's first step), the shadow (ShadowDir), the policy (Policy).
	OpSet RolloutOp = "set"
	// OpPromote moves the canary to its next step now (100 % completes: it becomes the
	// champion and the old champion is kept as previous).
	OpPromote RolloutOp = "promote"
	// OpRollback withdraws the canary as a rollback; without a canary it swaps the previous
	// champion back in.
	OpRollback RolloutOp = "rollback"
	// OpWithdraw removes the canary without judgement.
	OpWithdraw RolloutOp = "withdraw"
	// OpClearShadow removes the shadow.
	OpClearShadow RolloutOp = "clear-shadow"
)

// RolloutRequest changes the rollout (Server.SetRollout, the SetRollout RPC).
type RolloutRequest struct {
	Op             RolloutOp
	CanaryDir      string          // OpSet: the canary's bundle, under Config.BundleRoot
	CanaryWeightBP int             // OpSet with CanaryDir: its first weight (0 = the first step)
	ShadowDir      string          // OpSet: the shadow's bundle, under Config.BundleRoot
	Policy         *rollout.Policy // OpSet: replaces the policy (zero fields: defaults)
	Reason         string          // for the log ("" = "admin")
}

// slotDir is the directory a canary or shadow may load: it must be given and under the
// bundle root, like the Reload RPC's (and it is the owner's rule too).
func (s *Server) slotDir(slot rollout.Slot, dir string) (string, error) {
	if dir == "" {
		return "", engine.Errorf(engine.CodeInvalidInput, "set rollout", "", "no %s bundle directory", slot)
	}
	abs, err := s.reloadDir(dir)
	if err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) {
			ee.Op = "set rollout"
			ee.Msg = slot.String() + " " + ee.Msg
		}
		return "", err
	}
	return abs, nil
}

// openSlot verifies and opens the bundle in dir for slot.
func (s *Server) openSlot(ctx context.Context, slot rollout.Slot, dir string) (*attached, error) {
	if s.open == nil {
		return nil, engine.Errorf(engine.CodeUnavailable, "set rollout", "",
			"this sidecar cannot open a %s bundle (no Opener configured)", slot)
	}
	abs, err := s.slotDir(slot, dir)
	if err != nil {
		return nil, err
	}
	eng, err := s.open(ctx, abs)
	if err != nil {
		s.log.Error("rollout bundle refused", "slot", slot, "dir", abs, "err", err)
		var ee *engine.Error
		if errors.As(err, &ee) {
			ee.Op = "set rollout: " + slot.String() + " " + abs
		}
		return nil, err
	}
	v, err := eng.Versions(ctx)
	if err != nil {
		eng.Close()
		return nil, err
	}
	s.log.Info("rollout bundle verified", "slot", slot, "bundle", v.Bundle, "dir", abs)
	return newAttached(eng, eng, eng.Close, v), nil
}

// SetRollout applies req and returns the status afterwards. It is the owner's call (the
// command's -rollout file) and the SetRollout RPC's; bundles must be under the bundle root
// either way and are verified like Reload's. On error nothing changes.
func (s *Server) SetRollout(ctx context.Context, req RolloutRequest) (rollout.Status, error) {
	const op = "set rollout"
	reason := req.Reason
	if reason == "" {
		reason = "admin"
	}
	switch req.Op {
	case OpSet:
		return s.set(ctx, req)
	case OpPromote, OpRollback, OpWithdraw, OpClearShadow:
	default:
		return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "",
			"unknown action %q; one of set, promote, rollback, withdraw, clear-shadow", req.Op)
	}
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	st := s.cur.Load()
	if st == nil {
		return rollout.Status{}, engine.Errorf(engine.CodeUnavailable, op, "", "the sidecar is loading its bundle; retry when its health is SERVING")
	}
	var (
		tr  rollout.Transition
		err error
	)
	switch req.Op {
	case OpPromote:
		tr, err = s.ctl.Promote(reason + ": promote")
	case OpWithdraw:
		tr, err = s.ctl.Stop(rollout.ActionWithdraw, reason+": withdraw")
	case OpRollback:
		if st.canary != nil {
			tr, err = s.ctl.Stop(rollout.ActionRollback, reason+": rollback of the canary")
			break
		}
		if st.previous == nil {
			return rollout.Status{}, engine.Errorf(engine.CodeNotFound, op, "",
				"nothing to roll back: no canary, and no previous champion is kept")
		}
		s.swap(st.with(func(n *slots) { n.champion, n.previous = st.previous, st.champion }))
		s.stats.Load().Reset(rollout.Champion)
		s.ctl.Record(rollout.ActionRollback, st.champion.v.Bundle, st.previous.v.Bundle,
			reason+": rollback to the previous champion "+st.previous.v.Bundle)
		return s.status(), nil
	case OpClearShadow:
		if st.shadow == nil {
			return rollout.Status{}, engine.Errorf(engine.CodeNotFound, op, "", "no shadow is set")
		}
		s.swap(st.with(func(n *slots) { n.shadow = nil }))
		s.log.Info("shadow cleared", "bundle", st.shadow.v.Bundle)
		return s.status(), nil
	}
	if errors.Is(err, rollout.ErrIdle) {
		return rollout.Status{}, engine.Errorf(engine.CodeNotFound, op, "", "%w", err)
	}
	if err != nil {
		return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "", "%w", err)
	}
	s.apply(st, tr)
	return s.status(), nil
}

// set is SetRollout's OpSet: bundles are opened (and verified) before anything changes.
func (s *Server) set(ctx context.Context, req RolloutRequest) (rollout.Status, error) {
	const op = "set rollout"
	if req.CanaryDir == "" && req.ShadowDir == "" && req.Policy == nil {
		return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "", "set names nothing: give a canary, a shadow or a policy")
	}
	if req.CanaryWeightBP < 0 || req.CanaryWeightBP >= rollout.Buckets {
		return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "",
			"canary weight %d basis points: a rollout starts between 1 and %d (0 = the first step)", req.CanaryWeightBP, rollout.Buckets-1)
	}
	if req.Policy != nil {
		p := req.Policy.WithDefaults()
		if err := p.Validate(); err != nil {
			return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "", "policy: %w", err)
		}
	}
	var canary, shadow *attached
	var err error
	if req.CanaryDir != "" {
		if canary, err = s.openSlot(ctx, rollout.Canary, req.CanaryDir); err != nil {
			return rollout.Status{}, err
		}
	}
	if req.ShadowDir != "" {
		if shadow, err = s.openSlot(ctx, rollout.Shadow, req.ShadowDir); err != nil {
			if canary != nil {
				canary.closer()
			}
			return rollout.Status{}, err
		}
	}
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	st := s.cur.Load()
	if st == nil {
		for _, a := range []*attached{canary, shadow} {
			if a != nil {
				a.closer()
			}
		}
		return rollout.Status{}, engine.Errorf(engine.CodeUnavailable, op, "", "the sidecar is loading its bundle; retry when its health is SERVING")
	}
	if req.Policy != nil {
		before := s.ctl.Policy().Window
		if err := s.ctl.SetPolicy(*req.Policy); err != nil { // validated above
			return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "", "%w", err)
		}
		if w := s.ctl.Policy().Window; w != before {
			s.stats.Store(rollout.NewStats(w, s.now)) // a new window starts from nothing
		}
		s.log.Info("rollout policy set", "policy", fmt.Sprintf("%+v", s.ctl.Policy()))
	}
	n := st.with(func(n *slots) {
		if shadow != nil {
			n.shadow = shadow
			s.log.Info("shadow set", "bundle", shadow.v.Bundle, "dir", shadow.v.BundleDir)
		}
	})
	if canary != nil {
		tr, err := s.ctl.Start(canary.v.Bundle, st.champion.v.Bundle, req.CanaryWeightBP)
		if err != nil { // the weight was checked above
			canary.closer()
			if shadow != nil {
				shadow.closer()
			}
			return rollout.Status{}, engine.Errorf(engine.CodeInvalidInput, op, "", "%w", err)
		}
		s.stats.Load().Reset(rollout.Canary)
		n.canary, n.router = canary, rollout.Router{WeightBP: tr.ToBP}
	}
	s.swap(n)
	return s.status(), nil
}

// apply makes the slots follow a transition of the Controller; the caller holds rolloutMu.
func (s *Server) apply(st *slots, tr rollout.Transition) {
	switch tr.Action {
	case rollout.ActionStart, rollout.ActionPromote:
		s.swap(st.with(func(n *slots) { n.router = rollout.Router{WeightBP: tr.ToBP} }))
	case rollout.ActionRollback, rollout.ActionWithdraw:
		s.swap(st.with(func(n *slots) { n.canary = nil }))
		s.stats.Load().Reset(rollout.Canary)
	case rollout.ActionComplete:
		s.swap(st.with(func(n *slots) { n.previous, n.champion, n.canary = st.champion, st.canary, nil }))
		stats := s.stats.Load()
		stats.Reset(rollout.Canary)
		stats.Reset(rollout.Champion)
	}
}

// transitioned logs and counts each transition (the Controller's callback).
func (s *Server) transitioned(tr rollout.Transition) {
	s.metrics.transitions.WithLabelValues(string(tr.Action)).Inc()
	level := s.log.Info
	if tr.Action == rollout.ActionRollback {
		level = s.log.Warn
	}
	level("rollout", "action", tr.Action, "canary", tr.Canary, "champion", tr.Champion,
		"from_bp", tr.FromBP, "to_bp", tr.ToBP, "reason", tr.Reason)
}

// Judge judges the canary now, as the Server does every Policy.Interval, and applies the
// transition it makes (tests call it with a fake clock).
func (s *Server) Judge() (rollout.Transition, bool) {
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	st := s.cur.Load()
	if st == nil || st.canary == nil {
		return rollout.Transition{}, false
	}
	tr, moved := s.ctl.Tick(s.stats.Load(), s.signals())
	if moved {
		s.apply(st, tr)
	}
	return tr, moved
}

// judge runs Judge every Policy.Interval until Shutdown.
func (s *Server) judge() {
	defer s.workers.Done()
	for {
		t := time.NewTimer(s.ctl.Policy().Interval)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
			s.Judge()
		}
	}
}

// Rollout is the current status: slots, canary weight, the Controller's state.
func (s *Server) Rollout() rollout.Status {
	s.rolloutMu.Lock()
	defer s.rolloutMu.Unlock()
	return s.status()
}

// status is Rollout with rolloutMu held (or a consistent snapshot good enough for Versions).
func (s *Server) status() rollout.Status {
	st := s.cur.Load()
	out := rollout.Status{State: s.ctl.State()}
	if st == nil {
		return out
	}
	out.WeightBP = st.router.WeightBP
	for _, slot := range []rollout.Slot{rollout.Champion, rollout.Canary, rollout.Shadow, rollout.Previous} {
		if a := st.get(slot); a != nil {
			out.Slots = append(out.Slots, rollout.SlotInfo{Slot: slot, Bundle: a.v.Bundle, BundleDir: a.v.BundleDir,
				Signed: s.signed, LoadedAt: a.v.LoadedAt})
		}
	}
	return out
}
