package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

var vmRef = engine.EntityRef{Kind: engine.EntityVM, ID: "vm"}

// metricParams is a one-channel grid of 300 s, fill 2.
func metricParams() featurecore.Params {
	return featurecore.DefaultParams(featurecore.SchemaMetric)
}

func observe(t *testing.T, st *store.Store, ref engine.EntityRef, schema string, ts []int64, vals []float64) engine.ObserveResult {
	t.Helper()
	res, err := st.Observe(context.Background(), []engine.Samples{{Entity: ref, Schema: schema, Timestamps: ts, Values: vals}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestResamplingPolicy: what the store does with each kind of raw sample, and that the
// series it answers from is the core's resampling of what it holds.
func TestResamplingPolicy(t *testing.T) {
	const t0 = 1_700_000_100 // a multiple of 300
	cases := []struct {
		name string
		ts   []int64
		vals []float64
		want engine.ObserveResult
		last []float64 // the series' last bins
	}{
		{"in order", []int64{t0, t0 + 300, t0 + 600}, []float64{1, 2, 3}, engine.ObserveResult{Accepted: 3, Created: 1}, []float64{1, 2, 3}},
		{"out of order", []int64{t0 + 600, t0, t0 + 300}, []float64{3, 1, 2}, engine.ObserveResult{Accepted: 3, Created: 1}, []float64{1, 2, 3}},
		{"duplicates averaged", []int64{t0, t0, t0 + 300}, []float64{1, 2, 4}, engine.ObserveResult{Accepted: 3, Created: 1}, []float64{1.5, 4}},
		{"two in a bin", []int64{t0, t0 + 10, t0 + 299}, []float64{1, 2, 6}, engine.ObserveResult{Accepted: 3, Created: 1}, []float64{3}},
		{"gap filled", []int64{t0, t0 + 600}, []float64{1, 3}, engine.ObserveResult{Accepted: 2, Created: 1}, []float64{1, 1, 3}},
		{"gap beyond the fill limit", []int64{t0, t0 + 1200}, []float64{1, 5}, engine.ObserveResult{Accepted: 2, Created: 1}, []float64{1, 1, 1, math.NaN(), 5}},
		{"late: older than the span", []int64{t0 + 1e6, t0}, []float64{1, 2}, engine.ObserveResult{Accepted: 1, Late: 1, Created: 1}, []float64{1}},
		{"invalid", []int64{t0, t0 + 300, t0 + 600, -1, store.MaxTimestamp + 1, t0 + 900},
			[]float64{math.NaN(), math.Inf(1), -1, 1, 1, math.Copysign(0, -1)}, engine.ObserveResult{Accepted: 1, Invalid: 5, Created: 1}, []float64{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := store.New(store.Config{})
			if got := observe(t, st, vmRef, "metric", tc.ts, tc.vals); got != tc.want {
				t.Fatalf("observe: %+v, want %+v", got, tc.want)
			}
			s, err := st.Series(vmRef, metricParams(), 23)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Values[len(s.Values)-len(tc.last):]
			for i, w := range tc.last {
				if math.Float64bits(got[i]) != math.Float64bits(w) && !(math.IsNaN(w) && math.Float64bits(got[i]) == 0x7ff8000000000000) {
					t.Fatalf("series ends %v, want %v", got, tc.last)
				}
			}
			for i, ts := range s.Timestamps {
				if ts%300 != 0 || (i > 0 && ts != s.Timestamps[i-1]+300) {
					t.Fatalf("timestamps %v not on the grid", s.Timestamps)
				}
			}
		})
	}
}

// TestBounds: the per-entity sample bound, the entity bound and the TTL.
func TestBounds(t *testing.T) {
	ctx := context.Background()
	t.Run("samples per entity", func(t *testing.T) {
		st := store.New(store.Config{MaxSamples: 8})
		ts := make([]int64, 20)
		vals := make([]float64, 20)
		for i := range ts {
			ts[i] = 1_700_000_100 + int64(i) // all in one bin: all inside the span
		}
		res := observe(t, st, vmRef, "metric", ts, vals)
		if res.Accepted != 8 || res.EntityFull != 12 {
			t.Fatalf("%+v", res)
		}
		if s := st.Stats(); s.Slots != 8 || s.Samples != 8 || s.EntityFull != 12 || s.Bytes != 8*16 {
			t.Fatalf("stats %+v", s)
		}
		// Samples that leave the span make room again.
		if res := observe(t, st, vmRef, "metric", []int64{1_800_000_000}, []float64{1}); res.Accepted != 1 {
			t.Fatalf("after the span moved: %+v", res)
		}
	})
	t.Run("entities", func(t *testing.T) {
		st := store.New(store.Config{MaxEntities: 2})
		for i, id := range []string{"a", "b", "c"} {
			_, err := st.Observe(ctx, []engine.Samples{{Entity: engine.EntityRef{Kind: engine.EntityVM, ID: id}, Schema: "metric",
				Timestamps: []int64{1e9}, Values: []float64{1}}})
			if want := i < 2; (err == nil) != want || (!want && !errors.Is(err, engine.ErrStoreFull)) {
				t.Fatalf("entity %s: %v", id, err)
			}
		}
		// A known entity still takes samples.
		if res := observe(t, st, engine.EntityRef{Kind: engine.EntityVM, ID: "a"}, "metric", []int64{1e9 + 300}, []float64{1}); res.Accepted != 1 {
			t.Fatalf("%+v", res)
		}
		if s := st.Stats(); s.Entities != 2 || s.Refused != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		now := time.Unix(1_700_000_000, 0)
		st := store.New(store.Config{TTL: time.Hour, Now: func() time.Time { return now }})
		a, b := engine.EntityRef{Kind: engine.EntityVM, ID: "a"}, engine.EntityRef{Kind: engine.EntityVM, ID: "b"}
		observe(t, st, a, "metric", []int64{1e9}, []float64{1})
		now = now.Add(40 * time.Minute)
		observe(t, st, b, "metric", []int64{1e9}, []float64{1})
		now = now.Add(30 * time.Minute)
		if n := st.Evict(); n != 1 {
			t.Fatalf("evicted %d, want 1", n)
		}
		if _, err := st.Series(a, metricParams(), 23); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("a after its TTL: %v", err)
		}
		if _, err := st.Series(b, metricParams(), 23); err != nil {
			t.Fatalf("b: %v", err)
		}
		if s := st.Stats(); s.Entities != 1 || s.Evicted != 1 || s.Samples != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// filled returns a store holding a VM (schema vm and metric) and a host with state.
func filled(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	st := store.New(cfg)
	var ts []int64
	var vm, metric, host []float64
	for k := range 30 {
		ts = append(ts, 1_700_000_100+int64(k)*300+int64(k%3))
		vm = append(vm, float64(k), 50, 1.5, 2, 100+float64(k)/3, 40)
		metric = append(metric, 1000+float64(k)/7)
		host = append(host, 2000+float64(k), 4096, 10, 20)
	}
	hostRef := engine.EntityRef{Kind: engine.EntityHost, ID: "h1"}
	_, err := st.Observe(context.Background(), []engine.Samples{
		{Entity: vmRef, Schema: "vm", Timestamps: ts, Values: vm},
		{Entity: vmRef, Schema: "metric", Timestamps: ts, Values: metric},
		{Entity: hostRef, Schema: engine.SchemaHost, Timestamps: ts, Values: host, Host: &engine.HostInfo{Domain: "r1",
			Capacity: engine.Resources{64000, 262144, 1e6, 1e6}, Allocated: engine.Resources{1000, 2048, 0, 0}, VMCount: 3,
			NICMbps: 10000, FailureRate: 0.1, Cost: 1.2, Maintenance: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// held is everything a store answers for filled's entities.
func held(t *testing.T, st *store.Store) []any {
	t.Helper()
	vmP := featurecore.DefaultParams(featurecore.SchemaVM)
	a, err := st.Series(vmRef, vmP, 23)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Series(vmRef, metricParams(), 23)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.Hosts([]string{"h1"}, 12, 300, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return []any{a, b, h}
}

func TestSnapshotRoundTrip(t *testing.T) {
	st := filled(t, store.Config{})
	path := filepath.Join(t.TempDir(), "state")
	if n, err := st.WriteSnapshot(path); err != nil || n != 3 {
		t.Fatalf("write: %d, %v", n, err)
	}
	back := store.New(store.Config{})
	if n, err := back.ReadSnapshot(path); err != nil || n != 3 {
		t.Fatalf("read: %d, %v", n, err)
	}
	if want, got := held(t, st), held(t, back); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %v\nwant %v", got, want)
	}
	if a, b := st.Stats(), back.Stats(); a.Entities != b.Entities || a.Samples != b.Samples {
		t.Fatalf("stats %+v, restored %+v", a, b)
	}
	// Late samples stay late after a restore: the newest timestamp travelled.
	res := observe(t, back, vmRef, "metric", []int64{1_000_000_000}, []float64{1})
	if res.Late != 1 {
		t.Fatalf("after restore: %+v", res)
	}
	if matches, _ := filepath.Glob(path + ".tmp-*"); len(matches) > 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
}

// TestSnapshotRefused: every defect refuses the whole file with ErrSnapshot and a reason,
// and the store keeps what it held.
func TestSnapshotRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if _, err := filled(t, store.Config{}).WriteSnapshot(good); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), data...)) }
	cases := []struct {
		name   string
		data   []byte
		cfg    store.Config
		reason string
	}{
		{"empty", nil, store.Config{}, "not an online store snapshot"},
		{"other file", []byte("{\"entities\": []}\n"), store.Config{}, "not an online store snapshot"},
		{"version 2", edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }), store.Config{}, "format version 2; this sidecar reads version 1"},
		{"truncated", data[:len(data)-10], store.Config{}, "truncated"},
		{"appended", append(append([]byte(nil), data...), 0), store.Config{}, "truncated or appended"},
		{"bit flipped", edit(func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), store.Config{}, "SHA-256"},
		{"too many entities", data, store.Config{MaxEntities: 2}, "3 entities; this store holds at most 2"},
		{"too many samples", data, store.Config{MaxSamples: 10}, "samples; this store holds at most 10 per entity"},
		{"larger than the bounds", append(append([]byte(nil), data...), make([]byte, 8192)...), store.Config{MaxEntities: 1, MaxSamples: 2},
			"bytes; this store's bounds allow at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			st := store.New(tc.cfg)
			observe(t, st, engine.EntityRef{Kind: engine.EntityLink, ID: "keep"}, "link", []int64{1e9}, []float64{1, 2, 0, 1})
			n, err := st.ReadSnapshot(path)
			var se *store.SnapshotError
			if !errors.Is(err, store.ErrSnapshot) || !errors.As(err, &se) || n != 0 {
				t.Fatalf("%d, %v", n, err)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name %q and the file", err, tc.reason)
			}
			if s := st.Stats(); s.Entities != 1 {
				t.Fatalf("the store lost what it held: %+v", s)
			}
		})
	}
	if _, err := store.New(store.Config{}).ReadSnapshot(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestConcurrent: observing, answering, placing, evicting and snapshotting at once (run
// with -race): no race, every usage history whole, the last snapshot readable.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	st := store.New(store.Config{TTL: time.Hour})
	path := filepath.Join(t.TempDir(), "state")
	done := make(chan error, 8)
	for w := range 4 {
		go func() {
			ref := engine.EntityRef{Kind: engine.EntityHost, ID: "h" + strconv.Itoa(w%2)}
			for i := range 500 {
				_, err := st.Observe(ctx, []engine.Samples{{Entity: ref, Schema: engine.SchemaHost,
					Timestamps: []int64{1_700_000_100 + int64(i)*300}, Values: []float64{1, 2, 3, 4},
					Host: &engine.HostInfo{Capacity: engine.Resources{10, 10, 10, 10}}}})
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		go func() {
			for range 300 {
				if hs, err := st.Hosts([]string{"h0", "h1"}, 12, 300, 2, nil); err == nil {
					for _, h := range hs {
						if len(h.Usage) != 48 {
							done <- errors.New("usage of the wrong length")
							return
						}
					}
				}
				st.Evict()
			}
			done <- nil
		}()
	}
	for range 2 {
		go func() {
			for range 20 {
				if _, err := st.WriteSnapshot(path); err != nil {
					done <- err
					return
				}
				st.Stats()
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.New(store.Config{}).ReadSnapshot(path); err != nil {
		t.Fatal(err)
	}
}
