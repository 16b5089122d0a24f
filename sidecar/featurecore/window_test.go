package featurecore_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

func TestDefaultParams(t *testing.T) {
	for _, s := range []featurecore.Schema{featurecore.SchemaVM, featurecore.SchemaLink} {
		p := featurecore.DefaultParams(s)
		if p.Schema != s || p.SeqLen != 12 || p.StatWindow != 12 || p.StepSeconds != 300 || p.FillLimit != 2 {
			t.Errorf("DefaultParams(%v) = %+v", s, p)
		}
		for f := range featurecore.MaxFeatures {
			if p.Center[f] != 0 || p.Scale[f] != 1 {
				t.Errorf("DefaultParams(%v): feature %d center %v scale %v, want 0 and 1", s, f, p.Center[f], p.Scale[f])
			}
		}
		if err := p.Check(); err != nil {
			t.Errorf("DefaultParams(%v).Check() = %v", s, err)
		}
		if got, want := p.WindowInputLen(), 23; got != want {
			t.Errorf("%v: WindowInputLen = %d, want %d", s, got, want)
		}
		if got, want := p.WindowOutputLen(), 12*s.NumFeatures(); got != want {
			t.Errorf("%v: WindowOutputLen = %d, want %d", s, got, want)
		}
	}
}

func TestWindowsCount(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	bad := p
	bad.SeqLen = 0
	tests := []struct {
		p                featurecore.Params
		n, stride, count int
	}{
		{p, 23, 1, 1},
		{p, 22, 1, 0},
		{p, 0, 1, 0},
		{p, -5, 1, 0},
		{p, 24, 1, 2},
		{p, 8640, 1, 8618},
		{p, 8640, 12, 719},
		{p, 8640, 0, 0},
		{p, 8640, -1, 0},
		{bad, 8640, 1, 0},
	}
	for _, tc := range tests {
		if got := tc.p.WindowsCount(tc.n, tc.stride); got != tc.count {
			t.Errorf("WindowsCount(%d, %d) with SeqLen %d = %d, want %d", tc.n, tc.stride, tc.p.SeqLen, got, tc.count)
		}
	}
	if bad.WindowInputLen() != 0 || bad.WindowOutputLen() != 0 {
		t.Errorf("invalid params: WindowInputLen %d, WindowOutputLen %d, want 0", bad.WindowInputLen(), bad.WindowOutputLen())
	}
}

// TestWindowLayout checks the layout of a window without recomputing any feature: rows
// are the steps ending at samples W-1 .. W-1+T-1, the channel columns are the samples'
// values rounded to float32, and day_of_week of 2013-07-01 (a Monday) is 0.
func TestWindowLayout(t *testing.T) {
	for _, s := range []featurecore.Schema{featurecore.SchemaVM, featurecore.SchemaLink} {
		p := featurecore.DefaultParams(s)
		ts, values := trace(s, p.WindowInputLen(), t2013, 300, 1)
		out := make([]float32, p.WindowOutputLen()+5)
		for i := range out {
			out[i] = -7
		}
		if err := p.Window(ts, values, out); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		c, f := s.NumChannels(), s.NumFeatures()
		for r := range p.SeqLen {
			sample := p.StatWindow - 1 + r
			row := out[r*f : (r+1)*f]
			for ch := range c {
				if row[ch] != float32(values[sample*c+ch]) {
					t.Errorf("%v: row %d channel %d = %v, want %v", s, r, ch, row[ch], float32(values[sample*c+ch]))
				}
			}
			if row[c+1] != 0 {
				t.Errorf("%v: row %d day_of_week = %v, want 0 (Monday)", s, r, row[c+1])
			}
			for k, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Errorf("%v: row %d feature %d = %v", s, r, k, v)
				}
			}
		}
		for i, v := range out[p.WindowOutputLen():] {
			if v != -7 {
				t.Errorf("%v: out[%d] beyond the window was written: %v", s, p.WindowOutputLen()+i, v)
			}
		}
		// Zero-copy inputs are read only.
		ts2, values2 := trace(s, p.WindowInputLen(), t2013, 300, 1)
		if !slices.Equal(ts, ts2) || !slices.Equal(values, values2) {
			t.Errorf("%v: Window modified its inputs", s)
		}
	}
}

// TestWindowNormalisation: Center/Scale are applied by the core; an unused entry past
// the schema's features is ignored.
func TestWindowNormalisation(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaLink)
	ts, values := trace(featurecore.SchemaLink, p.WindowInputLen(), t2013, 300, 2)
	plain := make([]float32, p.WindowOutputLen())
	if err := p.Window(ts, values, plain); err != nil {
		t.Fatal(err)
	}
	q := p
	q.Center[0], q.Scale[0] = 900, 2       // bandwidth_mbps, whole powers of two: exact
	q.Scale[featurecore.MaxFeatures-1] = 0 // unused by the link schema (12 features)
	norm := make([]float32, q.WindowOutputLen())
	if err := q.Window(ts, values, norm); err != nil {
		t.Fatal(err)
	}
	f := featurecore.SchemaLink.NumFeatures()
	for r := range q.SeqLen {
		sample := q.StatWindow - 1 + r
		if want := float32((values[sample*4] - 900) / 2); norm[r*f] != want {
			t.Errorf("row %d: normalised bandwidth %v, want %v", r, norm[r*f], want)
		}
		if i := sameBits(plain[r*f+1:(r+1)*f], norm[r*f+1:(r+1)*f]); i >= 0 {
			t.Errorf("row %d: feature %d changed although its center/scale did not", r, i+1)
		}
	}
}

func TestWindowNegativeZeroIsNotNegative(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, p.WindowInputLen(), t2013, 300, 3)
	values[22*6+0] = math.Copysign(0, -1)
	out := make([]float32, p.WindowOutputLen())
	if err := p.Window(ts, values, out); err != nil {
		t.Fatalf("-0.0 rejected: %v", err)
	}
	if got := math.Float32bits(out[11*14]); got != 0x80000000 {
		t.Errorf("cpu_pct of -0.0 = %#08x, want 0x80000000", got)
	}
}

// TestWindowBadInput covers every way a window's input can be wrong, each with the
// sentinel and the location the core reports.
func TestWindowBadInput(t *testing.T) {
	const (
		vmC = 6  // VM channels
		vmF = 14 // VM features
	)
	vm := featurecore.DefaultParams(featurecore.SchemaVM)
	goodTS, goodValues := trace(featurecore.SchemaVM, vm.WindowInputLen(), t2013, 300, 4)
	tests := []struct {
		name    string
		edit    func(p *featurecore.Params, ts *[]int64, values *[]float64, out *[]float32)
		want    error // nil: success
		index   int64
		channel int
		feature int
	}{
		{"ok", func(*featurecore.Params, *[]int64, *[]float64, *[]float32) {}, nil, 0, 0, 0},
		{"NaN", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[12*vmC+4] = math.NaN()
		}, featurecore.ErrMissing, 12, 4, -1},
		{"NaN first sample", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[0] = math.NaN()
		}, featurecore.ErrMissing, 0, 0, -1},
		{"canonical NaN from Resample", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[22*vmC+5] = math.Float64frombits(0x7ff8000000000000)
		}, featurecore.ErrMissing, 22, 5, -1},
		{"+Inf", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[3*vmC+0] = math.Inf(1)
		}, featurecore.ErrInfinite, 3, 0, -1},
		{"-Inf", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[22*vmC+5] = math.Inf(-1)
		}, featurecore.ErrInfinite, 22, 5, -1},
		{"negative", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[0*vmC+2] = -1
		}, featurecore.ErrNegative, 0, 2, -1},
		{"tiny negative", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[7*vmC+1] = -math.SmallestNonzeroFloat64
		}, featurecore.ErrNegative, 7, 1, -1},
		{"first bad value wins", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[9*vmC+3] = -1
			(*v)[9*vmC+1] = math.Inf(1)
			(*v)[10*vmC+0] = math.NaN()
		}, featurecore.ErrInfinite, 9, 1, -1},
		{"too short", func(_ *featurecore.Params, ts *[]int64, v *[]float64, _ *[]float32) {
			*ts, *v = (*ts)[:22], (*v)[:22*vmC]
		}, featurecore.ErrLength, -1, -1, -1},
		{"too long", func(_ *featurecore.Params, ts *[]int64, v *[]float64, _ *[]float32) {
			*ts = append(*ts, (*ts)[22]+300)
			*v = append(*v, 1, 2, 3, 4, 5, 6)
		}, featurecore.ErrLength, -1, -1, -1},
		{"empty", func(_ *featurecore.Params, ts *[]int64, v *[]float64, _ *[]float32) {
			*ts, *v = []int64{}, []float64{}
		}, featurecore.ErrLength, -1, -1, -1},
		{"nil", func(_ *featurecore.Params, ts *[]int64, v *[]float64, o *[]float32) {
			*ts, *v, *o = nil, nil, nil
		}, featurecore.ErrLength, -1, -1, -1},
		{"nil values", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			*v = nil
		}, featurecore.ErrLength, -1, -1, -1},
		{"values not ts x channels", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			*v = (*v)[:len(*v)-1]
		}, featurecore.ErrLength, -1, -1, -1},
		{"values one row short", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			*v = (*v)[:len(*v)-vmC]
		}, featurecore.ErrLength, -1, -1, -1},
		{"values one extra", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			*v = append(*v, 1)
		}, featurecore.ErrLength, -1, -1, -1},
		{"values of the link schema", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			*v = (*v)[:23*4]
		}, featurecore.ErrLength, -1, -1, -1},
		{"timestamps decrease", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			(*ts)[6] = (*ts)[5] - 300
		}, featurecore.ErrTimeOrder, 6, -1, -1},
		{"duplicate timestamp", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			(*ts)[20] = (*ts)[19]
		}, featurecore.ErrTimeOrder, 20, -1, -1},
		{"timestamps reversed", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			slices.Reverse(*ts)
		}, featurecore.ErrTimeOrder, 1, -1, -1},
		{"off the grid", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			(*ts)[10]++
		}, featurecore.ErrTimeGap, 10, -1, -1},
		{"missing step", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			for i := 15; i < len(*ts); i++ {
				(*ts)[i] += 300
			}
		}, featurecore.ErrTimeGap, 15, -1, -1},
		{"other step", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.StepSeconds = 60
		}, featurecore.ErrTimeGap, 1, -1, -1},
		{"time gap before bad value", func(_ *featurecore.Params, ts *[]int64, v *[]float64, _ *[]float32) {
			(*ts)[4]--
			(*v)[4*vmC] = math.NaN()
		}, featurecore.ErrTimeGap, 4, -1, -1},
		{"milliseconds", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			for i := range *ts {
				(*ts)[i] = (t2013 + int64(i)*300) * 1000
			}
		}, featurecore.ErrTimeRange, 0, -1, -1},
		{"negative first timestamp", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			for i := range *ts {
				(*ts)[i] = -300*23 + int64(i)*300
			}
		}, featurecore.ErrTimeRange, 0, -1, -1},
		{"ends at 9999-12-31T23:59:59Z", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			for i := range *ts {
				(*ts)[i] = featurecore.MaxTimestamp - int64(22-i)*300
			}
		}, nil, 0, 0, 0},
		{"one second after 9999", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			for i := range *ts {
				(*ts)[i] = featurecore.MaxTimestamp + 1 - int64(22-i)*300
			}
		}, featurecore.ErrTimeRange, 22, -1, -1},
		{"starts at the epoch", func(_ *featurecore.Params, ts *[]int64, _ *[]float64, _ *[]float32) {
			for i := range *ts {
				(*ts)[i] = int64(i) * 300
			}
		}, nil, 0, 0, 0},
		{"output one short", func(_ *featurecore.Params, _ *[]int64, _ *[]float64, o *[]float32) {
			*o = (*o)[:12*vmF-1]
		}, featurecore.ErrOutputSize, -1, -1, -1},
		{"output nil", func(_ *featurecore.Params, _ *[]int64, _ *[]float64, o *[]float32) {
			*o = nil
		}, featurecore.ErrOutputSize, -1, -1, -1},
		{"output larger", func(_ *featurecore.Params, _ *[]int64, _ *[]float64, o *[]float32) {
			*o = make([]float32, 1000)
		}, nil, 0, 0, 0},
		{"bad value before small output", func(_ *featurecore.Params, _ *[]int64, v *[]float64, o *[]float32) {
			(*v)[5] = -2
			*o = (*o)[:1]
		}, featurecore.ErrNegative, 0, 5, -1},
		{"seq_len 0", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.SeqLen = 0
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"seq_len negative", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.SeqLen = -12
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"seq_len 2^32+12 does not wrap to 12", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.SeqLen = 1<<32 + 12
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"seq_len above MaxLength", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.SeqLen = featurecore.MaxLength + 1
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"stat_window 1", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.StatWindow = 1
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"stat_window above MaxStatWindow", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.StatWindow = featurecore.MaxStatWindow + 1
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"stat_window 2^32+12", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.StatWindow = 1<<32 + 12
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"step_seconds 0", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.StepSeconds = 0
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"step_seconds above a day", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.StepSeconds = 86401
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"fill_limit above MaxLength", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.FillLimit = featurecore.MaxLength + 1
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"fill_limit negative", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.FillLimit = -1
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"scale 0", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Scale[3] = 0
		}, featurecore.ErrBadParams, -1, -1, 3},
		{"scale negative", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Scale[9] = -1
		}, featurecore.ErrBadParams, -1, -1, 9},
		{"scale +Inf", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Scale[0] = math.Inf(1)
		}, featurecore.ErrBadParams, -1, -1, 0},
		{"scale NaN", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Scale[12] = math.NaN()
		}, featurecore.ErrBadParams, -1, -1, 12},
		{"center NaN", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Center[13] = math.NaN()
		}, featurecore.ErrBadParams, -1, -1, 13},
		{"center -Inf", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Center[1] = math.Inf(-1)
		}, featurecore.ErrBadParams, -1, -1, 1},
		{"unused scale entry 0", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Scale[vmF] = 0
			p.Center[featurecore.MaxFeatures-1] = math.NaN()
		}, nil, 0, 0, 0},
		{"bad params before bad input", func(p *featurecore.Params, ts *[]int64, v *[]float64, _ *[]float32) {
			p.StatWindow = 1
			*ts, *v = nil, nil
		}, featurecore.ErrBadParams, -1, -1, -1},
		{"unknown schema", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Schema = 99
		}, featurecore.ErrUnknownSchema, -1, -1, -1},
		{"schema 0", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Schema = 0
		}, featurecore.ErrUnknownSchema, -1, -1, -1},
		{"negative schema", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Schema = -1
		}, featurecore.ErrUnknownSchema, -1, -1, -1},
		{"huge channel value", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[11*vmC+0] = 1e300 // sample 11 is the first row's own sample
		}, featurecore.ErrRange, 11, -1, 0},
		{"huge value in a later row", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[20*vmC+3] = math.MaxFloat64
		}, featurecore.ErrRange, 20, -1, 3},
		{"huge value behind the statistics only", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[2*vmC+0] = 1e300 // cpu_pct of sample 2 is not a row and not in the target
		}, nil, 0, 0, 0},
		{"huge target", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[3*vmC+4] = 1e300 // net_rx_kbs: target_mean of the first row overflows float32
		}, featurecore.ErrRange, 11, -1, 8},
		{"target sum overflows double", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[3*vmC+4] = math.MaxFloat64 // net_rx_kbs + net_tx_kbs = +Inf in double
			(*v)[3*vmC+5] = math.MaxFloat64
		}, featurecore.ErrRange, 11, -1, 8},
		{"largest double in a row", func(_ *featurecore.Params, _ *[]int64, v *[]float64, _ *[]float32) {
			(*v)[11*vmC+5] = math.MaxFloat64
		}, featurecore.ErrRange, 11, -1, 5},
		{"tiny scale", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Scale[4] = 1e-300
		}, featurecore.ErrRange, 11, -1, 4},
		{"huge center", func(p *featurecore.Params, _ *[]int64, _ *[]float64, _ *[]float32) {
			p.Center[6] = -1e39 // time_of_day - center does not fit float32
		}, featurecore.ErrRange, 11, -1, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := vm
			ts, values := slices.Clone(goodTS), slices.Clone(goodValues)
			out := make([]float32, p.WindowOutputLen())
			tc.edit(&p, &ts, &values, &out)
			err := p.Window(ts, values, out)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			fe := wantError(t, err, tc.want, "window", tc.index, tc.channel, tc.feature)
			schema := p.Schema
			if tc.channel >= 0 && fe.ChannelName != schema.Channels()[tc.channel] {
				t.Errorf("ChannelName = %q, want %q", fe.ChannelName, schema.Channels()[tc.channel])
			}
			if tc.feature >= 0 && fe.FeatureName != schema.Features()[tc.feature] {
				t.Errorf("FeatureName = %q, want %q", fe.FeatureName, schema.Features()[tc.feature])
			}
			if tc.channel < 0 && fe.ChannelName != "" || tc.feature < 0 && fe.FeatureName != "" {
				t.Errorf("names set for absent fields: %q %q", fe.ChannelName, fe.FeatureName)
			}
			// Windows reports the same error at the same place for a one-window trace.
			n, err2 := p.Windows(ts, values, 1, out)
			if tc.want != featurecore.ErrLength {
				if n != 0 {
					t.Errorf("Windows returned %d windows with an error", n)
				}
				wantError(t, err2, tc.want, "windows", tc.index, tc.channel, tc.feature)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, p.WindowInputLen(), t2013, 300, 5)
	out := make([]float32, p.WindowOutputLen())

	values[12*6+4] = math.NaN()
	err := p.Window(ts, values, out)
	want := `featurecore: window: sample 12, channel "net_rx_kbs": ` + featurecore.StatusMissing.Message()
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if !strings.HasPrefix(err.Error(), `featurecore: window: sample 12, channel "net_rx_kbs": missing sample (NaN) inside the window: `) {
		t.Errorf("unexpected wording: %v", err)
	}
	if !strings.Contains(err.Error(), "resample with fc_resample") {
		t.Errorf("message lost the C core's advice: %v", err)
	}

	values[12*6+4] = 1
	p.Scale[3] = 0
	err = p.Window(ts, values, out)
	want = `featurecore: window: feature "disk_write_kbs": parameters out of range: `
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got  %v\nwant %s...", err, want)
	}

	p.Scale[3] = 1
	err = p.Window(ts[:3], values[:18], out)
	want = "featurecore: window: input lengths disagree or are too short: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got  %v\nwant %s...", err, want)
	}

	ts[7] = ts[6] + 299
	if err = p.Window(ts, values, out); err == nil || !strings.HasPrefix(err.Error(), "featurecore: window: sample 7: timestamps are not exactly step_seconds apart") {
		t.Errorf("got %v", err)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		s        featurecore.Status
		name     string
		sentinel error
	}{
		{featurecore.StatusOK, "FC_OK", nil},
		{featurecore.StatusNullPointer, "FC_ERR_NULL_POINTER", featurecore.ErrNullPointer},
		{featurecore.StatusUnknownSchema, "FC_ERR_UNKNOWN_SCHEMA", featurecore.ErrUnknownSchema},
		{featurecore.StatusBadParams, "FC_ERR_BAD_PARAMS", featurecore.ErrBadParams},
		{featurecore.StatusLength, "FC_ERR_LENGTH", featurecore.ErrLength},
		{featurecore.StatusOutputSize, "FC_ERR_OUTPUT_SIZE", featurecore.ErrOutputSize},
		{featurecore.StatusMissing, "FC_ERR_MISSING", featurecore.ErrMissing},
		{featurecore.StatusInfinite, "FC_ERR_INFINITE", featurecore.ErrInfinite},
		{featurecore.StatusNegative, "FC_ERR_NEGATIVE", featurecore.ErrNegative},
		{featurecore.StatusTimeOrder, "FC_ERR_TIME_ORDER", featurecore.ErrTimeOrder},
		{featurecore.StatusTimeGap, "FC_ERR_TIME_GAP", featurecore.ErrTimeGap},
		{featurecore.StatusRange, "FC_ERR_RANGE", featurecore.ErrRange},
		{featurecore.StatusTimeRange, "FC_ERR_TIME_RANGE", featurecore.ErrTimeRange},
		{featurecore.StatusZeroCapacity, "FC_ERR_ZERO_CAPACITY", featurecore.ErrZeroCapacity},
		{featurecore.StatusEdgeOrder, "FC_ERR_EDGE_ORDER", featurecore.ErrEdgeOrder},
		{featurecore.StatusEmpty, "FC_ERR_EMPTY", featurecore.ErrEmpty},
		{featurecore.StatusConstant, "FC_ERR_CONSTANT", featurecore.ErrConstant},
		{featurecore.StatusTreeUnsupported, "FC_ERR_TREE_UNSUPPORTED", featurecore.ErrTreeUnsupported},
		{featurecore.StatusTreeShape, "FC_ERR_TREE_SHAPE", featurecore.ErrTreeShape},
	}
	seen := map[error]bool{}
	for i, tc := range tests {
		if int(tc.s) != i {
			t.Errorf("%s = %d, want %d", tc.name, tc.s, i)
		}
		if tc.s.String() != tc.name {
			t.Errorf("Status(%d).String() = %q, want %q", int(tc.s), tc.s.String(), tc.name)
		}
		if tc.s.Message() == "" {
			t.Errorf("%s: empty message", tc.name)
		}
		if tc.s.Err() != tc.sentinel {
			t.Errorf("%s.Err() = %v, want %v", tc.name, tc.s.Err(), tc.sentinel)
		}
		if tc.sentinel == nil {
			continue
		}
		if seen[tc.sentinel] {
			t.Errorf("%s: sentinel shared with another status", tc.name)
		}
		seen[tc.sentinel] = true
		if got := tc.sentinel.Error(); got != "featurecore: "+tc.s.Message() {
			t.Errorf("%s sentinel text %q", tc.name, got)
		}
		e := &featurecore.Error{Op: "x", Status: tc.s, Index: -1, Channel: -1, Feature: -1}
		for _, other := range tests[1:] {
			if got := errors.Is(e, other.sentinel); got != (other.s == tc.s) {
				t.Errorf("errors.Is(%s error, %s sentinel) = %v", tc.name, other.name, got)
			}
		}
		if errors.Unwrap(e) != tc.sentinel {
			t.Errorf("%s: Unwrap = %v", tc.name, errors.Unwrap(e))
		}
	}
	for _, s := range []featurecore.Status{-1, featurecore.StatusTreeShape + 1, 1000} {
		if s.String() != "FC_ERR_UNKNOWN_STATUS" || s.Message() != "unknown status code" || s.Err() == nil {
			t.Errorf("Status(%d): %q %q %v", int(s), s.String(), s.Message(), s.Err())
		}
		e := &featurecore.Error{Status: s, Index: -1, Channel: -1, Feature: -1}
		for _, other := range tests[1:] {
			if errors.Is(e, other.sentinel) {
				t.Errorf("unknown status %d matches %s", int(s), other.name)
			}
		}
	}
}

// TestNegativeTimestampLater: a negative timestamp after a valid first sample is outside
// 0 .. MaxTimestamp: ErrTimeRange at its index, like a negative first timestamp, one after
// 9999 at any index, and Grid/Resample (the core once reported ErrTimeGap here and, for
// INT64_MIN, computed ts[i] - ts[i-1] with signed overflow; fixed in b999aae).
func TestNegativeTimestampLater(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaLink)
	ts, values := trace(featurecore.SchemaLink, p.WindowInputLen(), t2013, 300, 31)
	out := make([]float32, p.WindowOutputLen())
	for _, bad := range []int64{-300, -1, math.MinInt64 + 1, math.MinInt64} {
		q := slices.Clone(ts)
		q[2] = bad
		wantError(t, p.Window(q, values, out), featurecore.ErrTimeRange, "window", 2, -1, -1)
		_, err := p.Windows(q, values, 1, out)
		wantError(t, err, featurecore.ErrTimeRange, "windows", 2, -1, -1)
	}
}
