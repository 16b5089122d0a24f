package main

import (
	"context"
	"fmt"
	"io"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// onlineRow is one path's figures of the online store (docs/online-store.md).
type onlineRow struct {
	answers map[string]percentiles // family -> a typed call by entity id
	place   percentiles            // PlaceVM by host ids on held state
	ingest  float64                // Observe samples/s, one goroutine: in-process one call per sample, sidecar one stream
}

// measureOnline observes each family's golden series as one entity (and the placement
// request's hosts) into o, then times the calls by entity id, the held PlaceVM and the
// ingest rate.
func measureOnline(ctx context.Context, eng *runtime.Engine, o engine.Online, inputs map[string]engine.Series,
	place *engine.PlacementRequest, calls int) (onlineRow, error) {
	row := onlineRow{answers: map[string]percentiles{}}
	for _, f := range families {
		s, ok := inputs[f]
		if !ok {
			continue
		}
		p, _, err := eng.WindowParams(ctx, f)
		if err != nil {
			return row, err
		}
		ref := engine.EntityRef{Kind: engine.EntityVM, ID: "dwcp-bench-" + f}
		if _, err := o.Observe(ctx, []engine.Samples{{Entity: ref, Schema: p.Schema.Name(), Timestamps: s.Timestamps, Values: s.Values}}); err != nil {
			return row, fmt.Errorf("observe %s: %w", f, err)
		}
		n := calls
		if f == runtime.FamilyBandwidth {
			n = max(1, n/5)
		}
		call := func() error {
			var err error
			switch f {
			case runtime.FamilyAnomaly:
				_, err = o.AnomalyScoreEntity(ctx, ref)
			case runtime.FamilyCapacity:
				_, err = o.RecommendCapacityEntity(ctx, ref)
			case runtime.FamilyBandwidth:
				_, err = o.ForecastBandwidthEntity(ctx, ref)
			}
			return err
		}
		if row.answers[f], err = measure(n, call); err != nil {
			return row, fmt.Errorf("%s by entity: %w", f, err)
		}
	}
	if place != nil {
		batch := make([]engine.Samples, len(place.Hosts))
		ids := make([]string, len(place.Hosts))
		const end = 1_700_000_100
		for i, h := range place.Hosts {
			n := len(h.Usage) / engine.NumResources
			ts := make([]int64, n)
			for k := range ts {
				ts[k] = end - int64(n-1-k)*300
			}
			ids[i] = "dwcp-bench-" + h.ID
			batch[i] = engine.Samples{Entity: engine.EntityRef{Kind: engine.EntityHost, ID: ids[i]}, Schema: engine.SchemaHost,
				Timestamps: ts, Values: h.Usage, Host: &engine.HostInfo{Domain: h.Domain, Capacity: h.Capacity, Allocated: h.Allocated,
					VMCount: h.VMCount, NICMbps: h.NICMbps, FailureRate: h.FailureRate, Cost: h.Cost, Maintenance: h.Maintenance}}
		}
		if _, err := o.Observe(ctx, batch); err != nil {
			return row, fmt.Errorf("observe hosts: %w", err)
		}
		vm := place.VM
		rename := func(hs []string) []string {
			out := make([]string, len(hs))
			for i, h := range hs {
				out[i] = "dwcp-bench-" + h
			}
			return out
		}
		vm.GroupHosts, vm.PeerHosts = rename(vm.GroupHosts), rename(vm.PeerHosts)
		held := engine.HeldPlacementRequest{VM: vm, HostIDs: ids, Overcommit: place.Overcommit, Domains: place.Domains}
		var err error
		if row.place, err = measure(max(1, calls/20), func() error { _, err := o.PlaceVMHeld(ctx, held); return err }); err != nil {
			return row, fmt.Errorf("PlaceVM by host ids: %w", err)
		}
	}
	const vms = 10_000
	refs := make([]engine.EntityRef, vms)
	for i := range refs {
		refs[i] = engine.EntityRef{Kind: engine.EntityVM, ID: "dwcp-bench-ingest-" + strconv.Itoa(i)}
	}
	sample := []engine.Samples{{Schema: "vm", Timestamps: []int64{0}, Values: []float64{10, 50, 1, 2, 100, 40}}}
	n := calls
	send := func(s []engine.Samples) error { _, err := o.Observe(ctx, s); return err }
	finish := func() error { return nil }
	if c, ok := o.(*client.Client); ok { // a collector keeps one stream open
		st, err := c.Observer(ctx)
		if err != nil {
			return row, err
		}
		send = st.Send
		finish = func() error {
			res, err := st.Close() // after every message was applied
			if err == nil && res.Accepted != n {
				err = fmt.Errorf("%d of %d samples accepted: %+v", res.Accepted, n, res)
			}
			return err
		}
	}
	start := time.Now()
	for i := range n {
		sample[0].Entity = refs[i%vms]
		sample[0].Timestamps[0] = 1_700_000_100 + int64(i/vms)*300
		if err := send(sample); err != nil {
			return row, fmt.Errorf("observe: %w", err)
		}
	}
	if err := finish(); err != nil {
		return row, fmt.Errorf("observe: %w", err)
	}
	row.ingest = float64(n) / time.Since(start).Seconds()
	return row, nil
}

// storeMemory fills fresh in-process stores with n VMs each holding a full PBA window
// (25 samples of schema vm) and returns the live heap it took per entity.
func storeMemory(ctx context.Context, n int) (perEntity, total float64, err error) {
	goruntime.GC()
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	st := store.New(store.Config{})
	st.SetNeeds([]store.Need{store.NeedOf("vm", 23, 300, 2)})
	ts := make([]int64, 25)
	vals := make([]float64, 25*6)
	for k := range ts {
		ts[k] = 1_700_000_100 + int64(k)*300
	}
	for i := range n {
		if _, err := st.Observe(ctx, []engine.Samples{{Entity: engine.EntityRef{Kind: engine.EntityVM, ID: "vm-" + strconv.Itoa(i)},
			Schema: "vm", Timestamps: ts, Values: vals}}); err != nil {
			return 0, 0, err
		}
	}
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	goruntime.KeepAlive(st)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	return heap / float64(n), heap, nil
}

func printOnline(out io.Writer, t map[string]map[string]percentiles, rows map[string]onlineRow, paths []string) {
	fmt.Fprintln(out, "\nonline store (docs/online-store.md): p50 / p99 µs of a call by entity id answered from held samples; PlaceVM by host ids on held host state; Observe samples/s on one goroutine, one sample each (in-process one call each, sidecar one stream: a message each)")
	fmt.Fprintln(out)
	fmt.Fprint(out, "| call |")
	for _, p := range paths {
		fmt.Fprintf(out, " %s |", p)
	}
	fmt.Fprint(out, "\n|---|")
	for range paths {
		fmt.Fprint(out, "---|")
	}
	fmt.Fprintln(out)
	pp := func(p percentiles) string { return fmt.Sprintf("%.1f / %.1f", p.P50, p.P99) }
	for _, f := range families {
		fmt.Fprintf(out, "| %s by entity |", f)
		for _, p := range paths {
			fmt.Fprintf(out, " %s |", pp(rows[p].answers[f]))
		}
		fmt.Fprintln(out)
	}
	if in, ok := t["Go in-process"][runtime.FamilyPlacement]; ok {
		fmt.Fprintf(out, "| PlaceVM by host ids, %d hosts (p50 / in-process full p50) |", placeHosts)
		for _, p := range paths {
			fmt.Fprintf(out, " %s (%.2fx) |", pp(rows[p].place), rows[p].place.P50/in.P50)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprint(out, "| Observe, samples/s |")
	for _, p := range paths {
		fmt.Fprintf(out, " %.0f |", rows[p].ingest)
	}
	fmt.Fprintln(out)
}
