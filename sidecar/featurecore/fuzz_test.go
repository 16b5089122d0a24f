package featurecore_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// FuzzWindows feeds arbitrary trace lengths, values, timestamps and params to Windows and
// Window. Whatever the input: no panic or crash, and either an *Error with a known status
// and in-range location, or a batch whose every window equals a single Window call.
//
// edits is read in 11-byte records: kind, position (2 bytes), 8 bytes of payload. kind%4:
// 0 sets a value to the payload's float64 bits, 1 sets a timestamp to the payload's int64,
// 2 shifts a timestamp by a small amount, 3 sets Center or Scale of a feature.
func FuzzWindows(f *testing.F) {
	le := binary.LittleEndian
	rec := func(kind byte, pos uint16, payload uint64) []byte {
		b := []byte{kind, 0, 0}
		le.PutUint16(b[1:], pos)
		return le.AppendUint64(b, payload)
	}
	cat := func(recs ...[]byte) []byte {
		var b []byte
		for _, r := range recs {
			b = append(b, r...)
		}
		return b
	}
	// schema, seqLen, statWindow, step, stride, start, n, seed, flags, edits
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(23), uint64(1), uint8(0), []byte{})
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(200), uint64(2), uint8(0), []byte{})
	f.Add(int8(2), int32(3), int32(2), int64(60), int32(4), int64(0), uint16(90), uint64(3), uint8(0), []byte{})
	f.Add(int8(2), int32(1), int32(2), int64(86400), int32(1), int64(featurecore.MaxTimestamp-86400*40), uint16(40), uint64(4), uint8(0), []byte{})
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(60), uint64(5), uint8(0),
		rec(0, 30*6+4, math.Float64bits(math.NaN())))
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(2), int64(t2013), uint16(60), uint64(6), uint8(0),
		cat(rec(0, 7, math.Float64bits(math.Inf(-1))), rec(0, 8, math.Float64bits(-1))))
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(60), uint64(7), uint8(0),
		rec(0, 40*6, math.Float64bits(1e300)))
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013)*1000, uint16(30), uint64(8), uint8(0), []byte{})
	f.Add(int8(2), int32(4), int32(4), int64(300), int32(1), int64(-3000), uint16(30), uint64(9), uint8(0), []byte{})
	f.Add(int8(2), int32(4), int32(4), int64(300), int32(1), int64(t2013), uint16(30), uint64(10), uint8(0),
		rec(1, 9, 1<<63)) // math.MinInt64 timestamp after a valid one
	f.Add(int8(1), int32(4), int32(4), int64(300), int32(1), int64(t2013), uint16(30), uint64(11), uint8(0),
		cat(rec(2, 5, 1), rec(2, 9, 0xffff)))
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(30), uint64(12), uint8(0),
		cat(rec(3, 3, math.Float64bits(1e-300)), rec(3, 0x100|13, math.Float64bits(math.NaN()))))
	f.Add(int8(1), int32(0), int32(1), int64(0), int32(0), int64(t2013), uint16(30), uint64(13), uint8(0), []byte{})
	f.Add(int8(7), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(30), uint64(14), uint8(0), []byte{})
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(40), uint64(15), uint8(1), []byte{})
	f.Add(int8(1), int32(12), int32(12), int64(300), int32(1), int64(t2013), uint16(40), uint64(16), uint8(2), []byte{})
	f.Add(int8(2), int32(-5), int32(1<<31-1), int64(-300), int32(-7), int64(math.MinInt64), uint16(0), uint64(17), uint8(3), []byte{0xff})

	f.Fuzz(func(t *testing.T, schemaID int8, seqLen, statWindow int32, step int64, stride int32, start int64,
		n uint16, seed uint64, flags uint8, edits []byte) {
		schema := featurecore.Schema(schemaID)
		p := featurecore.DefaultParams(schema)
		p.SeqLen, p.StatWindow, p.StepSeconds = int(seqLen), int(statWindow), step
		c := max(schema.NumChannels(), 1)
		count := int(n % 320)
		ts, values := trace(schema, count, start, step, seed) // start + i*step may wrap: fine
		if schema.NumChannels() == 0 {
			values = values[:0]
		}
		for len(edits) >= 11 {
			kind, pos, payload := edits[0]%4, int(le.Uint16(edits[1:3])), le.Uint64(edits[3:11])
			edits = edits[11:]
			switch kind {
			case 0:
				if len(values) > 0 {
					values[pos%len(values)] = math.Float64frombits(payload)
				}
			case 1:
				if len(ts) > 0 {
					ts[pos%len(ts)] = int64(payload)
				}
			case 2:
				if len(ts) > 0 {
					ts[pos%len(ts)] += int64(int16(payload))
				}
			case 3:
				v := math.Float64frombits(payload)
				if pos&0x100 != 0 {
					p.Center[pos%featurecore.MaxFeatures] = v
				} else {
					p.Scale[pos%featurecore.MaxFeatures] = v
				}
			}
		}
		switch flags % 4 {
		case 1: // values length not ts x channels
			values = append(values, 1)
		case 2: // drop a row's worth at the end
			values = values[:len(values)-min(len(values), c)]
		}
		tooSmall := flags&4 != 0

		outLen := p.WindowsCount(len(ts), int(stride)) * p.WindowOutputLen()
		if tooSmall && outLen > 0 {
			outLen--
		}
		out := make([]float32, outLen)
		got, err := p.Windows(ts, values, int(stride), out)
		if err != nil {
			checkFuzzError(t, err, "windows", schema, len(ts))
			if got != 0 {
				t.Fatalf("Windows returned %d windows and %v", got, err)
			}
		} else {
			if got != p.WindowsCount(len(ts), int(stride)) {
				t.Fatalf("Windows = %d windows, WindowsCount = %d", got, p.WindowsCount(len(ts), int(stride)))
			}
			checkWindowsMatchWindow(t, &p, ts, values, int(stride), out, got)
		}

		// Window on the whole input, whatever its length.
		one := make([]float32, p.WindowOutputLen())
		if err := p.Window(ts, values, one); err != nil {
			checkFuzzError(t, err, "window", schema, len(ts))
		} else if len(ts) != p.WindowInputLen() {
			t.Fatalf("Window accepted %d samples, WindowInputLen %d", len(ts), p.WindowInputLen())
		}
	})
}

func checkFuzzError(t *testing.T, err error, op string, schema featurecore.Schema, nSamples int) {
	t.Helper()
	var fe *featurecore.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %T is not *featurecore.Error: %v", err, err)
	}
	if fe.Status <= featurecore.StatusOK || fe.Status > featurecore.StatusTimeRange {
		t.Fatalf("unknown status %d: %v", int(fe.Status), err)
	}
	if fe.Status == featurecore.StatusNullPointer {
		t.Fatalf("the binding passed a NULL pointer with a length: %v", err)
	}
	if !errors.Is(err, fe.Status.Err()) || fe.Op != op {
		t.Fatalf("errors.Is(%v, %v) false or op %q", err, fe.Status.Err(), fe.Op)
	}
	if fe.Index < -1 || fe.Index >= int64(max(nSamples, 0)) ||
		fe.Channel < -1 || fe.Channel >= max(schema.NumChannels(), 0) ||
		fe.Feature < -1 || fe.Feature >= featurecore.MaxFeatures {
		t.Fatalf("error location out of range (%d samples): %+v", nSamples, fe)
	}
	if fe.Channel >= 0 && fe.ChannelName == "" || fe.Feature >= 0 && schema.NumFeatures() > 0 && fe.FeatureName == "" {
		t.Fatalf("error without names: %+v", fe)
	}
	_ = err.Error()
}
