package monitor_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/dwcp/dwcp-ml/sidecar/monitor"
)

// TestCollector: every exported series against the values put in, names linted.
func TestCollector(t *testing.T) {
	c := newClock()
	m := newMonitor(t, c, monitor.Config{PendingTTL: time.Hour, Window: 2 * time.Hour})
	capKey := monitor.Key{Model: "scaling", Version: "v1", Slot: "champion"}
	flagKey := monitor.Key{Model: "anomaly", Version: "v1", Slot: "shadow"}
	idle := monitor.Key{Model: "scaling", Version: "v2", Slot: "canary"}

	m.Served(champion, monitor.Forecast, "vm", 1, monitor.Prediction{Point: 10, Lo: 5, Hi: 15})
	m.Served(champion, monitor.Forecast, "vm", 2, monitor.Prediction{Point: 10, Lo: 5, Hi: 15})
	m.Served(capKey, monitor.Capacity, "vm", 1, monitor.Prediction{Point: 100})
	m.Served(flagKey, monitor.Flag, "vm", 1, monitor.Prediction{Flag: true})
	m.Served(flagKey, monitor.Flag, "vm", 2, monitor.Prediction{Flag: false})
	m.Served(idle, monitor.Capacity, "vm", 9, monitor.Prediction{Point: 1})
	m.Served(idle, monitor.Capacity, "vm", 9, monitor.Prediction{Point: 2}) // replaced
	must := func(kind monitor.Kind, ts int64, v float64) {
		if _, err := m.Actual(kind, "vm", ts, v); err != nil {
			t.Fatal(err)
		}
	}
	must(monitor.Forecast, 1, 20) // |err| 10, outside
	must(monitor.Forecast, 2, 5)  // 5, on Lo
	must(monitor.Capacity, 1, 150)
	must(monitor.Flag, 1, 0)
	must(monitor.Flag, 2, 1)
	_, _ = m.Actual(monitor.Flag, "vm", 3, 1) // unmatched
	m.Served(champion, monitor.Forecast, "late", 1, monitor.Prediction{})
	c.Advance(time.Hour + time.Second) // idle's and late's predictions expire at the scrape

	ref := synthetic(t, normals(1, 500, 0), normals(2, 500, 0))
	if err := m.SetReference(champion, ref); err != nil {
		t.Fatal(err)
	}
	m.ObserveInputs(champion, rows(normals(1, 500, 0)))

	mfs := gather(t, m)
	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{"dwcp_ml_online_pairs", keyLabels(champion), 2},
		{"dwcp_ml_online_wape", keyLabels(champion), 15.0 / 25},
		{"dwcp_ml_online_interval_coverage", keyLabels(champion), 0.5},
		{"dwcp_ml_online_pairs", keyLabels(capKey), 1},
		{"dwcp_ml_online_capacity_shortfall", keyLabels(capKey), 50.0 / 150},
		{"dwcp_ml_online_pairs", keyLabels(flagKey), 2},
		{"dwcp_ml_online_flag_precision", keyLabels(flagKey), 0},
		{"dwcp_ml_online_flag_recall", keyLabels(flagKey), 0},
		{"dwcp_ml_online_pairs", keyLabels(idle), 0},
		{"dwcp_ml_drift_psi", keyLabels(champion, "feature", "x"), 0},
		{"dwcp_ml_drift_ks", keyLabels(champion, "feature", "x"), 0},
		{"dwcp_ml_drift_live_values", keyLabels(champion, "feature", "x"), 500},
		{"dwcp_ml_actuals_total", []string{"kind", "forecast", "result", "joined"}, 2},
		{"dwcp_ml_actuals_total", []string{"kind", "flag", "result", "joined"}, 2},
		{"dwcp_ml_actuals_total", []string{"kind", "flag", "result", "unmatched"}, 1},
		{"dwcp_ml_actuals_total", []string{"kind", "capacity", "result", "invalid"}, 0},
		{"dwcp_ml_monitor_served_total", []string{"kind", "forecast", "result", "recorded"}, 3},
		{"dwcp_ml_monitor_served_total", []string{"kind", "capacity", "result", "replaced"}, 1},
		{"dwcp_ml_monitor_evicted_total", []string{"reason", "ttl"}, 2},
		{"dwcp_ml_monitor_evicted_total", []string{"reason", "capacity"}, 0},
		{"dwcp_ml_monitor_pending", nil, 0},
		{"dwcp_ml_drift_rows_total", []string{"result", "accepted"}, 500},
	}
	for _, w := range want {
		if got, ok := metric(mfs, w.name, w.labels...); !ok || got != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	absent := []struct {
		name   string
		labels []string
	}{
		{"dwcp_ml_online_wape", keyLabels(capKey)},                         // not its kind
		{"dwcp_ml_online_capacity_shortfall", keyLabels(idle)},             // no pair
		{"dwcp_ml_drift_psi", keyLabels(champion, "feature", "output[0]")}, // no live value
		{"dwcp_ml_actuals_total", []string{"kind", "unknown", "result", "invalid"}},
	}
	for _, a := range absent {
		if v, ok := metric(mfs, a.name, a.labels...); ok {
			t.Errorf("%s%v = %v, want no series", a.name, a.labels, v)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestConcurrent: every call from many goroutines at once (run it under -race); the
// totals come out exact.
func TestConcurrent(t *testing.T) {
	const workers, perWorker = 8, 400
	m := newMonitor(t, newClock(), monitor.Config{})
	ref := synthetic(t, normals(1, 200, 0), normals(2, 200, 0))
	for _, k := range []monitor.Key{champion, canary, shadow} {
		if err := m.SetReference(k, ref); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	done, scraped := make(chan struct{}), make(chan error, 1)
	go func() { // a scraper for the whole run
		for {
			select {
			case <-done:
				scraped <- nil
				return
			default:
			}
			if _, err := reg.Gather(); err != nil {
				scraped <- err
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entity := fmt.Sprintf("vm%d", w)
			for i := range perWorker {
				ts := int64(i)
				for _, k := range []monitor.Key{champion, canary, shadow} {
					m.Served(k, monitor.Forecast, entity, ts, monitor.Prediction{Point: 1, Lo: 0, Hi: 2})
				}
				if n, err := m.Actual(monitor.Forecast, entity, ts, 1); n != 3 || err != nil {
					errs <- fmt.Errorf("%s %d: %d joined, %v", entity, ts, n, err)
					return
				}
				m.ObserveInputs(canary, [][]float64{{float64(i % 5)}})
				_ = m.Accuracy(champion)
				if _, err := m.Drift(canary); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-scraped; err != nil {
		t.Fatal(err)
	}
	for _, k := range []monitor.Key{champion, canary, shadow} {
		if a := m.Accuracy(k); a.Pairs != workers*perWorker || a.WAPE != 0 || a.Coverage != 1 {
			t.Errorf("%s: %+v", k, a)
		}
	}
	ds, _ := m.Drift(canary)
	if m.Pending() != 0 || ds[0].N != workers*perWorker {
		t.Errorf("pending %d, live values %d", m.Pending(), ds[0].N)
	}
}
