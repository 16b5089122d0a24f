package featurecore_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// checkWindowsMatchWindow requires every window of a Windows batch to be bit-identical to
// a single Window call on the same samples (the core reuses overlapping rows in a batch).
func checkWindowsMatchWindow(t *testing.T, p *featurecore.Params, ts []int64, values []float64, stride int, batch []float32, n int) {
	t.Helper()
	need, size, c := p.WindowInputLen(), p.WindowOutputLen(), p.Schema.NumChannels()
	one := make([]float32, size)
	for k := range n {
		first := k * stride
		if err := p.Window(ts[first:first+need], values[first*c:(first+need)*c], one); err != nil {
			t.Fatalf("window %d of a valid batch: Window failed: %v", k, err)
		}
		if i := sameBits(batch[k*size:(k+1)*size], one); i >= 0 {
			f := p.Schema.Features()[i%p.Schema.NumFeatures()]
			t.Fatalf("window %d (stride %d), out[%d] (step %d, %s): Windows %#08x, Window %#08x", k, stride, i,
				i/p.Schema.NumFeatures(), f, math.Float32bits(batch[k*size+i]), math.Float32bits(one[i]))
		}
	}
}

func TestWindowsMatchWindow(t *testing.T) {
	type shape struct {
		schema          featurecore.Schema
		seqLen, statWin int
	}
	shapes := []shape{
		{featurecore.SchemaVM, 12, 12},
		{featurecore.SchemaLink, 12, 12},
		{featurecore.SchemaVM, 1, 2},
		{featurecore.SchemaLink, 30, 5},
		{featurecore.SchemaVM, 3, 48},
	}
	for _, sh := range shapes {
		p := featurecore.DefaultParams(sh.schema)
		p.SeqLen, p.StatWindow = sh.seqLen, sh.statWin
		for f := range sh.schema.NumFeatures() { // a non-trivial normalisation
			p.Center[f], p.Scale[f] = float64(f)*1.5, 0.25+float64(f)
		}
		ts, values := trace(sh.schema, 300, t2013, 300, uint64(sh.seqLen*1000+sh.statWin))
		for _, stride := range []int{1, 2, 5, sh.seqLen - 1, sh.seqLen, sh.seqLen + 1, 50, 299, 1000} {
			if stride < 1 {
				continue
			}
			count := p.WindowsCount(len(ts), stride)
			batch := make([]float32, count*p.WindowOutputLen())
			n, err := p.Windows(ts, values, stride, batch)
			if err != nil || n != count {
				t.Fatalf("%v T=%d W=%d stride %d: Windows = %d, %v; want %d windows", sh.schema, sh.seqLen, sh.statWin, stride, n, err, count)
			}
			checkWindowsMatchWindow(t, &p, ts, values, stride, batch, n)
		}
	}
}

func TestWindowsBadInput(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, 500, t2013, 300, 11)
	count := p.WindowsCount(len(ts), 1)
	out := make([]float32, count*p.WindowOutputLen())

	// Error indexes are sample indexes of the whole trace, found before any window.
	bad := slices.Clone(values)
	bad[321*6+1] = math.NaN()
	n, err := p.Windows(ts, bad, 1, out)
	if n != 0 {
		t.Errorf("n = %d with an error", n)
	}
	wantError(t, err, featurecore.ErrMissing, "windows", 321, 1, -1)

	badTS := slices.Clone(ts)
	badTS[400] += 60
	_, err = p.Windows(badTS, values, 7, out)
	wantError(t, err, featurecore.ErrTimeGap, "windows", 400, -1, -1)

	big := slices.Clone(values)
	big[450*6] = 1e300
	_, err = p.Windows(ts, big, 1, out)
	wantError(t, err, featurecore.ErrRange, "windows", 450, -1, 0)

	for _, stride := range []int{0, -1, math.MinInt} {
		_, err = p.Windows(ts, values, stride, out)
		wantError(t, err, featurecore.ErrBadParams, "windows", -1, -1, -1)
	}
	_, err = p.Windows(ts, values, 1, out[:len(out)-1])
	wantError(t, err, featurecore.ErrOutputSize, "windows", -1, -1, -1)
	_, err = p.Windows(ts, values, 1, nil)
	wantError(t, err, featurecore.ErrOutputSize, "windows", -1, -1, -1)
	_, err = p.Windows(ts, values[:len(values)-6], 1, out)
	wantError(t, err, featurecore.ErrLength, "windows", -1, -1, -1)

	// Shorter than one window, or empty: no window and no error.
	for _, k := range []int{0, 1, 22} {
		n, err := p.Windows(ts[:k], values[:k*6], 1, nil)
		if n != 0 || err != nil {
			t.Errorf("%d samples: Windows = %d, %v; want 0, nil", k, n, err)
		}
	}
	// A huge stride gives the first window only.
	n, err = p.Windows(ts, values, math.MaxInt, out)
	if n != 1 || err != nil {
		t.Errorf("stride MaxInt: %d, %v", n, err)
	}
}

// TestConcurrent: the core has no state, so concurrent calls give the same bits.
func TestConcurrent(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, 400, t2013, 300, 41)
	count := p.WindowsCount(len(ts), 1)
	want := make([]float32, count*p.WindowOutputLen())
	if _, err := p.Windows(ts, values, 1, want); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			out := make([]float32, len(want))
			for range 20 {
				if _, err := p.Windows(ts, values, 1, out); err != nil {
					errs <- err
					return
				}
				if i := sameBits(out, want); i >= 0 {
					errs <- fmt.Errorf("goroutine %d: out[%d] differs", g, i)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
