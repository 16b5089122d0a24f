package rollout

import (
	"math"
	"time"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// The wire form of the rollout (the Versions answer and SetRollout), shared by the
// server and the pure-Go client.

// PolicyToProto converts p (as given: zero fields stay zero, meaning the defaults).
func PolicyToProto(p Policy) *pb.RolloutPolicy {
	out := &pb.RolloutPolicy{
		WindowSeconds: p.Window.Seconds(), HoldSeconds: p.Hold.Seconds(), IntervalSeconds: p.Interval.Seconds(),
		MinRequests: int32(p.MinRequests), MaxErrorRateDelta: p.MaxErrorRateDelta, MaxP99Ratio: p.MaxP99Ratio,
		P99SlackSeconds: p.P99Slack.Seconds(), MaxDriftDelta: p.MaxDriftDelta, MaxLossDelta: p.MaxLossDelta,
		MinPairs: int32(p.MinPairs), MinDriftValues: int32(p.MinDriftValues),
	}
	for _, s := range p.Steps {
		out.Steps = append(out.Steps, int32(s))
	}
	return out
}

// PolicyFromProto converts p; nil is the zero Policy (all defaults).
func PolicyFromProto(p *pb.RolloutPolicy) Policy {
	out := Policy{
		Window: dur(p.GetWindowSeconds()), Hold: dur(p.GetHoldSeconds()), Interval: dur(p.GetIntervalSeconds()),
		MinRequests: int(p.GetMinRequests()), MaxErrorRateDelta: p.GetMaxErrorRateDelta(), MaxP99Ratio: p.GetMaxP99Ratio(),
		P99Slack: dur(p.GetP99SlackSeconds()), MaxDriftDelta: p.GetMaxDriftDelta(), MaxLossDelta: p.GetMaxLossDelta(),
		MinPairs: int(p.GetMinPairs()), MinDriftValues: int(p.GetMinDriftValues()),
	}
	for _, s := range p.GetSteps() {
		out.Steps = append(out.Steps, int(s))
	}
	return out
}

func dur(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// StatusToProto fills the rollout fields of a Versions answer.
func StatusToProto(s Status, v *pb.Versions) {
	v.CanaryWeightBp = int32(s.WeightBP)
	v.Slots = v.Slots[:0]
	for _, sl := range s.Slots {
		v.Slots = append(v.Slots, &pb.SlotInfo{Slot: string(sl.Slot), Bundle: sl.Bundle, BundleDir: sl.BundleDir,
			Signed: sl.Signed, LoadedAtUnixNano: nanos(sl.LoadedAt)})
	}
	st := s.State
	r := &pb.RolloutState{Active: st.Active, WeightBp: int32(st.WeightBP), StepPercent: int32(st.Percent()),
		SinceUnixNano: nanos(st.Since), Policy: PolicyToProto(st.Policy), Verdict: st.Verdict,
		Canary: st.Canary, Champion: st.Champion}
	for _, t := range st.Transitions {
		r.Transitions = append(r.Transitions, &pb.RolloutTransition{AtUnixNano: nanos(t.At), Action: string(t.Action),
			FromBp: int32(t.FromBP), ToBp: int32(t.ToBP), Canary: t.Canary, Champion: t.Champion, Reason: t.Reason})
	}
	v.Rollout = r
}

// StatusFromProto reads the rollout fields of a Versions answer.
func StatusFromProto(v *pb.Versions) Status {
	out := Status{WeightBP: int(v.GetCanaryWeightBp())}
	for _, sl := range v.GetSlots() {
		out.Slots = append(out.Slots, SlotInfo{Slot: Slot(sl.GetSlot()), Bundle: sl.GetBundle(), BundleDir: sl.GetBundleDir(),
			Signed: sl.GetSigned(), LoadedAt: fromNanos(sl.GetLoadedAtUnixNano())})
	}
	r := v.GetRollout()
	out.State = State{Active: r.GetActive(), WeightBP: int(r.GetWeightBp()), Since: fromNanos(r.GetSinceUnixNano()),
		Policy: PolicyFromProto(r.GetPolicy()), Verdict: r.GetVerdict(), Canary: r.GetCanary(), Champion: r.GetChampion()}
	for _, t := range r.GetTransitions() {
		out.State.Transitions = append(out.State.Transitions, Transition{At: fromNanos(t.GetAtUnixNano()),
			Action: Action(t.GetAction()), FromBP: int(t.GetFromBp()), ToBP: int(t.GetToBp()), Canary: t.GetCanary(),
			Champion: t.GetChampion(), Reason: t.GetReason()})
	}
	return out
}
