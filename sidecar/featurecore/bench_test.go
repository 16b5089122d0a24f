package featurecore_test

import (
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// BenchmarkWindow is the serving hot path: one 12-step window of the VM schema with
// default params on realistic values, through cgo into a reused output buffer.
func BenchmarkWindow(b *testing.B) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, p.WindowInputLen(), t2013, 300, 42)
	out := make([]float32, p.WindowOutputLen())
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Window(ts, values, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindowLink is the same for the 4-channel link schema.
func BenchmarkWindowLink(b *testing.B) {
	p := featurecore.DefaultParams(featurecore.SchemaLink)
	ts, values := trace(featurecore.SchemaLink, p.WindowInputLen(), t2013, 300, 42)
	out := make([]float32, p.WindowOutputLen())
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Window(ts, values, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindowsTrace computes every window (stride 1) of a 30-day trace of 5-minute
// samples (8,640 samples, 8,618 windows) in one call, as training does.
func BenchmarkWindowsTrace(b *testing.B) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, 8640, t2013, 300, 42)
	count := p.WindowsCount(len(ts), 1)
	out := make([]float32, count*p.WindowOutputLen())
	b.ReportAllocs()
	for b.Loop() {
		n, err := p.Windows(ts, values, 1, out)
		if err != nil || n != count {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(count)*float64(b.N)/b.Elapsed().Seconds(), "windows/s")
}

// BenchmarkWindowError measures the error path (an *Error is allocated).
func BenchmarkWindowError(b *testing.B) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, p.WindowInputLen(), t2013, 300, 42)
	values[20*6+4] = -1
	out := make([]float32, p.WindowOutputLen())
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Window(ts, values, out); err == nil {
			b.Fatal("no error")
		}
	}
}

// BenchmarkResample averages a day of 1-minute raw samples onto the 5-minute grid.
func BenchmarkResample(b *testing.B) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	ts, values := trace(featurecore.SchemaVM, 1440, t2013, 60, 42)
	t0, nBins, err := p.Grid(ts)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float64, nBins*6)
	counts := make([]uint32, nBins)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Resample(t0, nBins, ts, values, out, counts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallOverhead is the cost of the binding alone: a successful Windows call on an
// empty trace (params converted and checked by the core, cgo transition, no features).
func BenchmarkCallOverhead(b *testing.B) {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := p.Windows(nil, nil, 1, nil); n != 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkPlaceFactors1000 is the placement hot path: the factors of one VM against 1,000
// candidate hosts with the default hour of history, in one call into a reused buffer
// (PlaceVM's budget is 5 ms p99 for 1,000 hosts, the model included). Reports ns per host.
func BenchmarkPlaceFactors1000(b *testing.B) {
	benchPlace(b, 1000, featurecore.DefaultPlaceParams())
}

// BenchmarkPlaceFactors1000Day is the same with a day of history (H = 288).
func BenchmarkPlaceFactors1000Day(b *testing.B) {
	benchPlace(b, 1000, featurecore.PlaceParams{History: 288, StepSeconds: 300})
}

// BenchmarkPlaceFactors1 is one candidate host: the fixed cost of a call.
func BenchmarkPlaceFactors1(b *testing.B) {
	benchPlace(b, 1, featurecore.DefaultPlaceParams())
}

func benchPlace(b *testing.B, hosts int, p featurecore.PlaceParams) {
	in := placeInput(hosts, p.History, 42)
	out := make([]float32, featurecore.PlaceOutputLen(hosts))
	b.ReportAllocs()
	for b.Loop() {
		if err := featurecore.PlaceFactors(p, in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(hosts), "ns/host")
}
