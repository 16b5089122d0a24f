package featurecore

// #include "feature_core.h"
import "C"

import (
	"math"
	"unsafe"
)

// Params are the window parameters (fc_params). Every field travels in the model bundle:
// a model must be served with the Params it was trained with. Start from DefaultParams
// and change what differs. Params is a plain value: copying it copies Center and Scale.
//
// The C core validates Params on every call; out-of-range values give an *Error matching
// ErrBadParams (or ErrUnknownSchema), with Feature set for a bad Center/Scale entry.
type Params struct {
	Schema      Schema
	SeqLen      int   // T: steps (rows) per window, 1..MaxLength
	StatWindow  int   // W: trailing samples behind the 6 statistical features, 2..MaxStatWindow
	StepSeconds int64 // spacing of the sample grid in seconds, 1..86400
	FillLimit   int   // Resample: empty bins carried forward, 0..MaxLength

	// Normalisation per feature: normalised = (feature - Center[f]) / Scale[f], for f below
	// Schema.NumFeatures() (later entries are ignored). Every used Center must be finite,
	// every used Scale finite and > 0.
	Center [MaxFeatures]float64
	Scale  [MaxFeatures]float64
}

// DefaultParams returns the core's defaults for schema (fc_params_init): SeqLen 12,
// StatWindow 12 (1 hour of 5-minute samples), StepSeconds 300, FillLimit 2 and the
// identity normalisation (Center 0, Scale 1). It does not fail: with an unknown schema,
// every call made with the result returns an error matching ErrUnknownSchema.
func DefaultParams(schema Schema) Params {
	var cp C.fc_params
	if C.fc_params_init(&cp, C.fc_schema_id(schema)) != C.FC_OK {
		// Unknown schema: the defaults do not depend on the schema; keep the id so the
		// core rejects it where the Params are used.
		C.fc_params_init(&cp, C.FC_SCHEMA_VM)
		cp.schema = C.int32_t(schema)
	}
	p := Params{
		Schema:      Schema(cp.schema),
		SeqLen:      int(cp.seq_len),
		StatWindow:  int(cp.stat_window),
		StepSeconds: int64(cp.step_seconds),
		FillLimit:   int(cp.fill_limit),
	}
	p.Center = *(*[MaxFeatures]float64)(unsafe.Pointer(&cp.center))
	p.Scale = *(*[MaxFeatures]float64)(unsafe.Pointer(&cp.scale))
	return p
}

// toC fills the C parameter struct. Go ints that do not fit the C field become a value the
// core rejects with FC_ERR_BAD_PARAMS, so the core alone decides what is valid (a
// SeqLen of 1<<32 + 12 must not wrap to 12).
func (p *Params) toC(cp *C.fc_params) {
	cp.schema = C.int32_t(p.Schema)
	cp.seq_len = u32(p.SeqLen, 0)                                    // 0 < 1: rejected
	cp.stat_window = u32(p.StatWindow, 0)                            // 0 < 2: rejected
	cp.step_seconds = C.int64_t(p.StepSeconds)                       // same type as C
	cp.fill_limit = u32(p.FillLimit, math.MaxUint32)                 // > FC_MAX_LENGTH: rejected
	cp.center = *(*[MaxFeatures]C.double)(unsafe.Pointer(&p.Center)) // float64 and C.double are both IEEE binary64
	cp.scale = *(*[MaxFeatures]C.double)(unsafe.Pointer(&p.Scale))
}

func u32(v int, invalid uint32) C.uint32_t {
	if v < 0 || uint64(v) > math.MaxUint32 {
		return C.uint32_t(invalid)
	}
	return C.uint32_t(v)
}

// Check validates every field (fc_params_check). The compute calls check them too.
func (p *Params) Check() error {
	var cp C.fc_params
	p.toC(&cp)
	ce := noError()
	if st := C.fc_params_check(&cp, &ce); st != C.FC_OK {
		return newError("params", p.Schema, st, &ce)
	}
	return nil
}

// WindowInputLen returns the samples one window needs: SeqLen + StatWindow - 1
// (fc_window_input_len); 0 when the Params are invalid.
func (p *Params) WindowInputLen() int {
	var cp C.fc_params
	p.toC(&cp)
	return int(C.fc_window_input_len(&cp))
}

// WindowOutputLen returns the float32s one window writes: SeqLen * Schema.NumFeatures()
// (fc_window_output_len); 0 when the Params are invalid.
func (p *Params) WindowOutputLen() int {
	var cp C.fc_params
	p.toC(&cp)
	return int(C.fc_window_output_len(&cp))
}

// WindowsCount returns how many windows Windows yields from nSamples samples with the
// given stride (fc_windows_count); 0 when the trace is too short, stride < 1 or the Params
// are invalid.
func (p *Params) WindowsCount(nSamples, stride int) int {
	if nSamples < 0 || stride < 1 {
		return 0
	}
	var cp C.fc_params
	p.toC(&cp)
	return int(C.fc_windows_count(&cp, C.size_t(nSamples), C.size_t(stride)))
}
