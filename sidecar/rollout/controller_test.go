package rollout_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// clock is a fake clock tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)} }
func unknown() rollout.Quality       { return rollout.Quality{DriftPSI: math.NaN()} }
func fill(s *rollout.Stats, slot rollout.Slot, n, failed int, d time.Duration) {
	for i := range n {
		s.Record(slot, d, i < failed)
	}
}

// fakeSignals returns fixed qualities per slot.
type fakeSignals map[rollout.Slot]rollout.Quality

func (f fakeSignals) Quality(s rollout.Slot) rollout.Quality {
	if q, ok := f[s]; ok {
		return q
	}
	return unknown()
}

func TestControllerRollback(t *testing.T) {
	good := rollout.Quality{DriftPSI: 0.02, DriftN: 4096, Losses: map[string]rollout.Loss{"pba/wape": {Value: 0.2, Pairs: 100}}}
	for _, tc := range []struct {
		name                string
		champErr, canaryErr int
		champLat, canaryLat time.Duration
		champQ, canaryQ     rollout.Quality
		wantReason          string // "" = no rollback
	}{
		{"holds", 0, 0, time.Millisecond, time.Millisecond, good, good, ""},
		{"error rate", 0, 5, time.Millisecond, time.Millisecond, good, good, "error rate"},
		{"error rate within bound", 0, 1, time.Millisecond, time.Millisecond, good, good, ""},
		{"p99 latency", 0, 0, time.Millisecond, 10 * time.Millisecond, good, good, "p99 latency"},
		{"p99 ratio but within slack", 0, 0, 100 * time.Microsecond, 1 * time.Millisecond, good, good, ""},
		{"drift", 0, 0, time.Millisecond, time.Millisecond, good,
			rollout.Quality{DriftPSI: 0.5, DriftN: 1000, Losses: good.Losses}, "drift PSI"},
		{"drift on too few live values", 0, 0, time.Millisecond, time.Millisecond, good,
			rollout.Quality{DriftPSI: 0.5, DriftN: 999, Losses: good.Losses}, ""},
		{"online accuracy", 0, 0, time.Millisecond, time.Millisecond, good,
			rollout.Quality{DriftPSI: 0.02, Losses: map[string]rollout.Loss{"pba/wape": {Value: 0.4, Pairs: 100}}}, "online pba/wape"},
		{"accuracy with too few pairs", 0, 0, time.Millisecond, time.Millisecond, good,
			rollout.Quality{DriftPSI: 0.02, Losses: map[string]rollout.Loss{"pba/wape": {Value: 0.4, Pairs: 10}}}, ""},
		{"drift unknown", 0, 0, time.Millisecond, time.Millisecond, unknown(), rollout.Quality{DriftPSI: 3}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			var seen []rollout.Transition
			c, err := rollout.NewController(rollout.Config{Now: clk.now, OnTransition: func(tr rollout.Transition) { seen = append(seen, tr) }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Start("v2", "v1", 0); err != nil {
				t.Fatal(err)
			}
			stats := rollout.NewStats(rollout.DefaultWindow, clk.now)
			fill(stats, rollout.Champion, 900, tc.champErr, tc.champLat)
			fill(stats, rollout.Canary, 200, tc.canaryErr, tc.canaryLat)
			clk.add(time.Minute)
			tr, moved := c.Tick(stats, fakeSignals{rollout.Champion: tc.champQ, rollout.Canary: tc.canaryQ})
			if tc.wantReason == "" {
				if moved {
					t.Fatalf("unexpected %s: %s", tr.Action, tr.Reason)
				}
				if st := c.State(); !st.Active || st.WeightBP != 1000 {
					t.Fatalf("state %+v, want active at 1000 bp", st)
				}
				return
			}
			if !moved || tr.Action != rollout.ActionRollback || !strings.Contains(tr.Reason, tc.wantReason) {
				t.Fatalf("got %v %v, want a rollback for %q", moved, tr, tc.wantReason)
			}
			st := c.State()
			if st.Active || st.WeightBP != 0 || len(st.Transitions) != 2 || len(seen) != 2 {
				t.Fatalf("after rollback: %+v (callback saw %d)", st, len(seen))
			}
			t.Logf("%s", tr)
		})
	}
}

func TestControllerPromotion(t *testing.T) {
	clk := newClock()
	p := rollout.Policy{Hold: 10 * time.Minute, Window: 5 * time.Minute}
	c, err := rollout.NewController(rollout.Config{Policy: p, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	stats := rollout.NewStats(p.Window, clk.now)
	if _, err := c.Start("v2", "v1", 0); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		after      time.Duration
		canaryReqs int
		want       rollout.Action // "" = nothing
		wantBP     int
	}{
		{9 * time.Minute, 500, "", 1000},                  // not held long enough
		{2 * time.Minute, 50, "", 1000},                   // held, too few calls in the window
		{0, 500, rollout.ActionPromote, 5000},             // held with evidence
		{5 * time.Minute, 500, "", 5000},                  // the hold restarts at each step
		{5 * time.Minute, 500, rollout.ActionComplete, 0}, // 100 %: complete
		{time.Hour, 500, "", 0},                           // idle afterwards
	}
	for i, s := range steps {
		clk.add(s.after)
		stats.Reset(rollout.Canary)
		stats.Reset(rollout.Champion)
		fill(stats, rollout.Champion, 1000, 0, time.Millisecond)
		fill(stats, rollout.Canary, s.canaryReqs, 0, time.Millisecond)
		tr, moved := c.Tick(stats, nil)
		switch {
		case s.want == "" && moved:
			t.Fatalf("step %d: unexpected %v", i, tr)
		case s.want != "" && (!moved || tr.Action != s.want):
			t.Fatalf("step %d: got %v %v, want %s", i, moved, tr, s.want)
		}
		if st := c.State(); st.WeightBP != s.wantBP {
			t.Fatalf("step %d: weight %d, want %d", i, st.WeightBP, s.wantBP)
		}
	}
	st := c.State()
	if st.Champion != "v2" || st.Active {
		t.Fatalf("after complete: champion %q active %v", st.Champion, st.Active)
	}
	var actions []string
	for _, tr := range st.Transitions {
		actions = append(actions, string(tr.Action))
	}
	if got := strings.Join(actions, ","); got != "start,promote,complete" {
		t.Fatalf("transitions %s", got)
	}
}

func TestControllerManual(t *testing.T) {
	clk := newClock()
	c, _ := rollout.NewController(rollout.Config{Now: clk.now})
	if _, err := c.Promote("now"); err == nil {
		t.Fatal("Promote without a canary accepted")
	}
	for _, tc := range []struct {
		weight  int
		actions []func() (rollout.Transition, error)
		want    []rollout.Action
		finalBP int
	}{
		{2500, []func() (rollout.Transition, error){func() (rollout.Transition, error) { return c.Promote("admin") }},
			[]rollout.Action{rollout.ActionPromote}, 5000},
		{0, []func() (rollout.Transition, error){func() (rollout.Transition, error) { return c.Stop(rollout.ActionWithdraw, "admin") }},
			[]rollout.Action{rollout.ActionWithdraw}, 0},
		{0, []func() (rollout.Transition, error){func() (rollout.Transition, error) { return c.Stop(rollout.ActionRollback, "admin") }},
			[]rollout.Action{rollout.ActionRollback}, 0},
	} {
		if _, err := c.Start("v2", "v1", tc.weight); err != nil {
			t.Fatal(err)
		}
		for i, act := range tc.actions {
			tr, err := act()
			if err != nil || tr.Action != tc.want[i] {
				t.Fatalf("got %v %v, want %s", tr, err, tc.want[i])
			}
		}
		if st := c.State(); st.WeightBP != tc.finalBP {
			t.Fatalf("weight %d, want %d", st.WeightBP, tc.finalBP)
		}
		c.Stop(rollout.ActionWithdraw, "reset")
	}
	for _, w := range []int{-1, 10000} {
		if _, err := c.Start("v2", "v1", w); err == nil {
			t.Errorf("Start at %d bp accepted", w)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    rollout.Policy
		want string
	}{
		{"defaults", rollout.Policy{}, ""},
		{"steps not ending at 100", rollout.Policy{Steps: []int{10, 50}}, "steps"},
		{"steps decreasing", rollout.Policy{Steps: []int{50, 10, 100}}, "steps"},
		{"ratio below 1", rollout.Policy{MaxP99Ratio: 0.5}, "p99 ratio"},
		{"negative hold", rollout.Policy{Hold: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.WithDefaults().Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStatsWindow(t *testing.T) {
	clk := newClock()
	s := rollout.NewStats(time.Minute, clk.now)
	for i := range 1000 {
		d := time.Millisecond
		if i >= 990 {
			d = 50 * time.Millisecond
		}
		s.Record(rollout.Canary, d, i%100 == 0)
	}
	w := s.Window(rollout.Canary)
	if w.Requests != 1000 || w.Errors != 10 {
		t.Fatalf("window %+v", w)
	}
	// The 990th of 1000 sorted latencies is 1 ms: p99 is its bin's upper edge (< 1.1 ms).
	if w.P99 < time.Millisecond || w.P99 > 1100*time.Microsecond {
		t.Fatalf("p99 %v, want 1 ms to 1.1 ms", w.P99)
	}
	clk.add(61 * time.Second)
	if w := s.Window(rollout.Canary); w.Requests != 0 {
		t.Fatalf("after the window: %+v", w)
	}
}

func BenchmarkStatsRecord(b *testing.B) {
	s := rollout.NewStats(time.Minute, nil)
	for b.Loop() {
		s.Record(rollout.Canary, time.Millisecond, false)
	}
}
