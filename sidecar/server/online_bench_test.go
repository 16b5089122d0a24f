package server_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// BenchmarkOnlineUDS times one typed call by entity through the sidecar on a Unix socket
// (client and sidecar in this process), answered from the store: the first synthetic VM's
// first three days observed, so every window is full. Compare with the store's
// BenchmarkAnswerInProcess.
func BenchmarkOnlineUDS(b *testing.B) {
	ctx := context.Background()
	tr, err := syntheticVM0()
	if err != nil {
		b.Fatal(err)
	}
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, "unix", eng, eng, server.Config{})
	c := dial(b, target)
	ref := engine.EntityRef{Kind: engine.EntityVM, ID: "vm0"}
	n := 3 * 288
	cpu := make([]float64, n)
	for i := range cpu {
		cpu[i] = tr.vals[i*6]
	}
	if _, err := c.Observe(ctx, []engine.Samples{
		{Entity: ref, Schema: "vm", Timestamps: tr.ts[:n], Values: tr.vals[:n*6]},
		{Entity: ref, Schema: "metric", Timestamps: tr.ts[:n], Values: cpu},
	}); err != nil {
		b.Fatal(err)
	}
	calls := []struct {
		model string
		call  func() error
	}{
		{"pba", func() error { _, err := c.ForecastBandwidthEntity(ctx, ref); return err }},
		{"anomaly", func() error { _, err := c.AnomalyScoreEntity(ctx, ref); return err }},
		{"scaling", func() error { _, err := c.RecommendCapacityEntity(ctx, ref); return err }},
	}
	for _, bc := range calls {
		b.Run(bc.model, func(b *testing.B) {
			lat := make([]time.Duration, 0, 1024)
			for b.Loop() {
				start := time.Now()
				if err := bc.call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkObserveUDS is the ingest rate through the sidecar: one Observe stream, each
// message `per` VMs with one new sample each (schema vm, 10,000 VMs round robin).
func BenchmarkObserveUDS(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, "unix", eng, eng, server.Config{})
	c := dial(b, target)
	const vms = 10_000
	next := make([]int64, vms) // the VMs' next sample time, across every run (b.Loop runs the body more than once)
	for i := range next {
		next[i] = 1_700_000_100
	}
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("vms-per-message=%d", per), func(b *testing.B) {
			o, err := c.Observer(ctx)
			if err != nil {
				b.Fatal(err)
			}
			batch := make([]engine.Samples, per)
			for j := range batch {
				batch[j] = engine.Samples{Schema: "vm", Timestamps: make([]int64, 1), Values: []float64{10, 50, 1, 2, 100, 40}}
			}
			n := 0
			start := time.Now()
			for b.Loop() {
				for j := range batch {
					v := (n*per + j) % vms
					batch[j].Entity = engine.EntityRef{Kind: engine.EntityVM, ID: "vm-" + strconv.Itoa(v)}
					batch[j].Timestamps[0] = next[v]
					next[v] += 300
				}
				if err := o.Send(batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			res, err := o.Close() // the counts arrive once every message was applied
			if err != nil || res.Accepted != n*per {
				b.Fatalf("%+v, %v (sent %d)", res, err, n*per)
			}
			b.ReportMetric(float64(n*per)/time.Since(start).Seconds(), "samples/s")
		})
	}
}

// BenchmarkPlaceVMHeld1000 times PlaceVM over 1,000 hosts four ways: in process with the
// full state, in process on the store's held state, through the Unix socket with the full
// state (~450 KB per call) and by host ids on the sidecar's held state; reports each
// p50/p99 and prints the ratio of held-over-UDS to in-process p50 (the target:
// within 1.3x). Two requests: "golden", the golden's first request with its hosts
// replicated under distinct ids (BenchmarkPlaceVM1000's; its answer lists 332 rejected
// hosts), and "fits", the same without its group and with empty hosts (no rejection, so
// the answer is small).
func BenchmarkPlaceVMHeld1000(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, "unix", eng, eng, server.Config{})
	c := dial(b, target, client.WithTimeout(10*time.Second))
	_, g := testbundle.Placement(b)
	golden := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	fits := golden
	fits.VM.Group, fits.VM.GroupSize, fits.VM.GroupHosts = "", 0, nil
	fits.Hosts = slices.Clone(golden.Hosts)
	for i := range fits.Hosts {
		fits.Hosts[i].ID = "fit-" + fits.Hosts[i].ID
		fits.Hosts[i].Allocated, fits.Hosts[i].Maintenance = engine.Resources{}, false
	}
	fits.VM.PeerHosts = nil
	for _, sc := range []struct {
		name string
		r    engine.PlacementRequest
	}{{"golden", golden}, {"fits", fits}} {
		r := sc.r
		local := store.NewOnline(ctx, store.New(store.Config{}), eng)
		ids := observeHosts(b, ctx, c, r, 1_700_000_100)
		observeHosts(b, ctx, local, r, 1_700_000_100)
		held := engine.HeldPlacementRequest{VM: r.VM, HostIDs: ids, Overcommit: r.Overcommit, Domains: r.Domains}
		ways := []struct {
			name string
			call func() (engine.Placement, error)
		}{
			{"inprocess-full", func() (engine.Placement, error) { return eng.PlaceVM(ctx, r) }},
			{"inprocess-held", func() (engine.Placement, error) { return local.PlaceVMHeld(ctx, held) }},
			{"uds-full", func() (engine.Placement, error) { return c.PlaceVM(ctx, r) }},
			{"uds-held", func() (engine.Placement, error) { return c.PlaceVMHeld(ctx, held) }},
		}
		p50 := map[string]time.Duration{}
		rejected := 0
		for _, w := range ways {
			b.Run(sc.name+"/"+w.name, func(b *testing.B) {
				lat := make([]time.Duration, 0, 1024)
				for b.Loop() {
					start := time.Now()
					p, err := w.call()
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
					rejected = len(p.Rejected)
				}
				reportPercentiles(b, lat)
				slices.Sort(lat)
				p50[w.name] = lat[len(lat)/2]
			})
		}
		if in, uds := p50["inprocess-full"], p50["uds-held"]; in > 0 && uds > 0 {
			ratio := float64(uds) / float64(in)
			verdict := "met"
			if ratio > 1.3 {
				verdict = "NOT met"
			}
			fmt.Printf("PlaceVM 1,000 hosts (%s, %d rejected) p50: in-process full %v, UDS held %v: ratio %.2fx (target 1.3x: %s); UDS full %v (%.2fx)\n",
				sc.name, rejected, in, uds, ratio, verdict, p50["uds-full"], float64(p50["uds-full"])/float64(in))
		}
	}
}
