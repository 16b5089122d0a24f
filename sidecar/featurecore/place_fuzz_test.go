package featurecore_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// FuzzPlaceFactors feeds arbitrary host counts, histories, params, values and lengths to
// PlaceFactors. Whatever the input: no panic or crash, and either an *Error with a known
// status and an in-range location (host, column, factor, with names), or finite factors
// whose every row equals PlaceFactors on that host alone.
//
// edits is read in 11-byte records: array (kind%7, in PlaceInput order), position (2
// bytes), 8 bytes of payload set as float64 bits.
func FuzzPlaceFactors(f *testing.F) {
	le := binary.LittleEndian
	rec := func(array byte, pos uint16, v float64) []byte {
		b := []byte{array, 0, 0}
		le.PutUint16(b[1:], pos)
		return le.AppendUint64(b, math.Float64bits(v))
	}
	// hosts, history, step, seed, flags, edits
	f.Add(uint8(3), int32(12), int64(300), uint64(1), uint8(0), []byte{})
	f.Add(uint8(1), int32(2), int64(60), uint64(2), uint8(0), []byte{})
	f.Add(uint8(0), int32(12), int64(300), uint64(3), uint8(0), []byte{})
	f.Add(uint8(20), int32(36), int64(300), uint64(4), uint8(0), []byte{})
	f.Add(uint8(3), int32(12), int64(300), uint64(5), uint8(0), rec(5, 40, math.NaN()))
	f.Add(uint8(3), int32(12), int64(300), uint64(6), uint8(0), rec(3, 6, 0))
	f.Add(uint8(3), int32(12), int64(300), uint64(7), uint8(0), rec(0, 1, math.Inf(-1)))
	f.Add(uint8(3), int32(12), int64(300), uint64(8), uint8(0), rec(6, 20, -1))
	f.Add(uint8(3), int32(12), int64(300), uint64(9), uint8(0), rec(5, 7, 1e300))
	f.Add(uint8(3), int32(12), int64(300), uint64(10), uint8(0), rec(1, 3, 5e-324))
	f.Add(uint8(2), int32(1), int64(0), uint64(11), uint8(0), []byte{})
	f.Add(uint8(3), int32(12), int64(300), uint64(12), uint8(1), []byte{})
	f.Add(uint8(3), int32(12), int64(300), uint64(13), uint8(2), []byte{})
	f.Add(uint8(3), int32(12), int64(300), uint64(14), uint8(3), []byte{})

	f.Fuzz(func(t *testing.T, hosts uint8, history int32, step int64, seed uint64, flags uint8, edits []byte) {
		n := int(hosts % 40)
		p := featurecore.PlaceParams{History: int(history), StepSeconds: step}
		h := int(history)
		if h < 2 || h > 300 {
			h = 12 // shape the arrays for a valid history; the core judges p.History
		}
		in := placeInput(n, h, seed)
		arrays := []*[]float64{&in.VMRequest, &in.VMHistory, &in.VMInfo, &in.HostCapacity,
			&in.HostAllocated, &in.HostUsage, &in.HostInfo}
		for len(edits) >= 11 {
			a, pos, v := arrays[edits[0]%7], int(le.Uint16(edits[1:3])), math.Float64frombits(le.Uint64(edits[3:11]))
			edits = edits[11:]
			if len(*a) > 0 {
				(*a)[pos%len(*a)] = v
			}
		}
		switch flags % 4 {
		case 1: // one array a value too long
			*arrays[int(seed%7)] = append(*arrays[int(seed%7)], 1)
		case 2: // one array a value short
			if a := arrays[int(seed%7)]; len(*a) > 0 {
				*a = (*a)[:len(*a)-1]
			}
		case 3: // a host count that disagrees with the arrays
			in.Hosts++
		}
		outLen := featurecore.PlaceOutputLen(max(in.Hosts, 0))
		if flags&4 != 0 && outLen > 0 {
			outLen--
		}
		out := make([]float32, outLen)
		err := featurecore.PlaceFactors(p, in, out)
		if err != nil {
			checkPlaceError(t, err, in.Hosts)
			return
		}
		F := featurecore.PlaceFactorCount
		for i, x := range out[:n*F] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("out[%d] (host %d, %s) = %v", i, i/F, featurecore.PlaceFactorName(i%F), x)
			}
		}
		one := make([]float32, F)
		for host := range min(n, 3) {
			single := &featurecore.PlaceInput{
				VMRequest: in.VMRequest, VMHistory: in.VMHistory, VMInfo: in.VMInfo, Hosts: 1,
				HostCapacity:  in.HostCapacity[host*placeR : (host+1)*placeR],
				HostAllocated: in.HostAllocated[host*placeR : (host+1)*placeR],
				HostUsage:     in.HostUsage[host*h*placeR : (host+1)*h*placeR],
				HostInfo:      in.HostInfo[host*featurecore.PlaceHostInfo : (host+1)*featurecore.PlaceHostInfo],
			}
			if err := featurecore.PlaceFactors(p, single, one); err != nil {
				t.Fatalf("host %d alone: %v", host, err)
			}
			if k := sameBits(one, out[host*F:(host+1)*F]); k >= 0 {
				t.Fatalf("host %d alone differs at %s", host, featurecore.PlaceFactorName(k))
			}
		}
	})
}

func checkPlaceError(t *testing.T, err error, hosts int) {
	t.Helper()
	var fe *featurecore.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %T is not *featurecore.Error: %v", err, err)
	}
	switch fe.Status {
	case featurecore.StatusBadParams, featurecore.StatusLength, featurecore.StatusOutputSize,
		featurecore.StatusMissing, featurecore.StatusInfinite, featurecore.StatusNegative,
		featurecore.StatusRange, featurecore.StatusZeroCapacity:
	default:
		t.Fatalf("unexpected status %v: %v", fe.Status, err)
	}
	if !errors.Is(err, fe.Status.Err()) || fe.Op != "place" {
		t.Fatalf("errors.Is(%v, %v) false or op %q", err, fe.Status.Err(), fe.Op)
	}
	if fe.Index < -1 || fe.Index >= int64(max(hosts, 1)) ||
		fe.Channel < -1 || fe.Channel >= featurecore.PlaceColumns ||
		fe.Feature < -1 || fe.Feature >= featurecore.PlaceFactorCount {
		t.Fatalf("error location out of range (%d hosts): %+v", hosts, fe)
	}
	if (fe.Channel >= 0) != (fe.ChannelName != "") || (fe.Feature >= 0) != (fe.FeatureName != "") ||
		(fe.Feature >= 0) != (fe.Status == featurecore.StatusRange) {
		t.Fatalf("error names: %+v", fe)
	}
	_ = err.Error()
}
