package store_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// TestWindows: a window counts the newest bins the core did not leave missing; once
// ready it is the series the typed call by entity reads, bit for bit; raw samples give
// the window the held ones do; a host window is the usage Hosts builds.
func TestWindows(t *testing.T) {
	ctx := context.Background()
	eng := goldenEngine(t)
	on := store.NewOnline(ctx, store.New(store.Config{}), eng)
	p, info, err := eng.WindowParams(ctx, store.FamilyCapacity)
	if err != nil {
		t.Fatal(err)
	}
	step, need := p.StepSeconds, info.WindowSamples
	vm := engine.EntityRef{Kind: engine.EntityVM, ID: "vm-w"}
	const start = 1_767_571_200 // 2026-01-05, on the grid
	// Bins 0..4, a gap of fill+1 bins, then bins from g on: the count restarts at g.
	g := 5 + p.FillLimit + 1
	var ts []int64
	var vals []float64
	for b := range g + need + 3 {
		if b >= 5 && b < g {
			continue
		}
		ts, vals = append(ts, start+int64(b)*step+int64(b%7)), append(vals, 1000+float64(b))
	}
	tests := []struct {
		name   string
		upTo   int // samples observed
		have   int
		endBin int
	}{
		{"nothing held", 0, 0, -1},
		{"first sample", 1, 1, 0},
		{"before the gap", 5, 5, 4},
		{"after the gap: the count restarts", 6, 1, g},
		{"one short", 5 + need - 1, need - 1, g + need - 2},
		{"ready", 5 + need, need, g + need - 1},
		{"ready, later", len(ts), need, g + need + 2},
	}
	done := 0
	for _, tc := range tests {
		if tc.upTo > done {
			if _, err := on.Observe(ctx, []engine.Samples{{Entity: vm, Schema: "metric",
				Timestamps: ts[done:tc.upTo], Values: vals[done:tc.upTo]}}); err != nil {
				t.Fatal(err)
			}
			done = tc.upTo
		}
		res, err := on.Windows(ctx, engine.WindowRequest{Family: store.FamilyCapacity, Entities: []engine.EntityRef{vm}, Values: true,
			Raw: []engine.Samples{{Entity: vm, Schema: "metric", Timestamps: ts[:done], Values: vals[:done]}}})
		ws := res.Windows
		if tc.upTo == 0 {
			// No raw samples either: an empty raw batch holds nothing.
			if err != nil || len(ws) != 2 || ws[0].Have != 0 || !ws[0].End.IsZero() || ws[0].Need != need {
				t.Fatalf("%s: %+v %v", tc.name, ws, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w := ws[0]
		end := time.Unix(start+int64(tc.endBin)*step, 0).UTC()
		if w.Have != tc.have || w.Need != need || !w.End.Equal(end) || len(w.Series.Timestamps) != tc.have ||
			len(w.Series.Values) != tc.have || w.Series.Timestamps[tc.have-1] != end.Unix() || w.Ready() != (tc.have == need) {
			t.Errorf("%s: have %d of %d, end %v, %d bins; want %d, end %v", tc.name, w.Have, w.Need, w.End,
				len(w.Series.Timestamps), tc.have, end)
		}
		if !reflect.DeepEqual(ws[1], w) {
			t.Errorf("%s: raw window %+v, held %+v", tc.name, ws[1], w)
		}
		if w.Ready() {
			s, err := on.Store.Series(vm, p, need)
			if err != nil {
				t.Fatal(err)
			}
			if !sameFloats(s.Values, w.Series.Values) || !reflect.DeepEqual(s.Timestamps, w.Series.Timestamps) {
				t.Errorf("%s: window differs from Series", tc.name)
			}
		}
		noValues, err := on.Windows(ctx, engine.WindowRequest{Family: store.FamilyCapacity, Entities: []engine.EntityRef{vm}})
		if err != nil || noValues.Windows[0].Have != w.Have || noValues.Windows[0].Series.Timestamps != nil {
			t.Errorf("%s: without values %+v %v", tc.name, noValues, err)
		}
	}

	// A host's placement window ending at the common newest bin is the usage Hosts builds.
	_, pinfo, err := eng.WindowParams(ctx, store.FamilyPlacement)
	if err != nil {
		t.Fatal(err)
	}
	h := engine.EntityRef{Kind: engine.EntityHost, ID: "h-w"}
	var hts []int64
	var hvals []float64
	for b := range pinfo.WindowSamples + 4 {
		hts = append(hts, start+int64(b)*pinfo.StepSeconds+int64(3*b%11))
		hvals = append(hvals, 100+float64(b), 2000, 10*float64(b%3), 5)
	}
	if _, err := on.Observe(ctx, []engine.Samples{{Entity: h, Schema: engine.SchemaHost, Timestamps: hts, Values: hvals,
		Host: &engine.HostInfo{Capacity: engine.Resources{1e4, 1e4, 1e4, 1e4}}}}); err != nil {
		t.Fatal(err)
	}
	res, err := on.Windows(ctx, engine.WindowRequest{Family: store.FamilyPlacement, Entities: []engine.EntityRef{h}, Values: true})
	if err != nil {
		t.Fatal(err)
	}
	ws := res.Windows
	hosts, err := on.Store.Hosts([]string{h.ID}, pinfo.WindowSamples, pinfo.StepSeconds, store.HostFillLimit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ws[0].Ready() || !sameFloats(ws[0].Series.Values, hosts[0].Usage) {
		t.Errorf("host window %+v, Hosts usage %v", ws[0], hosts[0].Usage)
	}

	// A malformed raw batch is refused as Observe refuses it, naming the batch.
	_, err = on.Windows(ctx, engine.WindowRequest{Family: store.FamilyCapacity, Entities: []engine.EntityRef{vm},
		Raw: []engine.Samples{{Entity: vm, Schema: "metric", Timestamps: []int64{1}, Values: []float64{1, 2}}}})
	if engine.CodeOf(err) != engine.CodeInvalidInput {
		t.Errorf("malformed raw batch: %v", err)
	}

	// Observe in the request is held first, as Observe holds it, and counted.
	other := engine.EntityRef{Kind: engine.EntityVM, ID: "vm-o"}
	res, err = on.Windows(ctx, engine.WindowRequest{Family: store.FamilyCapacity, Entities: []engine.EntityRef{other, vm}, Values: true,
		Observe: []engine.Samples{{Entity: other, Schema: "metric", Timestamps: ts, Values: vals}, {Entity: vm, Schema: "metric",
			Timestamps: []int64{1}, Values: []float64{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := on.Windows(ctx, engine.WindowRequest{Family: store.FamilyCapacity, Entities: []engine.EntityRef{vm}, Values: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Observed.Accepted != len(ts) || res.Observed.Late != 1 || res.Observed.Created != 1 ||
		!sameFloats(res.Windows[0].Series.Values, want.Windows[0].Series.Values) || !reflect.DeepEqual(res.Windows[1], want.Windows[0]) {
		t.Errorf("observe and windows: %+v", res)
	}
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
