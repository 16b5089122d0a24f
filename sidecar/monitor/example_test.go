package monitor_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
)

// A champion and a canary forecast the same VM's bandwidth for 09:15; the actual arrives
// later and scores both.
func Example() {
	m, err := monitor.New(monitor.Config{}) // 1 h window, 100,000 pending, 6 h TTL
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())

	champion := monitor.Key{Model: "pba", Version: "default-1", Slot: "champion"}
	canary := monitor.Key{Model: "pba", Version: "default-2", Slot: "canary"}
	target := int64(1376298900) // the time the forecast is for (Unix seconds)
	m.Served(champion, monitor.Forecast, "vm-17", target, monitor.Prediction{Point: 280, Lo: 126, Hi: 300})
	m.Served(canary, monitor.Forecast, "vm-17", target, monitor.Prediction{Point: 310, Lo: 200, Hi: 330})

	n, err := m.Actual(monitor.Forecast, "vm-17", target, 320) // observed at 09:15
	fmt.Println(n, err)
	a := m.Accuracy(champion)
	fmt.Printf("champion: %d pair, WAPE %.3f, coverage %.0f\n", a.Pairs, a.WAPE, a.Coverage)
	a = m.Accuracy(canary)
	fmt.Printf("canary: %d pair, WAPE %.3f, coverage %.0f\n", a.Pairs, a.WAPE, a.Coverage)

	_, err = m.Actual(monitor.Forecast, "vm-17", target, 320) // reported twice
	fmt.Println(errors.Is(err, monitor.ErrNoPrediction))

	// Drift: the slot's bundle reference, then the rows its model took.
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		log.Fatal(err)
	}
	if err := m.SetReference(champion, b.Drifts["pba"]); err != nil {
		log.Fatal(err)
	}
	g := b.Goldens["pba"]
	if err := m.ObserveInputTensor(champion, g.Input, int(g.InputShape[0])); err != nil {
		log.Fatal(err)
	}
	ds, err := m.Drift(champion)
	if err != nil {
		log.Fatal(err)
	}
	// Nine golden rows full of edge cases: a large PSI, as docs/drift-report.md says.
	fmt.Printf("%s: PSI %.3f KS %.3f over %d values\n", ds[0].Feature, ds[0].PSI, ds[0].KS, ds[0].N)
	// Output:
	// 2 <nil>
	// champion: 1 pair, WAPE 0.125, coverage 0
	// canary: 1 pair, WAPE 0.031, coverage 1
	// true
	// cpu_pct: PSI 3.930 KS 0.300 over 9 values
}
