package featurecore_test

import (
	"math"
	"slices"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

const canonicalNaN = 0x7ff8000000000000

func TestGrid(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaLink) // 300 s
	tests := []struct {
		name  string
		ts    []int64
		t0    int64
		nBins int
	}{
		{"one sample on the grid", []int64{t2013}, t2013, 1},
		{"one sample off the grid", []int64{t2013 + 299}, t2013, 1},
		{"unordered", []int64{t2013 + 650, t2013 + 10, t2013 + 1200, t2013 + 301}, t2013, 5},
		{"duplicates", []int64{t2013 + 5, t2013 + 5, t2013 + 5}, t2013, 1},
		{"epoch", []int64{0, 299, 300}, 0, 2},
		{"last timestamp", []int64{featurecore.MaxTimestamp}, featurecore.MaxTimestamp / 300 * 300, 1},
	}
	for _, tc := range tests {
		t0, n, err := p.Grid(tc.ts)
		if err != nil || t0 != tc.t0 || n != tc.nBins {
			t.Errorf("%s: Grid = %d, %d, %v; want %d, %d", tc.name, t0, n, err, tc.t0, tc.nBins)
		}
	}

	bad := []struct {
		name  string
		p     featurecore.Params
		ts    []int64
		want  error
		index int64
	}{
		{"nil", p, nil, featurecore.ErrLength, -1},
		{"empty", p, []int64{}, featurecore.ErrLength, -1},
		{"negative", p, []int64{t2013, -1}, featurecore.ErrTimeRange, 1},
		{"milliseconds", p, []int64{t2013 * 1000}, featurecore.ErrTimeRange, 0},
		{"after 9999", p, []int64{t2013, featurecore.MaxTimestamp + 1}, featurecore.ErrTimeRange, 1},
		{"bad params", featurecore.Params{Schema: featurecore.SchemaLink}, []int64{t2013}, featurecore.ErrBadParams, -1},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.p.Grid(tc.ts)
			wantError(t, err, tc.want, "grid", tc.index, -1, -1)
		})
	}
}

func TestResample(t *testing.T) {
	const c = 4 // link channels
	p := featurecore.DefaultParams(featurecore.SchemaLink)
	p.FillLimit = 2
	row := func(v float64) []float64 { return []float64{v, v + 1, v / 4, v / 2} }
	// Raw samples, deliberately out of order, with a duplicate timestamp, a sample before
	// the grid and one after it (both ignored), and a gap of 4 bins after bin 2.
	type sample struct {
		ts int64
		v  float64
	}
	raw := []sample{
		{t2013 + 310, 8},   // bin 1
		{t2013 + 10, 1},    // bin 0
		{t2013 + 2000, 64}, // bin 6
		{t2013 + 290, 2},   // bin 0
		{t2013 + 620, 16},  // bin 2
		{t2013 - 1, 1000},  // before t0: ignored
		{t2013 + 599, 4},   // bin 1
		{t2013 + 620, 32},  // bin 2, duplicate timestamp
		{t2013 + 2100, 3},  // bin 7, after the grid: ignored
		{t2013 + 310, 12},  // bin 1, duplicate timestamp
	}
	var ts []int64
	var values []float64
	for _, s := range raw {
		ts = append(ts, s.ts)
		values = append(values, row(s.v)...)
	}
	const nBins = 7
	out := make([]float64, nBins*c)
	counts := make([]uint32, nBins)
	if err := p.Resample(t2013, nBins, ts, values, out, counts); err != nil {
		t.Fatal(err)
	}
	// Means of powers of two and small integers are exact, whatever the order.
	want := [][]float64{
		row(1.5),         // bin 0: (1+2)/2
		row(8),           // bin 1: (8+4+12)/3
		row(24),          // bin 2: (16+32)/2
		row(24), row(24), // bins 3, 4: carried forward (fill_limit 2)
		nil,     // bin 5: missing
		row(64), // bin 6
	}
	wantCounts := []uint32{2, 3, 2, 0, 0, 0, 1}
	if !slices.Equal(counts, wantCounts) {
		t.Errorf("counts %v, want %v", counts, wantCounts)
	}
	for b, w := range want {
		for ch := range c {
			got := math.Float64bits(out[b*c+ch])
			if w == nil {
				if got != canonicalNaN {
					t.Errorf("bin %d channel %d: %#016x, want canonical NaN %#016x", b, ch, got, uint64(canonicalNaN))
				}
			} else if got != math.Float64bits(w[ch]) {
				t.Errorf("bin %d channel %d: %v, want %v", b, ch, out[b*c+ch], w[ch])
			}
		}
	}

	// The same samples in another order give the same bits here (exact sums).
	ts2, values2 := slices.Clone(ts), slices.Clone(values)
	slices.Reverse(ts2)
	for i, j := 0, len(raw)-1; i < j; i, j = i+1, j-1 {
		for ch := range c {
			values2[i*c+ch], values2[j*c+ch] = values2[j*c+ch], values2[i*c+ch]
		}
	}
	out2 := make([]float64, nBins*c)
	counts2 := make([]uint32, nBins)
	if err := p.Resample(t2013, nBins, ts2, values2, out2, counts2); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if math.Float64bits(out[i]) != math.Float64bits(out2[i]) {
			t.Errorf("reversed input: out[%d] = %v, want %v", i, out2[i], out[i])
		}
	}

	// A missing bin stops a window: Window refuses the canonical NaN with ErrMissing.
	w := p
	w.SeqLen, w.StatWindow = 2, 2 // 3 samples per window
	wout := make([]float32, w.WindowOutputLen())
	grid := []int64{t2013 + 900, t2013 + 1200, t2013 + 1500}
	err := w.Window(grid, out[3*c:6*c], wout)
	wantError(t, err, featurecore.ErrMissing, "window", 2, 0, -1)
	if err := w.Window(grid, out[2*c:5*c], wout); err != nil {
		t.Errorf("carried-forward bins: %v", err)
	}
}

func TestResampleFill(t *testing.T) {
	const c = 6
	ts := []int64{t2013 + 300, t2013 + 1800} // bins 1 and 6 of 9
	values := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for _, fill := range []int{0, 1, 2, 3, 4, 5, 100} {
		p := featurecore.DefaultParams(featurecore.SchemaVM)
		p.FillLimit = fill
		out := make([]float64, 9*c)
		counts := make([]uint32, 9)
		if err := p.Resample(t2013, 9, ts, values, out, counts); err != nil {
			t.Fatal(err)
		}
		for b := range 9 {
			var want []float64 // nil: missing
			switch {
			case b == 1 || (b > 1 && b < 6 && b-1 <= fill):
				want = values[:c]
			case b == 6 || (b > 6 && b-6 <= fill):
				want = values[c:]
			}
			for ch := range c {
				got := math.Float64bits(out[b*c+ch])
				if want == nil && got != canonicalNaN || want != nil && got != math.Float64bits(want[ch]) {
					t.Errorf("fill %d bin %d channel %d: %#016x, want %v", fill, b, ch, got, want)
				}
			}
		}
	}
}

func TestResampleBadInput(t *testing.T) {
	const c = 6
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, 10, t2013+7, 100, 9) // 1000 s of 100 s samples
	t0, nBins, err := p.Grid(ts)
	if err != nil || t0 != t2013 || nBins != 4 {
		t.Fatalf("Grid = %d, %d, %v", t0, nBins, err)
	}
	tests := []struct {
		name    string
		edit    func(p *featurecore.Params, t0 *int64, nBins *int, ts *[]int64, v, out *[]float64, counts *[]uint32)
		want    error
		index   int64
		channel int
		text    string // start of the message, when checked
	}{
		{"ok", func(*featurecore.Params, *int64, *int, *[]int64, *[]float64, *[]float64, *[]uint32) {}, nil, 0, 0, ""},
		{"NaN", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			(*v)[7*c+2] = math.NaN()
		}, featurecore.ErrMissing, 7, 2, `featurecore: resample: sample 7, channel "disk_read_kbs": missing`},
		{"+Inf", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			(*v)[1*c+5] = math.Inf(1)
		}, featurecore.ErrInfinite, 1, 5, ""},
		{"negative", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			(*v)[9*c+0] = -0.5
		}, featurecore.ErrNegative, 9, 0, ""},
		{"bad sample outside the grid is still refused", func(_ *featurecore.Params, _ *int64, n *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			*n = 1
			(*v)[9*c+0] = -0.5
		}, featurecore.ErrNegative, 9, 0, ""},
		{"negative timestamp", func(_ *featurecore.Params, _ *int64, _ *int, ts *[]int64, _, _ *[]float64, _ *[]uint32) {
			(*ts)[4] = -100
		}, featurecore.ErrTimeRange, 4, -1, ""},
		{"milliseconds", func(_ *featurecore.Params, _ *int64, _ *int, ts *[]int64, _, _ *[]float64, _ *[]uint32) {
			(*ts)[0] *= 1000
		}, featurecore.ErrTimeRange, 0, -1, ""},
		{"negative t0", func(_ *featurecore.Params, t0 *int64, _ *int, _ *[]int64, _, _ *[]float64, _ *[]uint32) {
			*t0 = -300
		}, featurecore.ErrTimeRange, -1, -1, ""},
		{"t0 in milliseconds", func(_ *featurecore.Params, t0 *int64, _ *int, _ *[]int64, _, _ *[]float64, _ *[]uint32) {
			*t0 *= 1000
		}, featurecore.ErrTimeRange, -1, -1, ""},
		{"values not ts x channels", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			*v = (*v)[:len(*v)-1]
		}, featurecore.ErrLength, -1, -1, ""},
		{"nil values", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			*v = nil
		}, featurecore.ErrLength, -1, -1, ""},
		{"out too small", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, _, out *[]float64, _ *[]uint32) {
			*out = (*out)[:len(*out)-1]
		}, featurecore.ErrOutputSize, -1, -1, ""},
		{"counts too small", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, _, _ *[]float64, counts *[]uint32) {
			*counts = (*counts)[:3]
		}, featurecore.ErrOutputSize, -1, -1, ""},
		{"nil out", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, _, out *[]float64, counts *[]uint32) {
			*out, *counts = nil, nil
		}, featurecore.ErrOutputSize, -1, -1, ""},
		{"negative nBins", func(_ *featurecore.Params, _ *int64, n *int, _ *[]int64, _, _ *[]float64, _ *[]uint32) {
			*n = -1
		}, featurecore.ErrOutputSize, -1, -1, ""},
		{"zero bins", func(_ *featurecore.Params, _ *int64, n *int, _ *[]int64, _, out *[]float64, counts *[]uint32) {
			*n, *out, *counts = 0, nil, nil
		}, nil, 0, 0, ""},
		{"no samples", func(_ *featurecore.Params, _ *int64, _ *int, ts *[]int64, v, _ *[]float64, _ *[]uint32) {
			*ts, *v = nil, nil
		}, nil, 0, 0, ""},
		{"mean overflows", func(_ *featurecore.Params, _ *int64, _ *int, _ *[]int64, v, _ *[]float64, _ *[]uint32) {
			(*v)[4*c+3] = math.MaxFloat64 // samples 4 and 5 share bin 1
			(*v)[5*c+3] = math.MaxFloat64
		}, featurecore.ErrRange, 1, 3, `featurecore: resample: bin 1, channel "disk_write_kbs": a result does not fit`},
		{"step 0", func(p *featurecore.Params, _ *int64, _ *int, _ *[]int64, _, _ *[]float64, _ *[]uint32) {
			p.StepSeconds = 0
		}, featurecore.ErrBadParams, -1, -1, ""},
		{"fill_limit negative", func(p *featurecore.Params, _ *int64, _ *int, _ *[]int64, _, _ *[]float64, _ *[]uint32) {
			p.FillLimit = -1
		}, featurecore.ErrBadParams, -1, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, t0q, nq := p, t0, nBins
			tsq, vq := slices.Clone(ts), slices.Clone(values)
			out := make([]float64, nBins*c)
			counts := make([]uint32, nBins)
			tc.edit(&q, &t0q, &nq, &tsq, &vq, &out, &counts)
			err := q.Resample(t0q, nq, tsq, vq, out, counts)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fe := wantError(t, err, tc.want, "resample", tc.index, tc.channel, -1)
			if tc.text != "" && (len(err.Error()) < len(tc.text) || err.Error()[:len(tc.text)] != tc.text) {
				t.Errorf("message %q, want prefix %q", err, tc.text)
			}
			if tc.channel >= 0 && fe.ChannelName != featurecore.SchemaVM.Channels()[tc.channel] {
				t.Errorf("ChannelName %q", fe.ChannelName)
			}
		})
	}
}
