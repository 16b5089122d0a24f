package monitor_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
)

// normals returns n deterministic N(mean, 1) values.
func normals(seed uint64, n int, mean float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + r.NormFloat64()
	}
	return out
}

// synthetic builds a reference of one input and one output column from samples, with
// the core's decile edges, as the bundle's drift attach does.
func synthetic(t testing.TB, in, out []float64) *bundle.DriftReference {
	t.Helper()
	ref := &bundle.DriftReference{Version: featurecore.DriftVersion, Bins: featurecore.DriftDefaultBins,
		Epsilon: featurecore.DriftDefaultEpsilon, Rows: len(in)}
	for i, sample := range [][]float64{in, out} {
		edges, err := featurecore.QuantileEdges(sample, featurecore.DriftDefaultBins)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]float64, len(edges)-1)
		if err := featurecore.Histogram(sample, edges, counts); err != nil {
			t.Fatal(err)
		}
		c := bundle.DriftColumn{Kind: bundle.DriftInput, Index: 0, Name: "x", Edges: edges, Counts: counts}
		if i == 1 {
			c.Kind, c.Name = bundle.DriftOutput, "output[0]"
		}
		ref.Columns = append(ref.Columns, c)
	}
	return ref
}

func rows(values []float64) [][]float64 {
	out := make([][]float64, len(values))
	for i, v := range values {
		out[i] = []float64{v}
	}
	return out
}

func shift(values []float64, by float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = v + by
	}
	return out
}

// TestDriftSynthetic: a live window equal to the reference sample reads PSI and KS 0, a
// fresh sample of the same distribution reads stable, a shifted one major.
func TestDriftSynthetic(t *testing.T) {
	const n = monitor.DefaultDriftLive
	train := normals(1, n, 0)
	ref := synthetic(t, train, train)
	fresh := normals(2, n, 0)
	tests := []struct {
		name       string
		live       []float64
		psiAtLeast float64
		psiBelow   float64
		ksAtLeast  float64
		ksBelow    float64
	}{
		{"the reference sample itself", train, 0, math.SmallestNonzeroFloat64, 0, math.SmallestNonzeroFloat64},
		{"the same distribution", fresh, 0, 0.02, 0, 0.05},
		{"shifted by 1 sd", shift(fresh, 1), 0.25, math.Inf(1), 0.3, 1.0000001},
		{"shifted by 3 sd", shift(fresh, 3), 2, math.Inf(1), 0.8, 1.0000001},
		{"the reference's tail only", train[:10], 0.25, math.Inf(1), 0, 1.0000001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMonitor(t, newClock(), monitor.Config{})
			if err := m.SetReference(champion, ref); err != nil {
				t.Fatal(err)
			}
			m.ObserveInputs(champion, rows(tc.live))
			m.ObserveOutputs(champion, rows(tc.live))
			ds, err := m.Drift(champion)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 2 || ds[0].Feature != "x" || ds[1].Feature != "output[0]" || ds[0].Kind != bundle.DriftInput {
				t.Fatalf("%+v", ds)
			}
			for _, d := range ds {
				if d.N != len(tc.live) || d.PSI < tc.psiAtLeast || d.PSI >= tc.psiBelow || d.KS < tc.ksAtLeast ||
					d.KS >= tc.ksBelow {
					t.Errorf("%s: N %d PSI %v KS %v; want N %d, PSI in [%v, %v), KS in [%v, %v)", d.Feature, d.N, d.PSI,
						d.KS, len(tc.live), tc.psiAtLeast, tc.psiBelow, tc.ksAtLeast, tc.ksBelow)
				}
				// The gauges are the core's statistics of the live counts, bit for bit.
				psi, _ := featurecore.PSI(ref.Columns[0].Counts, d.Live, ref.Epsilon)
				ks, _ := featurecore.KS(ref.Columns[0].Counts, d.Live)
				if math.Float64bits(psi) != math.Float64bits(d.PSI) || math.Float64bits(ks) != math.Float64bits(d.KS) {
					t.Errorf("%s: PSI %v KS %v, the core gives %v %v for the same counts", d.Feature, d.PSI, d.KS, psi, ks)
				}
			}
			t.Logf("PSI %.4g KS %.4g over %d values", ds[0].PSI, ds[0].KS, ds[0].N)
		})
	}
}

// TestDriftGoldenBits: each model's golden tensors observed as a live window give the
// live counts, PSI and KS the bundle stores (computed by Python through the same core),
// bit for bit, for every binned column of the default bundle.
func TestDriftGoldenBits(t *testing.T) {
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, mod := range b.Manifest.Models {
		ref, g := b.Drifts[mod.Name], b.Goldens[mod.Name]
		if ref == nil {
			t.Fatalf("%s has no drift reference", mod.Name)
		}
		k := monitor.Key{Model: mod.Name, Version: b.Manifest.BundleVersion, Slot: "champion"}
		m := newMonitor(t, newClock(), monitor.Config{})
		if err := m.SetReference(k, ref); err != nil {
			t.Fatal(err)
		}
		rowsN := int(g.InputShape[0])
		if err := m.ObserveInputTensor(k, g.Input, rowsN); err != nil {
			t.Fatal(err)
		}
		if err := m.ObserveOutputTensor(k, g.Output, rowsN); err != nil {
			t.Fatal(err)
		}
		ds, err := m.Drift(k)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, c := range ref.Columns {
			if c.Constant {
				continue
			}
			d := ds[i]
			i++
			if d.Feature != c.Name || d.N != rowsN {
				t.Fatalf("%s: drift %d is %q over %d values, want %q over %d", mod.Name, i, d.Feature, d.N, c.Name, rowsN)
			}
			for j := range c.GoldenLive {
				if math.Float64bits(d.Live[j]) != math.Float64bits(c.GoldenLive[j]) {
					t.Errorf("%s %s: live count %d %v, golden %v", mod.Name, c.Name, j, d.Live[j], c.GoldenLive[j])
				}
			}
			if math.Float64bits(d.PSI) != math.Float64bits(c.GoldenPSI) || math.Float64bits(d.KS) != math.Float64bits(c.GoldenKS) {
				t.Errorf("%s %s: PSI/KS %016x/%016x, golden %016x/%016x", mod.Name, c.Name, math.Float64bits(d.PSI),
					math.Float64bits(d.KS), math.Float64bits(c.GoldenPSI), math.Float64bits(c.GoldenKS))
			}
			compared++
		}
		if i != len(ds) {
			t.Fatalf("%s: %d drifts for %d binned columns", mod.Name, len(ds), i)
		}
	}
	if compared < len(b.Manifest.Models) {
		t.Errorf("%d columns compared for %d models", compared, len(b.Manifest.Models))
	}
	t.Logf("%d columns bit for bit", compared)
}

// expand returns, per column of ref, rows values that bin exactly into its counts
// (value edges[j] for bin j, counts[j] times), then the rows built from them.
func expand(ref *bundle.DriftReference, kind string, at func(c bundle.DriftColumn, bin int) float64) [][]float64 {
	var cols [][]float64
	for _, c := range ref.Columns {
		if c.Kind != kind {
			continue
		}
		col := make([]float64, 0, ref.Rows)
		if c.Constant {
			for range ref.Rows {
				col = append(col, c.Value)
			}
		} else {
			for j, n := range c.Counts {
				for range int(n) {
					col = append(col, at(c, j))
				}
			}
		}
		cols = append(cols, col)
	}
	out := make([][]float64, ref.Rows)
	for r := range out {
		out[r] = make([]float64, len(cols))
		for j := range cols {
			out[r][j] = cols[j][r]
		}
	}
	return out
}

// TestDriftBundleReference: on the default bundle's pba reference, a live window with the
// reference's own counts reads PSI and KS exactly 0 in every column, and one with every
// value above the reference range reads major drift in every column.
func TestDriftBundleReference(t *testing.T) {
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ref := b.Drifts["pba"]
	tests := []struct {
		name string
		at   func(c bundle.DriftColumn, bin int) float64
		ok   func(d monitor.FeatureDrift) bool
	}{
		{"equal to the reference", func(c bundle.DriftColumn, bin int) float64 { return c.Edges[bin] },
			func(d monitor.FeatureDrift) bool { return d.PSI == 0 && d.KS == 0 }},
		{"above the reference range", func(c bundle.DriftColumn, bin int) float64 { return c.Edges[len(c.Edges)-1] + 1 },
			func(d monitor.FeatureDrift) bool { return d.PSI > 0.25 && d.KS > 0.5 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMonitor(t, newClock(), monitor.Config{DriftLive: ref.Rows})
			if err := m.SetReference(champion, ref); err != nil {
				t.Fatal(err)
			}
			m.ObserveInputs(champion, expand(ref, bundle.DriftInput, tc.at))
			m.ObserveOutputs(champion, expand(ref, bundle.DriftOutput, tc.at))
			ds, err := m.Drift(champion)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 17 {
				t.Fatalf("%d columns, want 17", len(ds))
			}
			for _, d := range ds {
				if d.N != ref.Rows || !tc.ok(d) {
					t.Errorf("%s: N %d PSI %v KS %v", d.Feature, d.N, d.PSI, d.KS)
				}
			}
		})
	}
}

// TestDriftWindowBound: the live window keeps the last DriftLive finite values per
// feature; what does not fit a reference is counted, not kept.
func TestDriftWindowBound(t *testing.T) {
	ref := synthetic(t, normals(1, 1000, 0), normals(2, 1000, 0))
	low, high := ref.Columns[0].Edges[0]-1, ref.Columns[0].Edges[len(ref.Columns[0].Edges)-1]+1
	m := newMonitor(t, newClock(), monitor.Config{DriftLive: 8})
	if err := m.SetReference(champion, ref); err != nil {
		t.Fatal(err)
	}
	var in [][]float64
	for range 12 {
		in = append(in, []float64{low})
	}
	for range 8 {
		in = append(in, []float64{high})
	}
	in = append(in, []float64{math.NaN()}, []float64{1, 2}, []float64{})
	m.ObserveInputs(champion, in)
	m.ObserveInputs(monitor.Key{Model: "other"}, in[:3])
	ds, err := m.Drift(champion)
	if err != nil {
		t.Fatal(err)
	}
	live := ds[0].Live
	if ds[0].N != 8 || live[len(live)-1] != 8 || live[0] != 0 {
		t.Fatalf("window %+v: want the last 8 values, all in the top bin", ds[0])
	}
	if ds[1].N != 0 || !math.IsNaN(ds[1].PSI) || !math.IsNaN(ds[1].KS) || ds[1].Live != nil {
		t.Fatalf("empty output window %+v", ds[1])
	}
	mfs := gather(t, m)
	for result, want := range map[string]float64{"accepted": 20, "non_finite": 1, "wrong_length": 2, "no_reference": 3} {
		if got, _ := metric(mfs, "dwcp_ml_drift_rows_total", "result", result); got != want {
			t.Errorf("rows %s: %v, want %v", result, got, want)
		}
	}
	if _, ok := metric(mfs, "dwcp_ml_drift_psi", keyLabels(champion, "feature", "output[0]")...); ok {
		t.Error("a NaN PSI is exported")
	}
	if v, ok := metric(mfs, "dwcp_ml_drift_live_values", keyLabels(champion, "feature", "x")...); !ok || v != 8 {
		t.Errorf("live values %v, %v", v, ok)
	}
}

// TestSetReference: the reference's life cycle and what the core refuses.
func TestSetReference(t *testing.T) {
	good := synthetic(t, normals(1, 100, 0), normals(2, 100, 0))
	m := newMonitor(t, newClock(), monitor.Config{})
	if _, err := m.Drift(champion); !errors.Is(err, monitor.ErrNoReference) {
		t.Fatalf("Drift without a reference: %v", err)
	}
	if err := m.ObserveInputTensor(champion, []float32{1}, 1); !errors.Is(err, monitor.ErrNoReference) {
		t.Fatalf("ObserveInputTensor without a reference: %v", err)
	}
	if err := m.SetReference(champion, good); err != nil {
		t.Fatal(err)
	}
	m.ObserveInputs(champion, [][]float64{{0}})
	n := func() int {
		ds, err := m.Drift(champion)
		if err != nil {
			t.Fatal(err)
		}
		return ds[0].N
	}
	if err := m.SetReference(champion, good); err != nil || n() != 1 {
		t.Fatalf("the same reference again should keep the window: %v, N %d", err, n())
	}
	other := *good
	if err := m.SetReference(champion, &other); err != nil || n() != 0 {
		t.Fatalf("a new reference should empty the window: %v, N %d", err, n())
	}
	if err := m.SetReference(champion, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Drift(champion); !errors.Is(err, monitor.ErrNoReference) {
		t.Fatalf("after nil: %v", err)
	}

	// Shapes of the tensor helpers.
	if err := m.SetReference(champion, good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   []float32
		rows int
		out  bool
	}{{[]float32{1, 2, 3}, 2, false}, {nil, 0, false}, {[]float32{1, 2}, 1, true}} {
		var err error
		if tc.out {
			err = m.ObserveOutputTensor(champion, tc.in, tc.rows)
		} else {
			err = m.ObserveInputTensor(champion, tc.in, tc.rows)
		}
		if !errors.Is(err, monitor.ErrShape) {
			t.Errorf("%v rows %d: %v", tc.in, tc.rows, err)
		}
	}

	edit := func(change func(r *bundle.DriftReference)) *bundle.DriftReference {
		r := *good
		r.Columns = append([]bundle.DriftColumn(nil), good.Columns...)
		for i := range r.Columns {
			r.Columns[i].Edges = append([]float64(nil), good.Columns[i].Edges...)
			r.Columns[i].Counts = append([]float64(nil), good.Columns[i].Counts...)
		}
		change(&r)
		return &r
	}
	bad := []struct {
		name string
		ref  *bundle.DriftReference
	}{
		{"drift version", edit(func(r *bundle.DriftReference) { r.Version = 99 })},
		{"no columns", edit(func(r *bundle.DriftReference) { r.Columns = nil })},
		{"repeated name", edit(func(r *bundle.DriftReference) { r.Columns[1].Name = r.Columns[0].Name })},
		{"empty name", edit(func(r *bundle.DriftReference) { r.Columns[0].Name = "" })},
		{"kind", edit(func(r *bundle.DriftReference) { r.Columns[0].Kind = "label" })},
		{"edges out of order", edit(func(r *bundle.DriftReference) { r.Columns[0].Edges[1] = r.Columns[0].Edges[0] })},
		{"NaN edge", edit(func(r *bundle.DriftReference) { r.Columns[0].Edges[2] = math.NaN() })},
		{"counts length", edit(func(r *bundle.DriftReference) { r.Columns[0].Counts = r.Columns[0].Counts[1:] })},
		{"negative count", edit(func(r *bundle.DriftReference) { r.Columns[1].Counts[0] = -1 })},
		{"all counts 0", edit(func(r *bundle.DriftReference) { clear(r.Columns[1].Counts) })},
		{"epsilon 0", edit(func(r *bundle.DriftReference) { r.Epsilon = 0 })},
	}
	for _, tc := range bad {
		if err := m.SetReference(canary, tc.ref); !errors.Is(err, monitor.ErrInvalidReference) {
			t.Errorf("%s: %v", tc.name, err)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	if _, err := m.Drift(canary); !errors.Is(err, monitor.ErrNoReference) {
		t.Fatalf("a refused reference was kept: %v", err)
	}
}
