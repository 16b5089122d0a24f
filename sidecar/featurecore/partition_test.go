package featurecore_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// secs is the core's time formula at run time (a constant expression would be folded
// exactly, not in float64 steps).
func secs(size, w, total float64) float64 { return size * 8 * w / 1e6 / total }

func TestPartitionChunks(t *testing.T) {
	def := featurecore.DefaultPartitionParams()
	if def.FECOverhead != featurecore.PartitionDefaultFECOverhead || def.MaxStreams != featurecore.PartitionMaxStreams {
		t.Fatalf("DefaultPartitionParams() = %+v", def)
	}
	fec := def
	fec.FECOverhead = 0.25
	tests := []struct {
		name    string
		p       featurecore.PartitionParams
		bw      []float64
		min     float64
		size    uint64
		fec     bool
		chunks  []uint64
		used    []bool
		seconds float64
	}{
		{"proportional", def, []float64{10, 20, 30}, 0, 600, false, []uint64{100, 200, 300}, []bool{true, true, true}, secs(600, 1, 60)},
		{"ties to lower index", def, []float64{1, 1, 1}, 0, 100, false, []uint64{34, 33, 33}, []bool{true, true, true}, secs(100, 1, 3)},
		{"largest fraction", def, []float64{10, 20, 30}, 0, 7, false, []uint64{1, 2, 4}, []bool{true, true, true}, secs(7, 1, 60)},
		{"gate", def, []float64{5, 50, 0, 100}, 10, 1000, false, []uint64{0, 333, 0, 667}, []bool{false, true, false, true}, secs(1000, 1, 150)},
		{"fec scales time only", fec, []float64{10, 20, 30}, 0, 600, true, []uint64{100, 200, 300}, []bool{true, true, true}, secs(600, 1.25, 60)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := featurecore.PartitionChunks(tc.p, tc.bw, tc.min, tc.size, tc.fec)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Chunks) != fmt.Sprint(tc.chunks) || fmt.Sprint(got.Used) != fmt.Sprint(tc.used) {
				t.Errorf("chunks %v used %v, want %v %v", got.Chunks, got.Used, tc.chunks, tc.used)
			}
			if got.ExpectedSeconds != tc.seconds {
				t.Errorf("seconds %v, want %v", got.ExpectedSeconds, tc.seconds)
			}
		})
	}
}

func TestPartitionErrors(t *testing.T) {
	def := featurecore.DefaultPartitionParams()
	one := def
	one.MaxStreams = 1
	neg := def
	neg.MaxStreams = -1
	badFEC := def
	badFEC.FECOverhead = math.NaN()
	tests := []struct {
		name     string
		p        featurecore.PartitionParams
		bw       []float64
		min      float64
		size     uint64
		sentinel error
		index    int64
		arg      string
	}{
		{"nan forecast", def, []float64{1, math.NaN()}, 0, 10, featurecore.ErrMissing, 1, "forecast_mbps"},
		{"inf forecast", def, []float64{math.Inf(1)}, 0, 10, featurecore.ErrInfinite, 0, "forecast_mbps"},
		{"negative forecast", def, []float64{1, -1}, 0, 10, featurecore.ErrNegative, 1, "forecast_mbps"},
		{"all dead", def, []float64{0, 0}, 0, 10, featurecore.ErrEmpty, -1, "forecast_mbps"},
		{"all below gate", def, []float64{1, 2}, 3, 10, featurecore.ErrEmpty, -1, "forecast_mbps"},
		{"size zero", def, []float64{1}, 0, 0, featurecore.ErrEmpty, -1, "size_bytes"},
		{"size too large", def, []float64{1}, 0, featurecore.PartitionMaxBytes + 1, featurecore.ErrRange, -1, "size_bytes"},
		{"no streams", def, nil, 0, 10, featurecore.ErrLength, -1, "forecast_mbps"},
		{"min nan", def, []float64{1}, math.NaN(), 10, featurecore.ErrMissing, -1, "min_bandwidth_mbps"},
		{"too many streams", one, []float64{1, 2}, 0, 10, featurecore.ErrBadParams, -1, "forecast_mbps"},
		{"max streams negative", neg, []float64{1}, 0, 10, featurecore.ErrBadParams, -1, "params"},
		{"fec nan", badFEC, []float64{1}, 0, 10, featurecore.ErrBadParams, -1, "params"},
		{"sum overflow", def, []float64{math.MaxFloat64, math.MaxFloat64}, 0, 10, featurecore.ErrRange, -1, "forecast_mbps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := featurecore.PartitionChunks(tc.p, tc.bw, tc.min, tc.size, false)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err %v, want %v", err, tc.sentinel)
			}
			var fe *featurecore.Error
			if !errors.As(err, &fe) || fe.Op != "partition" || fe.Index != tc.index || fe.ChannelName != tc.arg {
				t.Fatalf("err %#v, want op partition, index %d, argument %q", err, tc.index, tc.arg)
			}
			want := "featurecore: partition: "
			if tc.index >= 0 {
				want += fmt.Sprintf("stream %d, ", tc.index)
			}
			if want += fmt.Sprintf("argument %q", tc.arg); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q, want it to start %q", err, want)
			}
		})
	}
	// short caller buffers
	_, err := featurecore.PartitionChunksInto(def, []float64{1, 2}, 0, 10, false, make([]uint64, 1), make([]uint8, 2))
	if !errors.Is(err, featurecore.ErrOutputSize) {
		t.Errorf("short chunks: %v", err)
	}
}

// TestPartitionInvariants: on seeded random forecasts the chunks sum to the size exactly,
// unusable streams get nothing and every chunk is within a byte of its exact quota.
func TestPartitionInvariants(t *testing.T) {
	def := featurecore.DefaultPartitionParams()
	s := uint64(7)
	next := func() uint64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
	for k := 0; k < 2000; k++ {
		n := 1 + int(next()%50)
		bw := make([]float64, n)
		for i := range bw {
			if next()%5 == 0 {
				continue
			}
			bw[i] = float64(next()%1000000) / 1000
		}
		bw[0] += 0.5
		size := 1 + next()%(1<<45)
		got, err := featurecore.PartitionChunks(def, bw, 0, size, false)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		var total float64
		for i := range bw {
			if bw[i] > 0 {
				total += bw[i]
			}
		}
		for i, c := range got.Chunks {
			sum += c
			if !got.Used[i] && c != 0 {
				t.Fatalf("unusable stream %d got %d bytes", i, c)
			}
			if got.Used[i] {
				q := float64(size) * (bw[i] / total)
				if d := float64(c) - q; d <= -1-float64(size)*1e-15 || d >= 1+float64(size)*1e-15 {
					t.Fatalf("stream %d: chunk %d, quota %g", i, c, q)
				}
			}
		}
		if sum != size {
			t.Fatalf("chunks sum to %d, want %d", sum, size)
		}
	}
}

func ExamplePartitionChunks() {
	p := featurecore.DefaultPartitionParams()
	got, err := featurecore.PartitionChunks(p, []float64{100, 400, 5}, 10, 1_000_000, false)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Chunks, got.Used, got.ExpectedSeconds)
	// Output: [200000 800000 0] [true true false] 0.016
}

func BenchmarkPartitionChunksInto(b *testing.B) {
	p := featurecore.DefaultPartitionParams()
	for _, n := range []int{4, 64} {
		bw := make([]float64, n)
		for i := range bw {
			bw[i] = 10 + float64(i*37%101)
		}
		chunks := make([]uint64, n)
		used := make([]uint8, n)
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := featurecore.PartitionChunksInto(p, bw, 0, 1<<30+7, false, chunks, used); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
