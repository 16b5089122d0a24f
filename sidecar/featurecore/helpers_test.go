package featurecore_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// t2013 is 2013-07-01T00:00:00Z, the start of the Bitbrains traces (a Monday).
const t2013 = 1372636800

// trace returns n samples of schema on the grid start + i*step: realistic, deterministic
// values (VM: CPU and memory percentages, disk and network KB/s with bursts; link:
// bandwidth, latency, loss ratio, jitter).
func trace(schema featurecore.Schema, n int, start, step int64, seed uint64) ([]int64, []float64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	c := schema.NumChannels()
	ts := make([]int64, n)
	values := make([]float64, n*c)
	for i := range n {
		ts[i] = start + int64(i)*step
		row := values[i*c : (i+1)*c]
		day := math.Sin(2 * math.Pi * float64(ts[i]%86400) / 86400) // test data only, never a feature
		switch schema {
		case featurecore.SchemaVM:
			row[0] = 20 + 15*day + 10*r.Float64() // cpu_pct
			row[1] = 40 + 5*r.Float64()           // mem_pct
			row[2] = 100 * r.ExpFloat64()         // disk_read_kbs
			row[3] = 300 * r.ExpFloat64()         // disk_write_kbs
			row[4] = 50 + 20*day + 30*r.Float64() // net_rx_kbs
			row[5] = 10 + 5*r.Float64()           // net_tx_kbs
			if r.IntN(20) == 0 {                  // a burst
				row[4] *= 40
			}
		case featurecore.SchemaLink:
			row[0] = 900 + 50*day + 30*r.NormFloat64()
			row[1] = 12 + 3*r.Float64()
			row[2] = 0.001 * r.Float64()
			row[3] = 0.5 + r.Float64()
		default:
			for j := range row {
				row[j] = r.Float64()
			}
		}
		for j := range row {
			row[j] = math.Abs(row[j])
		}
	}
	return ts, values
}

// wantError asserts that err is an *Error with the given sentinel and location.
func wantError(t *testing.T, err error, sentinel error, op string, index int64, channel, feature int) *featurecore.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
	var fe *featurecore.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %T is not *featurecore.Error: %v", err, err)
	}
	if fe.Op != op || fe.Index != index || fe.Channel != channel || fe.Feature != feature {
		t.Fatalf("error fields: got op %q index %d channel %d feature %d, want %q %d %d %d (%v)",
			fe.Op, fe.Index, fe.Channel, fe.Feature, op, index, channel, feature, err)
	}
	if fe.Status.Err() != sentinel {
		t.Fatalf("Status %v: Err() = %v, want %v", fe.Status, fe.Status.Err(), sentinel)
	}
	return fe
}

// sameBits reports the first float32 whose bits differ, or -1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
