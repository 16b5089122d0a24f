package monitor_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/monitor"
)

// step is one call of a join scenario: a Served, an Actual (with what it must return) or
// a clock advance.
type step struct {
	serve   *served
	actual  *actual
	advance time.Duration
}

type served struct {
	k      monitor.Key
	kind   monitor.Kind
	entity string
	ts     int64
	p      monitor.Prediction
}

type actual struct {
	kind    monitor.Kind
	entity  string
	ts      int64
	value   float64
	joined  int
	wantErr error
}

func serve(k monitor.Key, entity string, ts int64, point float64) step {
	return step{serve: &served{k, monitor.Forecast, entity, ts, monitor.Prediction{Point: point, Lo: point - 1, Hi: point + 1}}}
}

func report(entity string, ts int64, value float64, joined int, wantErr error) step {
	return step{actual: &actual{monitor.Forecast, entity, ts, value, joined, wantErr}}
}

func wait(d time.Duration) step { return step{advance: d} }

// TestJoins: which served predictions an actual joins.
func TestJoins(t *testing.T) {
	ttl := monitor.DefaultPendingTTL
	tests := []struct {
		name    string
		steps   []step
		pending int
		pairs   map[monitor.Key]int
		wape    map[monitor.Key]float64
		evicted map[string]float64
	}{
		{name: "one entity, one slot",
			steps: []step{serve(champion, "vm1", 300, 10), report("vm1", 300, 12, 1, nil)},
			pairs: map[monitor.Key]int{champion: 1}, wape: map[monitor.Key]float64{champion: 2.0 / 12}},
		{name: "one entity, three slots",
			steps: []step{serve(champion, "vm1", 300, 10), serve(canary, "vm1", 300, 11), serve(shadow, "vm1", 300, 14),
				report("vm1", 300, 12, 3, nil)},
			pairs: map[monitor.Key]int{champion: 1, canary: 1, shadow: 1},
			wape:  map[monitor.Key]float64{champion: 2.0 / 12, canary: 1.0 / 12, shadow: 2.0 / 12}},
		{name: "a slot served twice: the newest answer counts",
			steps: []step{serve(champion, "vm1", 300, 10), serve(champion, "vm1", 300, 6), report("vm1", 300, 12, 1, nil)},
			pairs: map[monitor.Key]int{champion: 1}, wape: map[monitor.Key]float64{champion: 6.0 / 12}},
		{name: "a repeated actual joins nothing",
			steps: []step{serve(champion, "vm1", 300, 10), report("vm1", 300, 12, 1, nil),
				report("vm1", 300, 12, 0, monitor.ErrNoPrediction)},
			pairs: map[monitor.Key]int{champion: 1}},
		{name: "entities and times are joined exactly",
			steps: []step{serve(champion, "vm1", 300, 10), serve(champion, "vm2", 300, 20), serve(champion, "vm1", 600, 30),
				report("vm2", 300, 20, 1, nil), report("vm3", 300, 1, 0, monitor.ErrNoPrediction),
				report("vm1", 900, 1, 0, monitor.ErrNoPrediction)},
			pending: 2, pairs: map[monitor.Key]int{champion: 1}, wape: map[monitor.Key]float64{champion: 0}},
		{name: "the slot that served after the actual waits",
			steps:   []step{serve(champion, "vm1", 300, 10), report("vm1", 300, 10, 1, nil), serve(shadow, "vm1", 300, 10)},
			pending: 1, pairs: map[monitor.Key]int{champion: 1, shadow: 0}},
		{name: "an actual at exactly PendingTTL still joins",
			steps: []step{serve(champion, "vm1", 300, 10), wait(ttl), report("vm1", 300, 10, 1, nil)},
			pairs: map[monitor.Key]int{champion: 1}, evicted: map[string]float64{"ttl": 0}},
		{name: "a late actual after PendingTTL finds nothing",
			steps: []step{serve(champion, "vm1", 300, 10), serve(canary, "vm1", 300, 10), wait(ttl + time.Nanosecond),
				report("vm1", 300, 10, 0, monitor.ErrNoPrediction)},
			pairs: map[monitor.Key]int{champion: 0, canary: 0}, evicted: map[string]float64{"ttl": 2}},
		{name: "a replaced prediction's TTL starts again",
			steps: []step{serve(champion, "vm1", 300, 10), wait(ttl), serve(champion, "vm1", 300, 10), wait(time.Hour),
				report("vm1", 300, 10, 1, nil)},
			pairs: map[monitor.Key]int{champion: 1}, evicted: map[string]float64{"ttl": 0}},
		{name: "unknown entity",
			steps: []step{report("nobody", 300, 10, 0, monitor.ErrNoPrediction)}},
		{name: "another kind is another prediction",
			steps: []step{serve(champion, "vm1", 300, 10),
				{actual: &actual{monitor.Capacity, "vm1", 300, 10, 0, monitor.ErrNoPrediction}}},
			pending: 1, pairs: map[monitor.Key]int{champion: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			m := newMonitor(t, c, monitor.Config{})
			for i, s := range tc.steps {
				switch {
				case s.serve != nil:
					m.Served(s.serve.k, s.serve.kind, s.serve.entity, s.serve.ts, s.serve.p)
				case s.actual != nil:
					a := s.actual
					n, err := m.Actual(a.kind, a.entity, a.ts, a.value)
					if n != a.joined || !errors.Is(err, a.wantErr) || (err == nil) != (a.wantErr == nil) {
						t.Fatalf("step %d: Actual(%q, %d) = %d, %v; want %d, %v", i, a.entity, a.ts, n, err, a.joined, a.wantErr)
					}
				default:
					c.Advance(s.advance)
				}
			}
			if got := m.Pending(); got != tc.pending {
				t.Errorf("pending %d, want %d", got, tc.pending)
			}
			for k, want := range tc.pairs {
				if got := m.Accuracy(k).Pairs; got != want {
					t.Errorf("%s: %d pairs, want %d", k, got, want)
				}
			}
			for k, want := range tc.wape {
				if got := m.Accuracy(k).WAPE; got != want {
					t.Errorf("%s: WAPE %v, want %v", k, got, want)
				}
			}
			mfs := gather(t, m)
			for reason, want := range tc.evicted {
				if got, _ := metric(mfs, "dwcp_ml_monitor_evicted_total", "reason", reason); got != want {
					t.Errorf("evicted %s: %v, want %v", reason, got, want)
				}
			}
		})
	}
}

// pairOf is one served prediction and its actual.
type pairOf struct {
	p      monitor.Prediction
	actual float64
}

// TestAccuracyMetrics: every metric against values computed by hand.
func TestAccuracyMetrics(t *testing.T) {
	nan := math.NaN()
	fc := func(point, lo, hi, actual float64) pairOf {
		return pairOf{monitor.Prediction{Point: point, Lo: lo, Hi: hi}, actual}
	}
	capa := func(capacity, demand float64) pairOf { return pairOf{monitor.Prediction{Point: capacity}, demand} }
	flag := func(f bool, label float64) pairOf { return pairOf{monitor.Prediction{Flag: f}, label} }
	tests := []struct {
		name  string
		kind  monitor.Kind
		pairs []pairOf
		want  monitor.Accuracy
	}{
		{"forecast", monitor.Forecast, []pairOf{
			fc(10, 8, 12, 11),  // |err| 1, covered
			fc(20, 15, 25, 30), // 10, above
			fc(5, 4, 6, 4),     // 1, on the lower bound: covered
			fc(0, -1, 1, -5),   // 5, |actual| 5, below
		}, monitor.Accuracy{Pairs: 4, WAPE: 17.0 / 50, Coverage: 0.5, Shortfall: nan, Precision: nan, Recall: nan}},
		{"forecast, upper bound and crossed interval", monitor.Forecast, []pairOf{
			fc(2, 1, 3, 3), // covered on the upper bound
			fc(2, 3, 1, 2), // crossed: covers nothing
		}, monitor.Accuracy{Pairs: 2, WAPE: 1.0 / 5, Coverage: 0.5, Shortfall: nan, Precision: nan, Recall: nan}},
		{"forecast, all actuals 0 and exact", monitor.Forecast, []pairOf{fc(0, 0, 0, 0)},
			monitor.Accuracy{Pairs: 1, WAPE: nan, Coverage: 1, Shortfall: nan, Precision: nan, Recall: nan}},
		{"forecast, all actuals 0, an error", monitor.Forecast, []pairOf{fc(1, 0, 2, 0)},
			monitor.Accuracy{Pairs: 1, WAPE: math.Inf(1), Coverage: 1, Shortfall: nan, Precision: nan, Recall: nan}},
		{"capacity", monitor.Capacity, []pairOf{
			capa(100, 80),  // enough
			capa(100, 130), // 30 short
			capa(50, 60),   // 10 short
			capa(10, 0),    // no demand
		}, monitor.Accuracy{Pairs: 4, WAPE: nan, Coverage: nan, Shortfall: 40.0 / 270, Precision: nan, Recall: nan}},
		{"capacity, never short", monitor.Capacity, []pairOf{capa(10, 10), capa(10, 0)},
			monitor.Accuracy{Pairs: 2, WAPE: nan, Coverage: nan, Shortfall: 0, Precision: nan, Recall: nan}},
		{"capacity, no demand", monitor.Capacity, []pairOf{capa(10, 0)},
			monitor.Accuracy{Pairs: 1, WAPE: nan, Coverage: nan, Shortfall: 0, Precision: nan, Recall: nan}},
		{"flag", monitor.Flag, []pairOf{flag(true, 1), flag(true, 0), flag(true, 1), flag(false, 1), flag(false, 0)},
			monitor.Accuracy{Pairs: 5, WAPE: nan, Coverage: nan, Shortfall: nan, Precision: 2.0 / 3, Recall: 2.0 / 3}},
		{"flag, nothing flagged", monitor.Flag, []pairOf{flag(false, 1), flag(false, 0)},
			monitor.Accuracy{Pairs: 2, WAPE: nan, Coverage: nan, Shortfall: nan, Precision: nan, Recall: 0}},
		{"flag, nothing labelled 1", monitor.Flag, []pairOf{flag(true, 0)},
			monitor.Accuracy{Pairs: 1, WAPE: nan, Coverage: nan, Shortfall: nan, Precision: 0, Recall: nan}},
		{"no pairs", monitor.Forecast, nil,
			monitor.Accuracy{Pairs: 0, WAPE: nan, Coverage: nan, Shortfall: nan, Precision: nan, Recall: nan}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMonitor(t, newClock(), monitor.Config{})
			k := monitor.Key{Model: "m", Version: "v", Slot: "champion"}
			m.Served(k, tc.kind, "warm", 0, monitor.Prediction{}) // the key exists with its kind
			for i, p := range tc.pairs {
				m.Served(k, tc.kind, "e", int64(i), p.p)
				if n, err := m.Actual(tc.kind, "e", int64(i), p.actual); n != 1 || err != nil {
					t.Fatalf("pair %d: Actual = %d, %v", i, n, err)
				}
			}
			got := m.Accuracy(k)
			want := tc.want
			want.Kind = tc.kind
			if got.Kind != want.Kind || got.Pairs != want.Pairs || !same(got.WAPE, want.WAPE) ||
				!same(got.Coverage, want.Coverage) || !same(got.Shortfall, want.Shortfall) ||
				!same(got.Precision, want.Precision) || !same(got.Recall, want.Recall) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestWindow: the rolling window keeps the pairs joined in the last Window, by join time.
func TestWindow(t *testing.T) {
	c := newClock()
	m := newMonitor(t, c, monitor.Config{Window: time.Hour})
	join := func(ts int64, point, value float64) {
		m.Served(champion, monitor.Forecast, "vm", ts, monitor.Prediction{Point: point, Lo: point, Hi: point})
		if _, err := m.Actual(monitor.Forecast, "vm", ts, value); err != nil {
			t.Fatal(err)
		}
	}
	join(1, 0, 10) // WAPE 1
	c.Advance(30 * time.Minute)
	join(2, 10, 10) // WAPE 0
	if a := m.Accuracy(champion); a.Pairs != 2 || a.WAPE != 0.5 {
		t.Fatalf("both in the window: %+v", a)
	}
	c.Advance(30 * time.Minute) // the first pair is exactly Window old: kept
	if a := m.Accuracy(champion); a.Pairs != 2 {
		t.Fatalf("at Window: %+v", a)
	}
	c.Advance(time.Nanosecond)
	if a := m.Accuracy(champion); a.Pairs != 1 || a.WAPE != 0 {
		t.Fatalf("after Window: %+v", a)
	}
	c.Advance(time.Hour)
	if a := m.Accuracy(champion); a.Pairs != 0 || !math.IsNaN(a.WAPE) {
		t.Fatalf("all out: %+v", a)
	}
}

// TestBounds: MaxPending evicts the oldest served predictions, MaxPairs the oldest pairs,
// and both are counted.
func TestBounds(t *testing.T) {
	c := newClock()
	m := newMonitor(t, c, monitor.Config{MaxPending: 3, MaxPairs: 2})
	for ts := range int64(5) {
		m.Served(champion, monitor.Forecast, "vm", ts, monitor.Prediction{Point: float64(ts)})
		c.Advance(time.Second)
	}
	if m.Pending() != 3 {
		t.Fatalf("pending %d, want 3", m.Pending())
	}
	for ts := range int64(5) {
		n, err := m.Actual(monitor.Forecast, "vm", ts, 10)
		if wantJoin := ts >= 2; (n == 1) != wantJoin || (err == nil) != wantJoin {
			t.Fatalf("ts %d: %d, %v", ts, n, err)
		}
	}
	// Three joined (points 2, 3, 4 against 10) into a window of 2: the oldest went.
	if a := m.Accuracy(champion); a.Pairs != 2 || a.WAPE != (7.0+6)/20 {
		t.Fatalf("%+v, want 2 pairs, WAPE 13/20", a)
	}
	mfs := gather(t, m)
	for reason, want := range map[string]float64{"capacity": 2, "ttl": 0, "window": 1} {
		if got, _ := metric(mfs, "dwcp_ml_monitor_evicted_total", "reason", reason); got != want {
			t.Errorf("evicted %s: %v, want %v", reason, got, want)
		}
	}
	// The pending chain of one (kind, entity, ts) loses only the evicted slot.
	m2 := newMonitor(t, c, monitor.Config{MaxPending: 2})
	m2.Served(champion, monitor.Forecast, "vm", 1, monitor.Prediction{})
	m2.Served(canary, monitor.Forecast, "vm", 1, monitor.Prediction{})
	m2.Served(shadow, monitor.Forecast, "vm", 1, monitor.Prediction{})
	if n, err := m2.Actual(monitor.Forecast, "vm", 1, 1); n != 2 || err != nil {
		t.Fatalf("Actual = %d, %v; want 2 joined", n, err)
	}
	if m2.Accuracy(champion).Pairs != 0 || m2.Accuracy(canary).Pairs != 1 || m2.Accuracy(shadow).Pairs != 1 {
		t.Fatal("the oldest slot should have been evicted")
	}
}

// TestMaxPairsLong: a window kept full for many times its size stays bounded and
// scores the newest pairs.
func TestMaxPairsLong(t *testing.T) {
	m := newMonitor(t, newClock(), monitor.Config{MaxPairs: 100})
	for ts := range int64(10_000) {
		m.Served(champion, monitor.Capacity, "vm", ts, monitor.Prediction{Point: float64(ts % 7)})
		if _, err := m.Actual(monitor.Capacity, "vm", ts, 5); err != nil {
			t.Fatal(err)
		}
	}
	// The last 100 ts are 9900..9999: capacity ts%7, short max(0, 5 - ts%7).
	short := 0.0
	for ts := 9900; ts < 10_000; ts++ {
		short += math.Max(0, 5-float64(ts%7))
	}
	if a := m.Accuracy(champion); a.Pairs != 100 || a.Shortfall != short/500 {
		t.Fatalf("%+v, want 100 pairs, shortfall %v", a, short/500)
	}
}

// TestInvalid: invalid actuals are *ActualError matching ErrInvalidActual, invalid served
// predictions are not recorded, and both are counted.
func TestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		kind   monitor.Kind
		entity string
		value  float64
		reason string
	}{
		{"NaN", monitor.Forecast, "vm", math.NaN(), "not finite"},
		{"+Inf", monitor.Forecast, "vm", math.Inf(1), "not finite"},
		{"-Inf", monitor.Capacity, "vm", math.Inf(-1), "not finite"},
		{"empty entity", monitor.Forecast, "", 1, "empty entity"},
		{"kind 0", 0, "vm", 1, "unknown kind"},
		{"kind 9", 9, "vm", 1, "unknown kind"},
		{"negative demand", monitor.Capacity, "vm", -1, "negative"},
		{"label 0.5", monitor.Flag, "vm", 0.5, "0 or 1"},
		{"label 2", monitor.Flag, "vm", 2, "0 or 1"},
	}
	m := newMonitor(t, newClock(), monitor.Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.Served(champion, monitor.Forecast, "vm", 1, monitor.Prediction{})
			n, err := m.Actual(tc.kind, tc.entity, 1, tc.value)
			var ae *monitor.ActualError
			if n != 0 || !errors.Is(err, monitor.ErrInvalidActual) || !errors.As(err, &ae) ||
				!strings.Contains(ae.Reason, tc.reason) || ae.Entity != tc.entity || ae.TS != 1 {
				t.Fatalf("Actual = %d, %v (%+v)", n, err, ae)
			}
			if !strings.HasPrefix(err.Error(), "monitor: actual ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q", err)
			}
		})
	}
	mfs := gather(t, m)
	for kind, want := range map[string]float64{"forecast": 3, "capacity": 2, "flag": 2, "unknown": 2} {
		if got, _ := metric(mfs, "dwcp_ml_actuals_total", "kind", kind, "result", "invalid"); got != want {
			t.Errorf("invalid %s actuals: %v, want %v", kind, got, want)
		}
	}

	// ErrNoPrediction names the entity and the time.
	_, err := m.Actual(monitor.Forecast, "vm-404", 1700000000, 3)
	var ae *monitor.ActualError
	if !errors.As(err, &ae) || !errors.Is(err, monitor.ErrNoPrediction) ||
		!strings.Contains(err.Error(), `"vm-404" at 1700000000`) {
		t.Fatalf("%v", err)
	}

	m2 := newMonitor(t, newClock(), monitor.Config{})
	bad := []struct {
		k      monitor.Key
		kind   monitor.Kind
		entity string
		p      monitor.Prediction
	}{
		{champion, 0, "vm", monitor.Prediction{}},
		{champion, monitor.Forecast, "", monitor.Prediction{}},
		{monitor.Key{}, monitor.Forecast, "vm", monitor.Prediction{}},
		{champion, monitor.Forecast, "vm", monitor.Prediction{Point: math.NaN()}},
		{champion, monitor.Forecast, "vm", monitor.Prediction{Lo: math.Inf(-1)}},
		{canary, monitor.Capacity, "vm", monitor.Prediction{Point: math.Inf(1)}},
	}
	for _, b := range bad {
		m2.Served(b.k, b.kind, b.entity, 1, b.p)
	}
	m2.Served(champion, monitor.Forecast, "vm", 1, monitor.Prediction{})
	m2.Served(champion, monitor.Capacity, "vm", 2, monitor.Prediction{}) // champion is a forecaster
	if m2.Pending() != 1 {
		t.Fatalf("pending %d, want 1", m2.Pending())
	}
	mfs = gather(t, m2)
	for _, c := range []struct {
		kind string
		want float64
	}{{"unknown", 1}, {"forecast", 4}, {"capacity", 2}} {
		if got, _ := metric(mfs, "dwcp_ml_monitor_served_total", "kind", c.kind, "result", "invalid"); got != c.want {
			t.Errorf("invalid %s served: %v, want %v", c.kind, got, c.want)
		}
	}
}

// TestConfig: negative bounds are refused, zeros take the defaults.
func TestConfig(t *testing.T) {
	for _, cfg := range []monitor.Config{{Window: -1}, {MaxPending: -1}, {PendingTTL: -time.Second}, {MaxPairs: -1},
		{DriftLive: -1}, {DriftLive: monitor.MaxDriftLive + 1}} {
		if _, err := monitor.New(cfg); err == nil || !strings.HasPrefix(err.Error(), "monitor: config") {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
	m, err := monitor.New(monitor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config()
	if c.Window != time.Hour || c.MaxPending != 100_000 || c.PendingTTL != 6*time.Hour || c.MaxPairs != 100_000 ||
		c.DriftLive != 4096 || c.Now == nil {
		t.Fatalf("defaults %+v", c)
	}
}

// TestForget: a forgotten key loses its pending predictions, pairs and gauges.
func TestForget(t *testing.T) {
	m := newMonitor(t, newClock(), monitor.Config{})
	m.Served(champion, monitor.Forecast, "vm", 1, monitor.Prediction{})
	m.Served(canary, monitor.Forecast, "vm", 1, monitor.Prediction{})
	m.Served(canary, monitor.Forecast, "vm", 2, monitor.Prediction{})
	m.Forget(canary)
	if m.Pending() != 1 {
		t.Fatalf("pending %d", m.Pending())
	}
	if n, err := m.Actual(monitor.Forecast, "vm", 1, 1); n != 1 || err != nil {
		t.Fatalf("%d, %v", n, err)
	}
	mfs := gather(t, m)
	if _, ok := metric(mfs, "dwcp_ml_online_pairs", keyLabels(canary)...); ok {
		t.Error("forgotten key still exported")
	}
	if v, ok := metric(mfs, "dwcp_ml_online_pairs", keyLabels(champion)...); !ok || v != 1 {
		t.Errorf("champion pairs %v, %v", v, ok)
	}
}

// TestClockBackwards: a clock that steps back drops nothing early and breaks no join.
func TestClockBackwards(t *testing.T) {
	c := newClock()
	m := newMonitor(t, c, monitor.Config{PendingTTL: time.Hour, Window: time.Hour})
	m.Served(champion, monitor.Forecast, "vm", 1, monitor.Prediction{})
	c.Advance(-2 * time.Hour)
	m.Served(champion, monitor.Forecast, "vm", 2, monitor.Prediction{})
	for ts := int64(1); ts <= 2; ts++ {
		if n, err := m.Actual(monitor.Forecast, "vm", ts, 1); n != 1 || err != nil {
			t.Fatalf("ts %d: %d, %v", ts, n, err)
		}
	}
	if a := m.Accuracy(champion); a.Pairs != 2 {
		t.Fatalf("%+v", a)
	}
}
