package rollout

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// Action names a transition; the values are the action label of
// dwcp_ml_rollout_transitions_total.
type Action string

// The transitions.
const (
	ActionStart    Action = "start"    // a canary starts serving at its first weight
	ActionPromote  Action = "promote"  // to the next step
	ActionRollback Action = "rollback" // a bound was exceeded, or an admin rolled back
	ActionComplete Action = "complete" // 100 %: the canary became the champion
	ActionWithdraw Action = "withdraw" // an admin removed the canary without judgement
)

// Actions lists every Action, for metrics that show all of them from the start.
var Actions = []Action{ActionStart, ActionPromote, ActionRollback, ActionComplete, ActionWithdraw}

// MaxTransitions is how many transitions the Controller's log keeps.
const MaxTransitions = 32

// Transition is one change of the rollout.
type Transition struct {
	At               time.Time
	Action           Action
	FromBP, ToBP     int    // canary weight before and after, basis points
	Canary, Champion string // bundle versions concerned
	Reason           string
}

func (t Transition) String() string {
	return fmt.Sprintf("%s %s: canary %s %d -> %d bp (champion %s): %s", t.At.UTC().Format(time.RFC3339),
		t.Action, t.Canary, t.FromBP, t.ToBP, t.Champion, t.Reason)
}

// State is a snapshot of the Controller.
type State struct {
	Active           bool      // a canary is being rolled out
	WeightBP         int       // its weight, basis points (0 when not Active)
	Canary, Champion string    // bundle versions
	Since            time.Time // when the weight last changed
	Policy           Policy
	Verdict          []string     // the last judgement's reasons (empty: the canary held)
	Transitions      []Transition // oldest first, at most MaxTransitions
}

// Percent is the weight in whole percent (rounded down), the dwcp_ml_rollout_step value.
func (s State) Percent() int { return s.WeightBP / 100 }

// Config configures a Controller.
type Config struct {
	Policy       Policy           // zero fields take their defaults
	Now          func() time.Time // nil = time.Now
	OnTransition func(Transition) // called with each transition, under no lock of the Controller
}

// Controller moves a canary through the Policy's steps. Safe for concurrent use. It
// decides; the caller applies (routing weight, making the canary the champion).
type Controller struct {
	mu    sync.Mutex
	cfg   Config
	state State
}

// NewController returns an idle Controller; the Policy must be valid after its defaults.
func NewController(cfg Config) (*Controller, error) {
	cfg.Policy = cfg.Policy.WithDefaults()
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("rollout policy: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Controller{cfg: cfg, state: State{Policy: cfg.Policy}}, nil
}

// State returns a copy of the current state.
func (c *Controller) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state
	s.Verdict = append([]string(nil), s.Verdict...)
	s.Transitions = append([]Transition(nil), s.Transitions...)
	s.Policy.Steps = append([]int(nil), s.Policy.Steps...)
	return s
}

// Policy is the Policy in force.
func (c *Controller) Policy() Policy { return c.State().Policy }

// SetPolicy replaces the Policy (zero fields take defaults) for the next judgements.
func (c *Controller) SetPolicy(p Policy) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return fmt.Errorf("rollout policy: %w", err)
	}
	c.mu.Lock()
	c.cfg.Policy, c.state.Policy = p, p
	c.mu.Unlock()
	return nil
}

// record appends t to the log; the caller holds mu. It returns t for the callback.
func (c *Controller) record(t Transition) Transition {
	t.At = c.cfg.Now()
	c.state.Transitions = append(c.state.Transitions, t)
	if n := len(c.state.Transitions); n > MaxTransitions {
		c.state.Transitions = append([]Transition(nil), c.state.Transitions[n-MaxTransitions:]...)
	}
	return t
}

func (c *Controller) notify(t Transition) Transition {
	if c.cfg.OnTransition != nil {
		c.cfg.OnTransition(t)
	}
	return t
}

// Start begins rolling out canary against champion at weightBP (0 = the first step;
// 1..9999 otherwise; 10000 is Complete's business). An active rollout is replaced.
func (c *Controller) Start(canary, champion string, weightBP int) (Transition, error) {
	c.mu.Lock()
	if weightBP == 0 {
		weightBP = c.cfg.Policy.Steps[0] * 100
	}
	if weightBP < 1 || weightBP >= Buckets {
		c.mu.Unlock()
		return Transition{}, fmt.Errorf("canary weight %d basis points: a rollout starts between 1 and %d", weightBP, Buckets-1)
	}
	from := c.state.WeightBP
	c.state.Active, c.state.WeightBP, c.state.Canary, c.state.Champion = true, weightBP, canary, champion
	c.state.Since, c.state.Verdict = c.cfg.Now(), nil
	t := c.record(Transition{Action: ActionStart, FromBP: from, ToBP: weightBP, Canary: canary, Champion: champion,
		Reason: "canary set"})
	c.mu.Unlock()
	return c.notify(t), nil
}

// nextBP is the first step above the current weight, in basis points.
func (c *Controller) nextBP() int {
	for _, s := range c.cfg.Policy.Steps {
		if s*100 > c.state.WeightBP {
			return s * 100
		}
	}
	return Buckets
}

// step promotes to the next step, or completes at 100 %; the caller holds mu.
func (c *Controller) step(reason string) Transition {
	from, to := c.state.WeightBP, c.nextBP()
	action := ActionPromote
	if to >= Buckets {
		action = ActionComplete
	}
	t := c.record(Transition{Action: action, FromBP: from, ToBP: to, Canary: c.state.Canary,
		Champion: c.state.Champion, Reason: reason})
	c.state.Since, c.state.Verdict = c.cfg.Now(), nil
	if action == ActionComplete {
		c.state.Active, c.state.WeightBP = false, 0
		c.state.Champion, c.state.Canary = c.state.Canary, ""
	} else {
		c.state.WeightBP = to
	}
	return t
}

// end stops the rollout with action; the caller holds mu.
func (c *Controller) end(action Action, reason string) Transition {
	t := c.record(Transition{Action: action, FromBP: c.state.WeightBP, ToBP: 0, Canary: c.state.Canary,
		Champion: c.state.Champion, Reason: reason})
	c.state.Active, c.state.WeightBP, c.state.Canary, c.state.Since = false, 0, "", c.cfg.Now()
	return t
}

// ErrIdle is returned by the manual actions when no canary is being rolled out.
var ErrIdle = fmt.Errorf("no canary is being rolled out")

// Promote moves the canary to the next step now (an admin's decision).
func (c *Controller) Promote(reason string) (Transition, error) {
	c.mu.Lock()
	if !c.state.Active {
		c.mu.Unlock()
		return Transition{}, fmt.Errorf("promote: %w", ErrIdle)
	}
	t := c.step(reason)
	c.mu.Unlock()
	return c.notify(t), nil
}

// Stop ends the rollout with ActionRollback or ActionWithdraw (an admin's decision).
func (c *Controller) Stop(action Action, reason string) (Transition, error) {
	if action != ActionRollback && action != ActionWithdraw {
		return Transition{}, fmt.Errorf("stop: action %q is neither rollback nor withdraw", action)
	}
	c.mu.Lock()
	if !c.state.Active {
		c.mu.Unlock()
		return Transition{}, fmt.Errorf("%s: %w", action, ErrIdle)
	}
	t := c.end(action, reason)
	c.mu.Unlock()
	return c.notify(t), nil
}

// Record logs a transition the caller made outside a rollout (e.g. a manual rollback to
// the previous champion), so it shows in the log and the callback like the others.
func (c *Controller) Record(action Action, canary, champion, reason string) Transition {
	c.mu.Lock()
	if action == ActionRollback && c.state.Active {
		t := c.end(action, reason)
		c.mu.Unlock()
		return c.notify(t)
	}
	t := c.record(Transition{Action: action, Canary: canary, Champion: champion, Reason: reason})
	c.state.Champion = champion
	c.mu.Unlock()
	return c.notify(t)
}

// Tick judges the canary on the last window of stats and sig (nil = no drift or accuracy
// signals) and returns the transition it made, if any: a rollback when a bound is
// exceeded, a promotion (or completion) when the canary held for Hold with enough calls.
func (c *Controller) Tick(stats *Stats, sig Signals) (Transition, bool) {
	c.mu.Lock()
	if !c.state.Active {
		c.mu.Unlock()
		return Transition{}, false
	}
	p := c.cfg.Policy
	champ, canary := stats.Window(Champion), stats.Window(Canary)
	unknown := Quality{DriftPSI: math.NaN()}
	qChamp, qCanary := unknown, unknown
	if sig != nil {
		qChamp, qCanary = sig.Quality(Champion), sig.Quality(Canary)
	}
	why := p.Judge(champ, canary, qChamp, qCanary)
	c.state.Verdict = why
	var t Transition
	switch {
	case len(why) > 0:
		t = c.end(ActionRollback, strings.Join(why, "; "))
	case canary.Requests >= p.MinRequests && c.cfg.Now().Sub(c.state.Since) >= p.Hold:
		t = c.step(fmt.Sprintf("held %v at %d bp: %d calls, error rate %.4f (champion %.4f), p99 %v (champion %v)",
			p.Hold, c.state.WeightBP, canary.Requests, canary.ErrorRate(), champ.ErrorRate(), canary.P99, champ.P99))
	default:
		c.mu.Unlock()
		return Transition{}, false
	}
	c.mu.Unlock()
	return c.notify(t), true
}
