package featurecore_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Array indexes of a drift *Error's Channel (FC_DRIFT_ARG_*).
const (
	argValues = 0
	argEdges  = 1
	argRef    = 2
	argLive   = 3
)

func TestDriftLn(t *testing.T) {
	exact := []struct {
		x, want float64
	}{
		{1, 0},
		{2, math.Ln2},
		{0.5, -math.Ln2},
		{math.E, 1},
	}
	for _, c := range exact {
		got, err := featurecore.DriftLn(c.x)
		if err != nil || got != c.want {
			t.Errorf("DriftLn(%v) = %v, %v; want %v", c.x, got, err, c.want)
		}
	}
	// Subnormals: ln(2^-1074) = -1074 ln 2. Go's math.Log on amd64 (assembly) is wrong
	// there (it returns -709.09 for 5e-324), one more reason the core owns ln.
	for _, c := range []struct{ x, want float64 }{
		{5e-324, -744.4400719213812},
		{4.042431376724363e-309, -710.1019473982898},
	} {
		if got, err := featurecore.DriftLn(c.x); err != nil || got != c.want {
			t.Errorf("DriftLn(%v) = %v, %v; want %v", c.x, got, err, c.want)
		}
	}
	// within 1 ulp of math.Log (itself < 1 ulp for normal x) on random normal doubles
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		x := math.Float64frombits(rng.Uint64N(0x7ff0000000000000-0x0010000000000000) + 0x0010000000000000)
		got, err := featurecore.DriftLn(x)
		if err != nil {
			t.Fatalf("DriftLn(%v): %v", x, err)
		}
		ref := math.Log(x)
		if d := math.Abs(got - ref); d > 2*ulp(ref) {
			t.Fatalf("DriftLn(%v) = %v, math.Log %v: %v ulp apart", x, got, ref, d/ulp(ref))
		}
	}
}

// ulp is the spacing of doubles at |x|.
func ulp(x float64) float64 {
	x = math.Abs(x)
	return math.Nextafter(x, math.Inf(1)) - x
}

func TestDriftErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	counts := make([]float64, 3)
	cases := []struct {
		name     string
		call     func() error
		sentinel error
		op       string
		index    int64
		channel  int
		text     string
	}{
		{"ln nan", lnErr(nan), featurecore.ErrMissing, "drift ln", -1, argValues, `array "values": missing sample`},
		{"ln inf", lnErr(-inf), featurecore.ErrInfinite, "drift ln", -1, argValues, "infinite"},
		{"ln negative", lnErr(-2), featurecore.ErrNegative, "drift ln", -1, argValues, "negative"},
		{"ln zero", lnErr(0), featurecore.ErrRange, "drift ln", -1, argValues, "ln of 0"},
		{"edges empty", edgesErr(nil, 10), featurecore.ErrEmpty, "quantile edges", -1, argValues, "nothing to compare"},
		{"edges constant", edgesErr([]float64{3, 3, 3}, 10), featurecore.ErrConstant, "quantile edges", -1, argValues, "single distinct value"},
		{"edges nan", edgesErr([]float64{1, 2, nan}, 2), featurecore.ErrMissing, "quantile edges", 2, argValues, "element 2"},
		{"edges inf", edgesErr([]float64{inf, 2}, 2), featurecore.ErrInfinite, "quantile edges", 0, argValues, "infinite"},
		{"edges zero bins", edgesErr([]float64{1, 2}, 0), featurecore.ErrBadParams, "quantile edges", -1, -1, "1..1024 bins"},
		{"edges too many bins", edgesErr([]float64{1, 2}, featurecore.DriftMaxBins+1), featurecore.ErrBadParams, "quantile edges", -1, -1, "1..1024 bins"},
		{"hist unsorted", histErr([]float64{1}, []float64{0, 2, 1, 3}, counts), featurecore.ErrEdgeOrder, "histogram", 2, argEdges, `element 2, array "edges"`},
		{"hist repeated edge", histErr([]float64{1}, []float64{0, 1, 1}, counts), featurecore.ErrEdgeOrder, "histogram", 2, argEdges, "strictly ascending"},
		{"hist one edge", histErr([]float64{1}, []float64{0}, counts), featurecore.ErrEdgeOrder, "histogram", -1, argEdges, "at least 2"},
		{"hist edge nan", histErr([]float64{1}, []float64{0, nan}, counts), featurecore.ErrMissing, "histogram", 1, argEdges, "missing"},
		{"hist value nan", histErr([]float64{1, nan}, []float64{0, 1}, counts), featurecore.ErrMissing, "histogram", 1, argValues, "drop missing samples"},
		{"hist empty", histErr(nil, []float64{0, 1}, counts), featurecore.ErrEmpty, "histogram", -1, argValues, "at least one value"},
		{"hist short counts", histErr([]float64{1}, []float64{0, 1, 2, 3, 4}, counts), featurecore.ErrOutputSize, "histogram", -1, -1, "n_edges - 1"},
		{"hist nil counts", histErr([]float64{1}, []float64{0, 1}, nil), featurecore.ErrOutputSize, "histogram", -1, -1, "n_edges - 1"},
		{"psi negative", psiErr([]float64{1, -1}, []float64{1, 1}, 1e-4), featurecore.ErrNegative, "psi", 1, argRef, "drift bin counts"},
		{"psi live zero", psiErr([]float64{1, 1}, []float64{0, 0}, 1e-4), featurecore.ErrEmpty, "psi", -1, argLive, "nothing to compare"},
		{"psi live nan", psiErr([]float64{1, 1}, []float64{1, nan}, 1e-4), featurecore.ErrMissing, "psi", 1, argLive, "missing"},
		{"psi epsilon 0", psiErr([]float64{1}, []float64{1}, 0), featurecore.ErrBadParams, "psi", -1, -1, "epsilon"},
		{"psi epsilon 1", psiErr([]float64{1}, []float64{1}, 1), featurecore.ErrBadParams, "psi", -1, -1, "epsilon"},
		{"psi epsilon subnormal", psiErr([]float64{1}, []float64{1}, 5e-324), featurecore.ErrBadParams, "psi", -1, -1, "epsilon"},
		{"psi lengths", psiErr([]float64{1, 2}, []float64{1}, 1e-4), featurecore.ErrLength, "psi", -1, argLive, "same bins"},
		{"psi no bins", psiErr(nil, nil, 1e-4), featurecore.ErrLength, "psi", -1, -1, "same bins"},
		{"ks inf", ksErr([]float64{1, inf}, []float64{1, 1}), featurecore.ErrInfinite, "ks", 1, argRef, "infinite"},
		{"ks overflow", ksErr([]float64{1e308, 1e308}, []float64{1, 1}), featurecore.ErrRange, "ks", -1, argRef, "overflows"},
		{"ks too many bins", ksErr(make([]float64, 1025), make([]float64, 1025)), featurecore.ErrBadParams, "ks", -1, -1, "1..1024 bins"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			fe := wantError(t, err, c.sentinel, c.op, c.index, c.channel, -1)
			msg := err.Error()
			if !strings.HasPrefix(msg, "featurecore: "+c.op+": ") || !strings.Contains(msg, c.text) {
				t.Errorf("message %q: want prefix %q and %q", msg, "featurecore: "+c.op+": ", c.text)
			}
			if c.channel >= 0 && fe.ChannelName == "" {
				t.Errorf("ChannelName empty for channel %d", c.channel)
			}
		})
	}
}

func lnErr(x float64) func() error {
	return func() error { _, err := featurecore.DriftLn(x); return err }
}

func edgesErr(s []float64, bins int) func() error {
	return func() error { _, err := featurecore.QuantileEdges(s, bins); return err }
}

func histErr(v, e, c []float64) func() error {
	return func() error { return featurecore.Histogram(v, e, c) }
}

func psiErr(r, l []float64, eps float64) func() error {
	return func() error { _, err := featurecore.PSI(r, l, eps); return err }
}

func ksErr(r, l []float64) func() error {
	return func() error { _, err := featurecore.KS(r, l); return err }
}

func TestQuantileEdges(t *testing.T) {
	cases := []struct {
		name   string
		sample []float64
		bins   int
		want   []float64
	}{
		{"one per bin", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 10, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"lower ranks", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 4, []float64{0, 2, 5, 7, 10}},
		{"ties collapse", []float64{0, 0, 0, 0, 0, 0, 3, 5}, 4, []float64{0, 5}},
		{"more bins than values", []float64{3, 1, 2}, 10, []float64{1, 2, 3}},
		{"one bin", []float64{4, -4, 0}, 1, []float64{-4, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keep := slices.Clone(c.sample)
			got, err := featurecore.QuantileEdges(c.sample, c.bins)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("QuantileEdges = %v, %v; want %v", got, err, c.want)
			}
			if !slices.Equal(keep, c.sample) {
				t.Errorf("the sample was modified: %v", c.sample)
			}
		})
	}
	got, err := featurecore.QuantileEdges([]float64{math.Copysign(0, -1), 1}, 1)
	if err != nil || math.Signbit(got[0]) {
		t.Errorf("-0.0 must come back as +0.0: %v, %v", got, err)
	}
}

func TestHistogram(t *testing.T) {
	edges := []float64{0, 1, 2, 3}
	cases := []struct {
		name   string
		values []float64
		want   []float64
	}{
		{"bin rule", []float64{0, 0.5, 1, 1.5, 2, 2.5, 3}, []float64{2, 2, 3}},
		{"outside the range", []float64{-5, -math.MaxFloat64, 1e300, math.MaxFloat64}, []float64{2, 0, 2}},
		{"edges themselves", []float64{1, 2}, []float64{0, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			counts := []float64{-1, -1, -1, 99} // the fourth is beyond the bins: untouched
			if err := featurecore.Histogram(c.values, edges, counts); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(counts[:3], c.want) || counts[3] != 99 {
				t.Errorf("counts %v, want %v then 99", counts, c.want)
			}
		})
	}
}

func TestPSIAndKS(t *testing.T) {
	ref := []float64{25, 25, 25, 25}
	cases := []struct {
		name    string
		live    []float64
		eps     float64
		psiWant func(float64) bool
		ks      float64
	}{
		{"identical", ref, 1e-4, func(p float64) bool { return p == 0 }, 0},
		{"scaled counts", []float64{1, 1, 1, 1}, 1e-4, func(p float64) bool { return p == 0 }, 0},
		{"skewed", []float64{10, 20, 30, 40}, 1e-4, func(p float64) bool { return math.Abs(p-0.22821740957339182) < 1e-15 }, 0.25 - 0.1 + 0.25 - 0.2},
		{"empty bins floored", []float64{50, 50, 0, 0}, 1e-4, func(p float64) bool { return p > 1 && p < 5 }, 0.5},
		{"smallest floor", []float64{0, 0, 0, 7}, featurecore.DriftMinEpsilon, func(p float64) bool { return p > 100 && p < 1000 }, 0.75},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			psi, err := featurecore.PSI(ref, c.live, c.eps)
			if err != nil || !c.psiWant(psi) {
				t.Errorf("PSI = %v, %v", psi, err)
			}
			ks, err := featurecore.KS(ref, c.live)
			if err != nil || ks != c.ks {
				t.Errorf("KS = %v, %v; want %v", ks, err, c.ks)
			}
		})
	}
}

// TestDriftPipeline: edges from a reference sample, its own histogram is flat, a shifted
// live sample drifts, and the same calls from many goroutines give the same bits.
func TestDriftPipeline(t *testing.T) {
	ref, live := normals(5000, 0, 1), normals(1000, 1, 1)
	edges, err := featurecore.QuantileEdges(ref, featurecore.DriftDefaultBins)
	if err != nil || len(edges) != featurecore.DriftDefaultBins+1 {
		t.Fatalf("edges %v, %v", edges, err)
	}
	rc, lc := make([]float64, len(edges)-1), make([]float64, len(edges)-1)
	if err := featurecore.Histogram(ref, edges, rc); err != nil {
		t.Fatal(err)
	}
	if err := featurecore.Histogram(live, edges, lc); err != nil {
		t.Fatal(err)
	}
	for _, c := range rc {
		if c < 499 || c > 501 {
			t.Errorf("reference deciles not flat: %v", rc)
		}
	}
	psi, _ := featurecore.PSI(rc, lc, featurecore.DriftDefaultEpsilon)
	ks, _ := featurecore.KS(rc, lc)
	if psi <= 0.25 || ks < 0.3 {
		t.Errorf("a 1-sd shift: PSI %v, KS %v", psi, ks)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := make([]float64, len(rc))
			for range 50 {
				if err := featurecore.Histogram(live, edges, c); err != nil || !slices.Equal(c, lc) {
					t.Error("concurrent Histogram differs")
					return
				}
				if p, _ := featurecore.PSI(rc, c, featurecore.DriftDefaultEpsilon); math.Float64bits(p) != math.Float64bits(psi) {
					t.Error("concurrent PSI differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDriftHotPathAllocatesNothing(t *testing.T) {
	ref, live := normals(2000, 0, 1), normals(288, 0.2, 1)
	edges, _ := featurecore.QuantileEdges(ref, 10)
	rc, lc := make([]float64, 10), make([]float64, 10)
	_ = featurecore.Histogram(ref, edges, rc)
	allocs := testing.AllocsPerRun(100, func() {
		_ = featurecore.Histogram(live, edges, lc)
		_, _ = featurecore.PSI(rc, lc, featurecore.DriftDefaultEpsilon)
		_, _ = featurecore.KS(rc, lc)
		_, _ = featurecore.DriftLn(1.5)
	})
	if allocs != 0 {
		t.Errorf("Histogram + PSI + KS + DriftLn allocate %v times per run", allocs)
	}
}

func TestDriftErrorsMatchOneSentinel(t *testing.T) {
	_, err := featurecore.QuantileEdges([]float64{1, 1}, 4)
	for _, s := range []error{featurecore.ErrEdgeOrder, featurecore.ErrEmpty, featurecore.ErrMissing} {
		if errors.Is(err, s) {
			t.Errorf("a constant-sample error matches %v", s)
		}
	}
	if !errors.Is(err, featurecore.ErrConstant) || featurecore.StatusConstant.String() != "FC_ERR_CONSTANT" {
		t.Errorf("err %v, status name %s", err, featurecore.StatusConstant)
	}
}

// normals is a fixed-seed normal sample (test input only; no drift math in Go).
func normals(n int, mean, sd float64) []float64 {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*rng.NormFloat64()
	}
	return out
}

// BenchmarkDriftLn is one logarithm through cgo.
func BenchmarkDriftLn(b *testing.B) {
	b.ReportAllocs()
	x := 1.2345
	for b.Loop() {
		if _, err := featurecore.DriftLn(x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuantileEdges builds decile edges of a 10,000-value reference sample (copy,
// heapsort, order statistics), as a bundle's reference distribution is built.
func BenchmarkQuantileEdges(b *testing.B) {
	ref := normals(10000, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := featurecore.QuantileEdges(ref, 10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistogram bins one day of 5-minute live values (288) into deciles: the
// sidecar's per-feature drift update.
func BenchmarkHistogram(b *testing.B) {
	edges, _ := featurecore.QuantileEdges(normals(10000, 0, 1), 10)
	live := normals(288, 0.3, 1)
	counts := make([]float64, len(edges)-1)
	b.ReportAllocs()
	for b.Loop() {
		if err := featurecore.Histogram(live, edges, counts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPSI and BenchmarkKS compare 10-bin live counts with the reference counts.
func BenchmarkPSI(b *testing.B) {
	rc, lc := benchCounts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := featurecore.PSI(rc, lc, featurecore.DriftDefaultEpsilon); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKS(b *testing.B) {
	rc, lc := benchCounts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := featurecore.KS(rc, lc); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCounts() (rc, lc []float64) {
	ref := normals(10000, 0, 1)
	edges, _ := featurecore.QuantileEdges(ref, 10)
	rc, lc = make([]float64, 10), make([]float64, 10)
	_ = featurecore.Histogram(ref, edges, rc)
	_ = featurecore.Histogram(normals(288, 0.3, 1), edges, lc)
	return rc, lc
}
