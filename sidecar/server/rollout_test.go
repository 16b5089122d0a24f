package server_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// failing is an engine whose anomaly calls fail on the server's side (Internal).
type failing struct{ *runtime.Engine }

func (failing) AnomalyScore(context.Context, engine.Series) (engine.AnomalyResult, error) {
	return engine.AnomalyResult{}, engine.Errorf(engine.CodeInternal, "anomaly score", "anomaly", "injected failure")
}

func (failing) AnomalyScoreBatch(context.Context, []engine.Series) ([]engine.AnomalyResult, error) {
	return nil, engine.Errorf(engine.CodeInternal, "anomaly score", "anomaly", "injected failure")
}

// blocking is an engine whose anomaly calls wait until release is closed.
type blocking struct {
	*runtime.Engine
	release chan struct{}
}

func (b blocking) AnomalyScore(ctx context.Context, s engine.Series) (engine.AnomalyResult, error) {
	<-b.release
	return b.Engine.AnomalyScore(ctx, s)
}

// failDirs and blockDirs are the bundle directories the test opener opens as failing or
// blocking engines (the value: the release channel).
var failDirs, blockDirs sync.Map

// opener opens canary and shadow bundles as the command does (without signatures here).
func opener(observe func(context.Context, engine.ModelRef, int, []float32, []float32)) server.Opener {
	return func(ctx context.Context, dir string) (server.Opened, error) {
		e, err := runtime.Open(ctx, dir, runtime.Config{Observe: observe})
		if _, fail := failDirs.Load(dir); fail && err == nil {
			return failing{e}, nil
		}
		if release, block := blockDirs.Load(dir); block && err == nil {
			return blocking{e, release.(chan struct{})}, nil
		}
		return e, err
	}
}

// rolloutServer serves the default bundle as champion with an Opener, a monitor and the
// bundle root of the test's bundles.
func rolloutServer(t testing.TB, cfg server.Config) (*server.Server, string, *monitor.Monitor) {
	t.Helper()
	mon, err := monitor.New(monitor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Monitor, cfg.BundleRoot = mon, testRoot(t)
	var srv *server.Server
	observe := func(ctx context.Context, ref engine.ModelRef, rows int, in, out []float32) {
		srv.ObserveModel(ctx, ref, rows, in, out)
	}
	cfg.Open = opener(observe)
	eng, err := runtime.Open(context.Background(), testbundle.Dir(), runtime.Config{Observe: observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	srv, target := serveEngine(t, "unix", eng, eng, cfg)
	return srv, target, mon
}

// TestSetRolloutAuthorization: SetRollout is an admin call like Reload: refused with
// PermissionDenied naming the uid for a uid not allowed, allowed for the sidecar's own.
func TestSetRolloutAuthorization(t *testing.T) {
	own := uint32(os.Getuid())
	for _, tc := range []struct {
		name string
		uids []uint32
		want []string // nil = allowed
	}{
		{"own uid", nil, nil},
		{"uid not allowed", []uint32{own + 4242}, []string{"set rollout", "uid " + strconv.FormatUint(uint64(own), 10) + " (pid ",
			"may not make admin calls", "-admin-uids"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			_, target, _ := rolloutServer(t, server.Config{AdminUIDs: tc.uids})
			c := dial(t, target)
			canary := testbundle.WithVersion(t, "canary-2")
			st, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: canary})
			if tc.want == nil {
				if err != nil || st.WeightBP != 1000 || len(st.Slots) != 2 {
					t.Fatalf("SetRollout: %+v, %v", st, err)
				}
				return
			}
			if !errors.Is(err, engine.ErrPermissionDenied) {
				t.Fatalf("SetRollout: %v, want permission denied", err)
			}
			for _, frag := range tc.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("refusal lacks %q: %v", frag, err)
				}
			}
			if st, err := c.Rollout(ctx); err != nil || len(st.Slots) != 1 || st.State.Active {
				t.Errorf("after the refusal: %+v, %v", st, err)
			}
		})
	}
}

// TestSetRolloutRefusals: a bundle outside the bundle root, a broken bundle, a bad weight
// or policy, actions without a canary: each refused with its own error, nothing changed.
func TestSetRolloutRefusals(t *testing.T) {
	ctx := context.Background()
	_, target, _ := rolloutServer(t, server.Config{})
	c := dial(t, target)
	broken := testbundle.WithVersion(t, "broken-2")
	testbundle.Truncate(t, broken+"/pba.onnx")
	for _, tc := range []struct {
		name string
		req  client.RolloutRequest
		code error
		frag string
	}{
		{"outside the root", client.RolloutRequest{Action: "set", CanaryDir: "/etc"}, engine.ErrPermissionDenied, "not under the bundle root"},
		{"broken bundle", client.RolloutRequest{Action: "set", CanaryDir: broken}, engine.ErrBadBundle, "sha256"},
		{"weight", client.RolloutRequest{Action: "set", CanaryDir: broken, CanaryWeightBP: 10000}, engine.ErrInvalidInput, "basis points"},
		{"policy", client.RolloutRequest{Action: "set", Policy: &rollout.Policy{Steps: []int{10, 50}}}, engine.ErrInvalidInput, "steps"},
		{"nothing", client.RolloutRequest{Action: "set"}, engine.ErrInvalidInput, "names nothing"},
		{"promote without canary", client.RolloutRequest{Action: "promote"}, engine.ErrNotFound, "no canary"},
		{"rollback without canary or previous", client.RolloutRequest{Action: "rollback"}, engine.ErrNotFound, "nothing to roll back"},
		{"clear without shadow", client.RolloutRequest{Action: "clear-shadow"}, engine.ErrNotFound, "no shadow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetRollout(ctx, tc.req)
			if !errors.Is(err, tc.code) || !strings.Contains(err.Error(), tc.frag) {
				t.Fatalf("got %v, want %v with %q", err, tc.code, tc.frag)
			}
			if st, err := c.Rollout(ctx); err != nil || len(st.Slots) != 1 {
				t.Fatalf("after the refusal: %+v, %v", st, err)
			}
		})
	}
}

// anomalySeries is anomaly's first golden run for entity.
func anomalySeries(t testing.TB, entity string) engine.Series {
	s := goldenSeries(t, "anomaly")[0]
	s.Entity = entity
	return s
}

// TestRolloutSlots: with a canary at 10 % and a shadow, Versions shows the three slots,
// the weight and the start; answers come from the champion or the canary by entity and
// never from the shadow; the metrics carry every series; promote, complete (the canary
// becomes champion, the old one previous) and a manual rollback to previous follow.
func TestRolloutSlots(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{})
	c := dial(t, target)
	canary, shadow := testbundle.WithVersion(t, "canary-2"), testbundle.WithVersion(t, "shadow-3")
	st, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: canary, ShadowDir: shadow})
	if err != nil {
		t.Fatal(err)
	}
	slots := map[rollout.Slot]string{}
	for _, s := range st.Slots {
		slots[s.Slot] = s.Bundle
	}
	if slots[rollout.Champion] != "default-1" || slots[rollout.Canary] != "canary-2" || slots[rollout.Shadow] != "shadow-3" ||
		st.WeightBP != 1000 || !st.State.Active || st.State.Percent() != 10 ||
		len(st.State.Transitions) != 1 || st.State.Transitions[0].Action != rollout.ActionStart {
		t.Fatalf("status after set: %+v", st)
	}
	seen := map[string]int{}
	for i := range 400 {
		entity := fmt.Sprintf("vm-%d", i)
		res, err := c.AnomalyScore(ctx, anomalySeries(t, entity))
		if err != nil {
			t.Fatal(err)
		}
		want := "default-1"
		if rollout.Bucket(entity) < 1000 {
			want = "canary-2"
		}
		if res.Model.Bundle != want {
			t.Fatalf("%s answered by %s, want %s", entity, res.Model.Bundle, want)
		}
		seen[res.Model.Bundle]++
	}
	if res, err := c.AnomalyScore(ctx, anomalySeries(t, "")); err != nil || res.Model.Bundle != "default-1" {
		t.Fatalf("no entity: %+v, %v (want the champion)", res.Model, err)
	}
	// Predict routes by its entity too, and names what answered.
	rows, n := goldenRows(t, "anomaly")
	for _, entity := range []string{"vm-0", "vm-1", "vm-2", "vm-3", "vm-4", "vm-5"} {
		_, ref, err := c.PredictFor(ctx, entity, "anomaly", "", n, rows)
		want := "default-1"
		if rollout.Bucket(entity) < 1000 {
			want = "canary-2"
		}
		if err != nil || ref.Bundle != want || ref.Name != "anomaly" || ref.Version == "" {
			t.Fatalf("PredictFor(%s): %+v, %v (want bundle %s)", entity, ref, err, want)
		}
	}
	if seen["shadow-3"] != 0 || seen["canary-2"] == 0 {
		t.Fatalf("answers by bundle: %v", seen)
	}
	reg := srv.Registry()
	waitAtLeast(t, reg, "dwcp_ml_shadow_requests_total", map[string]string{"result": "ok"}, 1)
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dwcp_ml_bundle_info", map[string]string{"slot": "canary", "bundle_version": "canary-2"}, 1},
		{"dwcp_ml_bundle_info", map[string]string{"slot": "shadow", "bundle_version": "shadow-3"}, 1},
		{"dwcp_ml_bundle_signed", map[string]string{"slot": "champion"}, 0},
		{"dwcp_ml_canary_weight", nil, 0.1},
		{"dwcp_ml_rollout_step", nil, 10},
		{"dwcp_ml_ready", nil, 1},
		{"dwcp_ml_rollout_transitions_total", map[string]string{"action": "start"}, 1},
		{"dwcp_ml_requests_total", map[string]string{"method": "AnomalyScore", "slot": "canary", "bundle_version": "canary-2"}, float64(seen["canary-2"])},
		{"dwcp_ml_requests_total", map[string]string{"method": "AnomalyScore", "slot": "champion", "bundle_version": "default-1"}, float64(seen["default-1"] + 1)},
	} {
		if got := metric(t, reg, m.name, m.labels); math.Abs(got-m.want) > 1e-12 {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if metric(t, reg, "dwcp_ml_shadow_duration_seconds", nil) == 0 || metric(t, reg, "dwcp_ml_shadow_disagreement", nil) == 0 {
		t.Errorf("shadow duration or disagreement not observed")
	}

	step := func(action string, wantChampion string, wantWeight int) rollout.Status {
		t.Helper()
		st, err := c.SetRollout(ctx, client.RolloutRequest{Action: action})
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		if st.Slots[0].Bundle != wantChampion || st.WeightBP != wantWeight {
			t.Fatalf("after %s: %+v", action, st)
		}
		return st
	}
	step("promote", "default-1", 5000)
	st = step("promote", "canary-2", 0) // 50 -> 100 % completes
	if st.Slots[len(st.Slots)-1].Slot != rollout.Previous || st.Slots[len(st.Slots)-1].Bundle != "default-1" {
		t.Fatalf("previous not kept: %+v", st.Slots)
	}
	if res, err := c.AnomalyScore(ctx, anomalySeries(t, "vm-1")); err != nil || res.Model.Bundle != "canary-2" {
		t.Fatalf("after complete: %+v, %v", res.Model, err)
	}
	// A reload of the configured bundle (SIGHUP) reloads the new champion's own directory.
	if v, err := srv.Reload(ctx, ""); err != nil || v.Bundle != "canary-2" {
		t.Fatalf("reload after complete: %q, %v (want canary-2 still)", v.Bundle, err)
	}
	st = step("rollback", "default-1", 0) // no canary: back to the previous champion
	var actions []string
	for _, tr := range st.State.Transitions {
		actions = append(actions, string(tr.Action))
	}
	if got := strings.Join(actions, ","); got != "start,promote,complete,rollback" {
		t.Fatalf("transitions %s", got)
	}
	if got := metric(t, reg, "dwcp_ml_rollout_transitions_total", map[string]string{"action": "complete"}); got != 1 {
		t.Errorf("complete transitions = %v", got)
	}
}

// waitAtLeast waits (at most 10 s) until the metric reaches want: the shadow runs off the
// request path.
func waitAtLeast(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, reg, name, labels) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v stayed below %v for 10 s", name, labels, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReportActual: an actual joins the prediction served for its entity and time (one
// per slot that served it, the shadow's too); an unknown one is NotFound, a bad value
// InvalidArgument; the online metrics carry the slot.
func TestReportActual(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{})
	c := dial(t, target)
	s := goldenSeries(t, "pba")[0]
	s.Entity = "vm-7"
	f, err := c.ForecastBandwidth(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	ts := f.ValidUntil.Unix()
	if n, err := c.ReportActual(ctx, client.ActualBandwidth, "vm-7", ts, f.Point*1.1); err != nil || n != 1 {
		t.Fatalf("ReportActual: %d, %v (want 1 joined)", n, err)
	}
	if _, err := c.ReportActual(ctx, client.ActualBandwidth, "vm-7", ts, f.Point); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a second actual: %v, want not found", err)
	}
	if _, err := c.ReportActual(ctx, client.ActualBandwidth, "vm-7", ts, math.NaN()); !errors.Is(err, engine.ErrInvalidInput) {
		t.Fatalf("NaN actual: %v, want invalid input", err)
	}
	if got := metric(t, srv.Registry(), "dwcp_ml_online_pairs", map[string]string{"slot": "champion"}); got != 1 {
		t.Errorf("dwcp_ml_online_pairs{champion} = %v, want 1", got)
	}

	// A link answer under the same id waits for a LINK actual (Mbit/s), never a BANDWIDTH one.
	ls := goldenSeries(t, "link")[0]
	ls.Entity = "vm-7"
	lf, err := c.ForecastLink(ctx, ls)
	if err != nil {
		t.Fatal(err)
	}
	lts := lf.ValidUntil.Unix()
	if lts != ls.Timestamps[len(ls.Timestamps)-1]+900 {
		t.Fatalf("link valid until %d, want the last sample + 900 s", lts)
	}
	if _, err := c.ReportActual(ctx, client.ActualBandwidth, "vm-7", lts, lf.PointMbps); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a bandwidth actual at the link's target: %v, want not found", err)
	}
	if n, err := c.ReportActual(ctx, client.ActualLink, "vm-7", lts, lf.PointMbps*0.9); err != nil || n != 1 {
		t.Fatalf("ReportActual link: %d, %v (want 1 joined)", n, err)
	}

	// With a shadow, its answer waits for the same actual.
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", ShadowDir: testbundle.WithVersion(t, "shadow-3")}); err != nil {
		t.Fatal(err)
	}
	s.Entity = "vm-8"
	if f, err = c.ForecastBandwidth(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitAtLeast(t, srv.Registry(), "dwcp_ml_shadow_requests_total", map[string]string{"result": "ok"}, 1)
	if n, err := c.ReportActual(ctx, client.ActualBandwidth, "vm-8", f.ValidUntil.Unix(), f.Point); err != nil || n != 2 {
		t.Fatalf("ReportActual with a shadow: %d, %v (want 2 joined)", n, err)
	}
}

// TestAutomaticRollback: the server's judgement with a fake clock: a canary whose calls
// all fail is rolled back
// on its error rate; a healthy one is promoted after the hold and completes.
func TestAutomaticRollback(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv, target, _ := rolloutServer(t, server.Config{Now: clock})
	c := dial(t, target)
	// p99 slack of a second: this test is about the error rate and the hold, not latency noise.
	policy := &rollout.Policy{MinRequests: 20, Hold: time.Minute, Window: time.Minute, Interval: time.Hour, P99Slack: time.Second}
	send := func(n int) {
		for i := range n {
			c.AnomalyScore(ctx, anomalySeries(t, fmt.Sprintf("vm-%d", i))) // canary errors are expected here
		}
	}

	// A canary whose anomaly calls all fail (Internal).
	bad := testbundle.WithVersion(t, "failing-2")
	failDirs.Store(bad, true)
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: bad, CanaryWeightBP: 5000, Policy: policy}); err != nil {
		t.Fatal(err)
	}
	send(200)
	tr, moved := srv.Judge()
	if !moved || tr.Action != rollout.ActionRollback || !strings.Contains(tr.Reason, "error rate") {
		t.Fatalf("judgement of a failing canary: %v %v", moved, tr)
	}
	if st := srv.Rollout(); len(st.Slots) != 1 || st.WeightBP != 0 {
		t.Fatalf("after the rollback: %+v", st)
	}

	// A healthy canary: held for a minute with enough calls, promoted, then complete.
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: testbundle.WithVersion(t, "canary-2")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []rollout.Action{rollout.ActionPromote, rollout.ActionComplete} {
		advance(61 * time.Second)
		send(400)
		tr, moved := srv.Judge()
		if !moved || tr.Action != want {
			t.Fatalf("judgement: %v %v, want %s", moved, tr, want)
		}
	}
	if st := srv.Rollout(); st.Slots[0].Bundle != "canary-2" {
		t.Fatalf("after complete: %+v", st)
	}
	// The same story as the metrics tell it (a scrape of srv.Registry()).
	reg := srv.Registry()
	for _, c := range []struct {
		action string
		want   float64
	}{{"start", 2}, {"rollback", 1}, {"promote", 1}, {"complete", 1}, {"withdraw", 0}} {
		got := metric(t, reg, "dwcp_ml_rollout_transitions_total", map[string]string{"action": c.action})
		t.Logf("dwcp_ml_rollout_transitions_total{action=%q} %g", c.action, got)
		if got != c.want {
			t.Errorf("transitions %s = %g, want %g", c.action, got, c.want)
		}
	}
	weight := metric(t, reg, "dwcp_ml_canary_weight", nil)
	t.Logf("dwcp_ml_canary_weight %g, dwcp_ml_rollout_step %g", weight, metric(t, reg, "dwcp_ml_rollout_step", nil))
	if weight != 0 {
		t.Errorf("canary weight after complete = %g, want 0 (the canary is the champion now)", weight)
	}
}

// TestRolloutLoad: 10,000 AnomalyScore requests from 8 clients over 5,000 entities (two
// each) with a canary at 10 %: the canary's share is within 1.5 points of 10 % and every
// entity is answered by one bundle. Then 4,000 more while the canary is promoted to 50 %
// and rolled back: no request fails. Last, the p99 latency of 2,000 sequential requests
// without and with a shadow (printed, not asserted: it is this machine's figure).
func TestRolloutLoad(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{})
	admin := dial(t, target)
	if _, err := admin.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: testbundle.WithVersion(t, "canary-2")}); err != nil {
		t.Fatal(err)
	}
	const clients, entities = 8, 5000
	cs := make([]*client.Client, clients)
	for i := range cs {
		cs[i] = dial(t, target)
	}
	series := make([]engine.Series, entities)
	for i := range series {
		series[i] = anomalySeries(t, fmt.Sprintf("vm-%d", i))
	}
	// run sends n requests over the clients, request i for entity i mod entities, and
	// returns the bundle of each answer ("" for a failed request) and the failures.
	run := func(n int, during func(done *atomic.Int64)) ([]string, int64) {
		bundles := make([]string, n)
		var failed, done atomic.Int64
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for w := range clients {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					res, err := cs[w].AnomalyScore(ctx, series[i%entities])
					if err != nil {
						failed.Add(1)
						t.Errorf("request %d: %v", i, err)
					} else {
						bundles[i] = res.Model.Bundle
					}
					done.Add(1)
				}
			})
		}
		if during != nil {
			during(&done)
		}
		wg.Wait()
		return bundles, failed.Load()
	}

	start := time.Now()
	bundles, failed := run(10_000, nil)
	took := time.Since(start)
	canary, sticky := 0, 0
	for i := range entities {
		if bundles[i] == "canary-2" {
			canary++
		}
		if bundles[i] != "" && bundles[i] == bundles[i+entities] {
			sticky++
		}
	}
	for _, b := range bundles[entities:] {
		if b == "canary-2" {
			canary++
		}
	}
	share := 100 * float64(canary) / 10_000
	t.Logf("10,000 requests (8 clients, %d entities × 2) in %v: canary share %.2f %% (weight 10 %%), sticky %d/%d entities (%.1f %%), %d failed",
		entities, took.Round(time.Millisecond), share, sticky, entities, 100*float64(sticky)/entities, failed)
	if math.Abs(share-10) > 1.5 || sticky != entities || failed != 0 {
		t.Fatalf("share %.2f %% (want 10 ± 1.5), sticky %d of %d, failed %d", share, sticky, entities, failed)
	}

	// A promotion and a forced rollback while 8 clients send 4,000 requests.
	var transitions []string
	_, failed = run(4000, func(done *atomic.Int64) {
		for _, step := range []struct {
			after  int64
			action string
		}{{1000, "promote"}, {2500, "rollback"}} {
			for done.Load() < step.after {
				time.Sleep(time.Millisecond)
			}
			st, err := admin.SetRollout(ctx, client.RolloutRequest{Action: step.action})
			if err != nil {
				t.Errorf("%s: %v", step.action, err)
				continue
			}
			transitions = append(transitions, fmt.Sprintf("%s at request %d -> weight %d bp", step.action, done.Load(), st.WeightBP))
		}
	})
	t.Logf("4,000 requests across %s: %d failed", strings.Join(transitions, ", "), failed)
	if failed != 0 || len(transitions) != 2 {
		t.Fatalf("%d requests failed across the promotion and the rollback", failed)
	}

	// The cost of a shadow on the request path: p99 of sequential requests without and with one.
	p99 := func() time.Duration {
		lat := make([]time.Duration, 2000)
		for i := range lat {
			t0 := time.Now()
			if _, err := admin.AnomalyScore(ctx, series[i%entities]); err != nil {
				t.Fatal(err)
			}
			lat[i] = time.Since(t0)
		}
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		return lat[len(lat)*99/100]
	}
	without := p99()
	if _, err := admin.SetRollout(ctx, client.RolloutRequest{Action: "set", ShadowDir: testbundle.WithVersion(t, "shadow-3")}); err != nil {
		t.Fatal(err)
	}
	with := p99()
	reg := srv.Registry()
	t.Logf("p99 of 2,000 sequential AnomalyScore calls: %v without a shadow, %v with one (%+v); shadow calls ok %v, dropped %v",
		without, with, with-without, metric(t, reg, "dwcp_ml_shadow_requests_total", map[string]string{"result": "ok"}),
		metric(t, reg, "dwcp_ml_shadow_requests_total", map[string]string{"result": "dropped"}))
}

// TestShadowQueueFull: a shadow that does not keep up never holds up a caller: with a
// queue of one and a shadow stuck on its first call, every request is answered at once
// and the shadow calls beyond the queue are dropped and counted.
func TestShadowQueueFull(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{ShadowQueue: 1})
	c := dial(t, target)
	shadow := testbundle.WithVersion(t, "shadow-3")
	release := make(chan struct{})
	blockDirs.Store(shadow, release)
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", ShadowDir: shadow}); err != nil {
		t.Fatal(err)
	}
	const n = 6
	for i := range n {
		if res, err := c.AnomalyScore(ctx, anomalySeries(t, fmt.Sprintf("vm-%d", i))); err != nil || res.Model.Bundle != "default-1" {
			t.Fatalf("request %d: %+v, %v", i, res.Model, err)
		}
	}
	reg := srv.Registry()
	// At most one shadow call runs (stuck) and one waits in the queue: the rest were dropped.
	dropped := metric(t, reg, "dwcp_ml_shadow_requests_total", map[string]string{"result": "dropped"})
	if dropped < n-2 {
		t.Fatalf("dropped %v of %d shadow calls, want at least %d", dropped, n, n-2)
	}
	close(release)
	waitAtLeast(t, reg, "dwcp_ml_shadow_requests_total", map[string]string{"result": "ok"}, n-dropped)
	t.Logf("%d requests with a stuck shadow and a queue of 1: %v shadow calls dropped, %v ran once released",
		n, dropped, metric(t, reg, "dwcp_ml_shadow_requests_total", map[string]string{"result": "ok"}))
}

// TestLiveDrift: every slot's model runs feed the monitor's drift windows under that
// slot, so dwcp_ml_drift_psi has a series for the champion and the canary of each model
// the calls ran.
func TestLiveDrift(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{})
	c := dial(t, target)
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: testbundle.WithVersion(t, "canary-2"),
		CanaryWeightBP: 5000}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := c.AnomalyScore(ctx, anomalySeries(t, fmt.Sprintf("vm-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, slot := range []string{"champion", "canary"} {
		families, err := srv.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range families {
			if f.GetName() != "dwcp_ml_drift_psi" {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["slot"] == slot && labels["model"] == "anomaly" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no dwcp_ml_drift_psi{model=anomaly, slot=%s}", slot)
		}
	}
}

// TestAccuracyRollback: online accuracy from reported actuals rolls a canary back: the
// canary's entities report outcomes twice its forecasts, the champion's exactly its
// forecasts, so the canary's WAPE (0.5) exceeds the champion's (0) by more than the bound.
func TestAccuracyRollback(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{})
	c := dial(t, target)
	policy := &rollout.Policy{MinRequests: 20, MinPairs: 20, Interval: time.Hour, P99Slack: time.Second}
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: testbundle.WithVersion(t, "canary-2"),
		CanaryWeightBP: 5000, Policy: policy}); err != nil {
		t.Fatal(err)
	}
	s := goldenSeries(t, "pba")[0]
	for i := range 200 {
		s.Entity = fmt.Sprintf("vm-%d", i)
		f, err := c.ForecastBandwidth(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		actual := f.Point
		if f.Model.Bundle == "canary-2" {
			actual = 2 * f.Point
		}
		if _, err := c.ReportActual(ctx, client.ActualBandwidth, s.Entity, f.ValidUntil.Unix(), actual); err != nil {
			t.Fatal(err)
		}
	}
	tr, moved := srv.Judge()
	if !moved || tr.Action != rollout.ActionRollback || !strings.Contains(tr.Reason, "/wape") {
		t.Fatalf("judgement: %v %v, want a rollback on the online WAPE", moved, tr)
	}
	t.Logf("%s", tr.Reason)
	// The rolled-back canary's monitor keys are forgotten: its gauges leave the scrape.
	if got := metric(t, srv.Registry(), "dwcp_ml_online_pairs", map[string]string{"slot": "canary"}); got != 0 {
		t.Errorf("dwcp_ml_online_pairs{canary} = %v after the rollback, want no series", got)
	}
	if got := metric(t, srv.Registry(), "dwcp_ml_online_pairs", map[string]string{"slot": "champion"}); got == 0 {
		t.Errorf("dwcp_ml_online_pairs{champion} gone")
	}
}
