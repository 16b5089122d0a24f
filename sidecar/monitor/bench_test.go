package monitor_test

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
)

func entities(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "vm-" + strconv.Itoa(i)
	}
	return out
}

// BenchmarkServedActual: one served forecast and its actual per op (one slot), 1,000
// entities in turn; the rolling window fills to MaxPairs and stays there.
func BenchmarkServedActual(b *testing.B) {
	m := newMonitor(b, newClock(), monitor.Config{})
	es := entities(1000)
	p := monitor.Prediction{Point: 10, Lo: 8, Hi: 12}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e, ts := es[i%len(es)], int64(i)
		m.Served(champion, monitor.Forecast, e, ts, p)
		if _, err := m.Actual(monitor.Forecast, e, ts, 11); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServedActual3Slots: champion, canary and shadow served, one actual joins all
// three (per op).
func BenchmarkServedActual3Slots(b *testing.B) {
	m := newMonitor(b, newClock(), monitor.Config{})
	es := entities(1000)
	p := monitor.Prediction{Point: 10, Lo: 8, Hi: 12}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e, ts := es[i%len(es)], int64(i)
		m.Served(champion, monitor.Forecast, e, ts, p)
		m.Served(canary, monitor.Forecast, e, ts, p)
		m.Served(shadow, monitor.Forecast, e, ts, p)
		if n, err := m.Actual(monitor.Forecast, e, ts, 11); n != 3 || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkServedActualParallel: as BenchmarkServedActual from GOMAXPROCS goroutines
// (one mutex: this shows its contention).
func BenchmarkServedActualParallel(b *testing.B) {
	m := newMonitor(b, newClock(), monitor.Config{})
	var next atomic.Int64
	p := monitor.Prediction{Point: 10, Lo: 8, Hi: 12}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := "vm-" + strconv.FormatInt(next.Add(1), 10)
		for ts := int64(0); pb.Next(); ts++ {
			m.Served(champion, monitor.Forecast, e, ts, p)
			if _, err := m.Actual(monitor.Forecast, e, ts, 11); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPendingMemory reports the heap held per served prediction waiting for its
// actual, with MaxPending (100,000) of them waiting.
func BenchmarkPendingMemory(b *testing.B) {
	es := entities(monitor.DefaultMaxPending)
	p := monitor.Prediction{Point: 10, Lo: 8, Hi: 12}
	var perItem float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := newMonitor(b, newClock(), monitor.Config{})
		for i, e := range es {
			m.Served(champion, monitor.Forecast, e, int64(i), p)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if m.Pending() != len(es) {
			b.Fatal(m.Pending())
		}
		perItem = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(es))
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perItem, "B/pending")
}

// BenchmarkPairsMemory reports the heap per joined pair in a full window.
func BenchmarkPairsMemory(b *testing.B) {
	const n = monitor.DefaultMaxPairs
	p := monitor.Prediction{Point: 10, Lo: 8, Hi: 12}
	var perPair float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := newMonitor(b, newClock(), monitor.Config{})
		for ts := range int64(n) {
			m.Served(champion, monitor.Forecast, "vm", ts, p)
			_, _ = m.Actual(monitor.Forecast, "vm", ts, 11)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPair = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perPair, "B/pair")
}

func loadRef(b *testing.B, model string) (*bundle.DriftReference, *bundle.Golden) {
	bd, err := bundle.Load(testbundle.Dir())
	if err != nil {
		b.Fatal(err)
	}
	return bd.Drifts[model], bd.Goldens[model]
}

// benchDrift: a full live window (DriftLive 4096) of model's reference, one golden input
// row observed per op, then Drift (recomputed, since the window changed).
func benchDrift(b *testing.B, model string) {
	ref, g := loadRef(b, model)
	m := newMonitor(b, newClock(), monitor.Config{})
	if err := m.SetReference(champion, ref); err != nil {
		b.Fatal(err)
	}
	rows := int(g.InputShape[0])
	per := len(g.Input) / rows
	for i := 0; i < monitor.DefaultDriftLive; i += rows {
		if err := m.ObserveInputTensor(champion, g.Input, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := i % rows
		if err := m.ObserveInputTensor(champion, g.Input[r*per:(r+1)*per], 1); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Drift(champion); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDriftPBA(b *testing.B) { benchDrift(b, "pba") }
func BenchmarkDriftITP(b *testing.B) { benchDrift(b, "itp") }

// BenchmarkObserveInputTensor: one pba input row (12 steps x 14 features) into the window.
func BenchmarkObserveInputTensor(b *testing.B) {
	ref, g := loadRef(b, "pba")
	m := newMonitor(b, newClock(), monitor.Config{})
	if err := m.SetReference(champion, ref); err != nil {
		b.Fatal(err)
	}
	row := g.Input[:len(g.Input)/int(g.InputShape[0])]
	b.ReportAllocs()
	for b.Loop() {
		if err := m.ObserveInputTensor(champion, row, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect: one scrape of 15 keys (5 models x 3 slots) with full pair windows of
// 10,000 pairs and full drift windows of the default bundle's references, every window
// changed since the last scrape (the worst case).
func BenchmarkCollect(b *testing.B) {
	bd, err := bundle.Load(testbundle.Dir())
	if err != nil {
		b.Fatal(err)
	}
	m := newMonitor(b, newClock(), monitor.Config{MaxPending: 200_000})
	var keys []monitor.Key
	for _, mod := range bd.Manifest.Models {
		g := bd.Goldens[mod.Name]
		for _, slot := range []string{"champion", "canary", "shadow"} {
			k := monitor.Key{Model: mod.Name, Version: "v", Slot: slot}
			keys = append(keys, k)
			if err := m.SetReference(k, bd.Drifts[mod.Name]); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < monitor.DefaultDriftLive; i += int(g.InputShape[0]) {
				if err := m.ObserveInputTensor(k, g.Input, int(g.InputShape[0])); err != nil {
					b.Fatal(err)
				}
			}
			for ts := range int64(10_000) {
				m.Served(k, monitor.Forecast, "vm", ts, monitor.Prediction{Point: 1, Lo: 0, Hi: 2})
			}
		}
	}
	for ts := range int64(10_000) {
		_, _ = m.Actual(monitor.Forecast, "vm", ts, 1)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	one := make([][]float64, 1)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, k := range keys { // dirty every window
			ref := bd.Drifts[k.Model]
			n := 0
			for _, c := range ref.Columns {
				if c.Kind == bundle.DriftInput {
					n++
				}
			}
			one[0] = make([]float64, n)
			m.ObserveInputs(k, one)
		}
		b.StartTimer()
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
