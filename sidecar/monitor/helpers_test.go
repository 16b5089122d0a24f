package monitor_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dwcp/dwcp-ml/sidecar/monitor"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newMonitor returns a monitor on clock c with cfg's other fields.
func newMonitor(t testing.TB, c *clock, cfg monitor.Config) *monitor.Monitor {
	t.Helper()
	cfg.Now = c.Now
	m, err := monitor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	champion = monitor.Key{Model: "pba", Version: "default-1", Slot: "champion"}
	canary   = monitor.Key{Model: "pba", Version: "default-2", Slot: "canary"}
	shadow   = monitor.Key{Model: "pba", Version: "default-3", Slot: "shadow"}
)

// gather scrapes m's collector on a fresh registry.
func gather(t testing.TB, m *monitor.Monitor) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// metric returns the value of the series name{labels} (labels given as name, value pairs)
// and whether it exists.
func metric(mfs []*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range mt.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			if len(have) != len(labels)/2 {
				continue
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case mt.Gauge != nil:
				return mt.Gauge.GetValue(), true
			case mt.Counter != nil:
				return mt.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

// keyLabels are k's labels for metric.
func keyLabels(k monitor.Key, more ...string) []string {
	return append([]string{"model", k.Model, "bundle_version", k.Version, "slot", k.Slot}, more...)
}

// same is equality that takes two NaNs as equal.
func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
