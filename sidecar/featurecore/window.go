package featurecore

// #include "feature_core.h"
import "C"

import "unsafe"

// Slices are passed to C in place (zero copy): a pointer to the first element and the
// length. They hold no Go pointers, so the cgo pointer rules allow it; an empty or nil
// slice is passed as NULL with length 0, which the core accepts and judges by length.

func i64ptr(s []int64) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0]))
}

func f64ptr(s []float64) *C.double {
	if len(s) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&s[0]))
}

func f32ptr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func u32ptr(s []uint32) *C.uint32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint32_t)(unsafe.Pointer(&s[0]))
}

// size converts a Go length or count to size_t; a negative value (only possible for
// arguments that are not slice lengths) becomes 0.
func size(n int) C.size_t {
	if n < 0 {
		return 0
	}
	return C.size_t(n)
}

// Window computes the features of one window for serving (fc_window).
//
// ts holds exactly WindowInputLen() timestamps (Unix seconds, UTC, strictly increasing,
// exactly StepSeconds apart) and values the samples row-major: len(ts) rows of
// Schema.NumChannels() values, every one finite and >= 0. Window writes SeqLen rows of
// Schema.NumFeatures() float32s to the start of out, which must hold at least
// WindowOutputLen() of them. Row r is the step ending at sample StatWindow-1+r.
//
// Nothing is copied or allocated. On error out holds unspecified values and the *Error
// names the first bad sample, channel or feature.
func (p *Params) Window(ts []int64, values []float64, out []float32) error {
	var cp C.fc_params
	p.toC(&cp)
	ce := noError()
	st := C.fc_window(&cp,
		i64ptr(ts), C.size_t(len(ts)),
		f64ptr(values), C.size_t(len(values)),
		f32ptr(out), C.size_t(len(out)), &ce)
	if st != C.FC_OK {
		return newError("window", p.Schema, st, &ce)
	}
	return nil
}

// Windows computes every window of a trace for training or replay (fc_windows): window k
// covers samples [k*stride, k*stride + WindowInputLen()) and is written to
// out[k*WindowOutputLen():], exactly as Window would write it. It returns the number of
// windows, WindowsCount(len(ts), stride); 0 windows (a trace shorter than one window) is
// not an error. The whole trace is validated first, with the same rules as Window; error
// indexes are sample indexes into ts. A stride < 1 is an error matching ErrBadParams.
func (p *Params) Windows(ts []int64, values []float64, stride int, out []float32) (int, error) {
	var cp C.fc_params
	p.toC(&cp)
	ce := noError()
	var n C.size_t
	st := C.fc_windows(&cp,
		i64ptr(ts), C.size_t(len(ts)),
		f64ptr(values), C.size_t(len(values)),
		size(stride),
		f32ptr(out), C.size_t(len(out)), &n, &ce)
	if st != C.FC_OK {
		return 0, newError("windows", p.Schema, st, &ce)
	}
	return int(n), nil
}
