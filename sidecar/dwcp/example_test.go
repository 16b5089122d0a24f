//go:build cgo

package dwcp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/dwcp"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// linkMetrics is a link's metrics every 5 minutes: a steady pattern, and at step spike a
// bandwidth collapse with a latency jump.
func linkMetrics(i, spike int) *dwcp.MetricVector {
	v := &dwcp.MetricVector{Timestamp: at(i),
		Bandwidth: float64(900 + 5*(i%12)), Latency: float64(20 + i%5), PacketLoss: 0.1 * float64(i%3),
		Jitter: float64(2 + i%4), CPUUsage: float64(35 + (7*i)%13), MemoryUsage: float64(60 + i%7), ErrorRate: 0.5}
	if i == spike {
		v.Bandwidth, v.Latency = 120, 31
	}
	return v
}

// A Detector over the in-process engine (runtime.Open); client.Dial gives the same
// answers through a dwcp-sidecar.
func ExampleDetector() {
	ctx := context.Background()
	eng, err := runtime.Open(ctx, testbundle.Dir(), runtime.Config{}) // golden/bundle
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	// The adapter's samples live in an online store; its feature core resamples them.
	held := store.NewOnline(ctx, store.New(store.Config{}), eng)

	det, err := dwcp.NewDetector(ctx, held, dwcp.DetectorConfig{Entity: "link-a-b"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("window:", det.Window(), "samples of 5 minutes")
	spike := det.Window() - 1 // the first scored window ends with the spike
	for i := 0; i <= spike+1; i++ {
		a, err := det.Detect(ctx, linkMetrics(i, spike))
		switch {
		case err != nil:
			log.Fatal(err)
		case i == spike-1:
			fmt.Println("warming up, pending:", det.Pending(), "answer:", a)
		case a != nil:
			fmt.Printf("step %d: %s %s: value %g, expected %g, deviation %g, confidence %.3f\n",
				i, a.Severity, a.MetricName, a.Value, a.Expected, a.Deviation, a.Confidence)
		case i > spike-1:
			fmt.Printf("step %d: no anomaly\n", i)
		}
	}
	// Output:
	// window: 577 samples of 5 minutes
	// warming up, pending: 1 answer: <nil>
	// step 576: critical bandwidth: value 120, expected 900, deviation 780, confidence 0.957
	// step 577: no anomaly
}

// A Scaler over the in-process engine: a 4-core VM's CPU usage every 5 minutes.
func ExampleScaler() {
	ctx := context.Background()
	eng, err := runtime.Open(ctx, testbundle.Dir(), runtime.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	// The adapter's samples live in an online store; its feature core resamples them.
	held := store.NewOnline(ctx, store.New(store.Config{}), eng)

	sc, err := dwcp.NewScaler(ctx, held, dwcp.ScalerConfig{DefaultCapacityMHz: 4 * dwcp.MHzPerCore})
	if err != nil {
		log.Fatal(err)
	}
	var p *dwcp.ResourcePrediction
	for i := range sc.Window() {
		m := &dwcp.MetricsData{Timestamp: at(i), TargetID: "vm-7", TargetType: dwcp.TargetVM,
			CPUUsage: 0.30 + 0.02*float64(i%5) + 0.01*float64(i), MemoryUsage: 0.5}
		p, err = sc.Predict(m, 15)
		var warm *dwcp.WarmingUpError
		if errors.As(err, &warm) {
			if i == 0 {
				fmt.Println(err)
			}
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%s in %d min: cpu %.4f of capacity (peak %.1f MHz), load %.4f, confidence %g, %s\n",
		p.TargetID, p.HorizonMinutes, p.PredictedCPU, p.Recommendation.PredictedPeakMHz, p.PredictedLoad,
		p.Confidence, p.TrendDirection)
	// Output:
	// dwcp: predict: vm-7: 1 of the 23 samples of the model's window (one per step): history shorter than the model's window
	// vm-7 in 15 min: cpu 0.6085 of capacity (peak 6328.6 MHz), load 0.7115, confidence 0.9, stable
}

// A Placer over the in-process engine: four DWCP nodes in two racks.
func ExamplePlacer() {
	ctx := context.Background()
	eng, err := runtime.Open(ctx, testbundle.Dir(), runtime.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	// The adapter's samples live in an online store; its feature core resamples them.
	held := store.NewOnline(ctx, store.New(store.Config{}), eng)

	pl, err := dwcp.NewPlacer(ctx, held, dwcp.PlacerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	if err := pl.SetNodes(exampleNodes()); err != nil {
		log.Fatal(err)
	}
	vm := &dwcp.VM{ID: "web-3", RequestedCPU: 4, RequestedMemory: 8 << 30, RequestedDisk: 100 << 30,
		AntiAffinityGroup: "web", AffinityGroup: "shop"}
	d, err := pl.Decide(ctx, vm, &dwcp.Constraints{MaxCostPerHour: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("node:", d.Node.ID)
	for _, e := range d.Excluded {
		fmt.Println("excluded:", e.Node, e.Reasons)
	}
	fmt.Println(d.Placement.Summary())
	// Output:
	// node: n4
	// excluded: n2 [cost 3 per hour > 2]
	// n4 (score -0.118936); 2 of 6 hosts feasible (anti-affinity removed 1, spread removed 2, maintenance removed 2); vs n5 (-0.188415): usage_util_std_after -0.0486, host_util_mem -0.008862, mean_util_after_cpu -0.007654, host_util_cpu -0.001902, host_allocated_ratio_mem -0.001703
}

const gib = 1 << 30

// exampleNodes: three racks; n0 holds web-1 (group web), n1 its peer db-1; n2 is
// expensive, n3 in maintenance; n4 and n5 differ in load.
func exampleNodes() []*dwcp.Node {
	web1 := &dwcp.VM{ID: "web-1", RequestedCPU: 4, RequestedMemory: 8 * gib, AntiAffinityGroup: "web", AffinityGroup: "shop"}
	db1 := &dwcp.VM{ID: "db-1", RequestedCPU: 8, RequestedMemory: 64 * gib, AffinityGroup: "shop"}
	node := func(id, rack string, cores, freeCores int, memGiB, freeGiB int64, cost float64, vms ...*dwcp.VM) *dwcp.Node {
		return &dwcp.Node{ID: id, Rack: rack, Region: "eu-1", TotalCPU: cores, AvailableCPU: freeCores,
			TotalMemory: memGiB * gib, AvailableMemory: freeGiB * gib, TotalDisk: 4000 * gib, AvailableDisk: 3000 * gib,
			NetworkBandwidth: 10, DiskIOPS: 128_000, Uptime: 200 * 24 * time.Hour, FailureRate: 0.5,
			CostPerHour: cost, VMs: vms}
	}
	n3 := node("n3", "r1", 32, 32, 384, 384, 1)
	n3.MaintenanceMode = true
	return []*dwcp.Node{
		node("n0", "r0", 32, 20, 384, 300, 1, web1),
		node("n1", "r0", 32, 8, 384, 200, 1, db1),
		node("n2", "r1", 48, 40, 384, 380, 3),
		n3,
		node("n4", "r2", 32, 24, 384, 320, 1),
		node("n5", "r2", 32, 12, 384, 200, 1),
	}
}

// A BandwidthPredictor over the in-process engine on the committed bundle's link model
// (the pure-Go client of a sidecar serves it the same, bit for bit).
func ExampleBandwidthPredictor() {
	ctx := context.Background()
	eng, err := runtime.Open(ctx, testbundle.Dir(), runtime.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	// The adapter's samples live in an online store; its feature core resamples them.
	held := store.NewOnline(ctx, store.New(store.Config{}), eng)

	p, err := dwcp.NewBandwidthPredictor(ctx, held, dwcp.BandwidthConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for i := range p.Window() { // one sample per 5 minutes, about 2 hours
		s := dwcp.NetworkSample{Timestamp: at(i), BandwidthMbps: 850, LatencyMs: 12, PacketLoss: 0.001,
			JitterMs: 1.5, NodeID: "node-a", PeerID: "node-b"}
		if err := p.AddSample(s); err != nil {
			log.Fatal(err)
		}
	}
	f, err := p.PredictBandwidth(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s until %s: %.0f Mbit/s [%.0f, %.0f], %.1f ms, loss %.4f, confidence %.2f\n", f.Link,
		f.ValidUntil.Format(time.TimeOnly), f.PredictedBandwidthMbps, f.LowerMbps, f.UpperMbps,
		f.PredictedLatencyMs, f.PredictedPacketLoss, f.Confidence)
	// Output: node-a->node-b until 02:05:00: 868 Mbit/s [780, 940], 11.9 ms, loss 0.0010, confidence 0.91
}
