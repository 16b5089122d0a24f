package store_test

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// BenchmarkObserve is the ingest rate on one goroutine (one core): 10,000 VMs, schema vm,
// each Observe call one batch per VM of `per` samples, round robin, the samples a steady
// 300 s stream (so every sample is held and the buffers prune as they go).
func BenchmarkObserve(b *testing.B) {
	ctx := context.Background()
	for _, per := range []int{1, 12} {
		b.Run(fmt.Sprintf("samples-per-batch=%d", per), func(b *testing.B) {
			const vms = 10_000
			st := store.New(store.Config{})
			batch := []engine.Samples{{Schema: "vm", Timestamps: make([]int64, per), Values: make([]float64, per*6)}}
			for i := range batch[0].Values {
				batch[0].Values[i] = float64(i%7) + 0.5
			}
			refs := make([]engine.EntityRef, vms)
			next := make([]int64, vms)
			for i := range refs {
				refs[i] = engine.EntityRef{Kind: engine.EntityVM, ID: "vm-" + strconv.Itoa(i)}
				next[i] = 1_700_000_100
			}
			n := 0
			start := time.Now()
			for b.Loop() {
				v := n % vms
				batch[0].Entity = refs[v]
				for k := range per {
					batch[0].Timestamps[k] = next[v]
					next[v] += 300
				}
				if _, err := st.Observe(ctx, batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*per)/time.Since(start).Seconds(), "samples/s")
		})
	}
}

// rssBytes is the process's resident set (Linux /proc/self/statm), 0 elsewhere.
func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// BenchmarkMemory fills a store with 10,000 and 100,000 VMs (schema vm, the PBA window's
// need: 23 + 2 bins of 300 s, one sample per bin, so each buffer is full) and with 10,000
// CPU-demand series (schema metric, the anomaly model's 577 + 2 bins) and reports the
// live heap per entity and the resident set.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		schema  string
		n, bins int
		ch      int
	}{{"vm", 10_000, 25, 6}, {"vm", 100_000, 25, 6}, {"metric", 10_000, 579, 1}}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("%s/entities=%d", tc.schema, tc.n), func(b *testing.B) {
			for b.Loop() {
				goruntime.GC()
				debug.FreeOSMemory()
				var before goruntime.MemStats
				goruntime.ReadMemStats(&before)
				rss0 := rssBytes()
				st := store.New(store.Config{})
				st.SetNeeds([]store.Need{store.NeedOf("vm", 23, 300, 2), store.NeedOf("metric", 577, 300, 2)})
				ts := make([]int64, tc.bins)
				for k := range ts {
					ts[k] = 1_700_000_100 + int64(k)*300
				}
				vals := make([]float64, tc.bins*tc.ch)
				for i := range vals {
					vals[i] = float64(i % 11)
				}
				for i := range tc.n {
					_, err := st.Observe(ctx, []engine.Samples{{Entity: engine.EntityRef{Kind: engine.EntityVM, ID: "vm-" + strconv.Itoa(i)},
						Schema: tc.schema, Timestamps: ts, Values: vals}})
					if err != nil {
						b.Fatal(err)
					}
				}
				goruntime.GC()
				var after goruntime.MemStats
				goruntime.ReadMemStats(&after)
				s := st.Stats()
				heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
				b.ReportMetric(heap/float64(tc.n), "heap-B/entity")
				b.ReportMetric(float64(s.Bytes)/float64(tc.n), "buffer-B/entity")
				b.ReportMetric(heap/(1<<20), "heap-MiB")
				b.ReportMetric(float64(rssBytes()-min(rss0, rssBytes()))/(1<<20), "rss-growth-MiB")
				goruntime.KeepAlive(st)
			}
		})
	}
}

// BenchmarkAnswerInProcess times a typed call by entity from the store (resampling the
// held samples, then the engine) against the same call on a ready series, per model, and
// reports p50/p99.
func BenchmarkAnswerInProcess(b *testing.B) {
	ctx := context.Background()
	eng := goldenEngine(b)
	tr := traces(b)[0]
	on := store.NewOnline(ctx, store.New(store.Config{}), eng)
	ref := engine.EntityRef{Kind: engine.EntityVM, ID: "vm0"}
	n := 3 * 288 // three days: every window full
	cpu := tr.column(0)
	if _, err := on.Observe(ctx, []engine.Samples{
		{Entity: ref, Schema: "vm", Timestamps: tr.ts[:n], Values: tr.values[:n*6]},
		{Entity: ref, Schema: "metric", Timestamps: tr.ts[:n], Values: cpu[:n]},
	}); err != nil {
		b.Fatal(err)
	}
	for _, fam := range families {
		s, err := store.SeriesFor(ctx, on.Store, eng, fam.name, ref)
		if err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"entity", "series"} {
			b.Run(fam.name+"/"+mode, func(b *testing.B) {
				lat := make([]time.Duration, 0, 1024)
				for b.Loop() {
					start := time.Now()
					var err error
					if mode == "entity" {
						_, err = fam.online(ctx, on, ref)
					} else {
						_, err = fam.offline(ctx, eng, s)
					}
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				percentiles(b, lat)
			})
		}
	}
}

func percentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
