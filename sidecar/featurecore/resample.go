package featurecore

// #include "feature_core.h"
import "C"

// Grid returns the regular grid covering raw timestamps ts (fc_grid): t0 is the largest
// multiple of StepSeconds not after min(ts), and nBins the number of StepSeconds bins from
// t0 up to and including max(ts). ts may be in any order. An empty ts is an error matching
// ErrLength.
func (p *Params) Grid(ts []int64) (t0 int64, nBins int, err error) {
	var cp C.fc_params
	p.toC(&cp)
	ce := noError()
	var ct0 C.int64_t
	var cn C.size_t
	st := C.fc_grid(&cp, i64ptr(ts), C.size_t(len(ts)), &ct0, &cn, &ce)
	if st != C.FC_OK {
		return 0, 0, newError("grid", p.Schema, st, &ce)
	}
	return int64(ct0), int(cn), nil
}

// Resample averages raw samples onto the grid t0 + k*StepSeconds, k < nBins
// (fc_resample), the step before Window/Windows for live or irregular metrics.
//
// ts (any order, duplicates allowed) and values (len(ts) rows of Schema.NumChannels()
// values, finite and >= 0) are the raw samples; samples outside the grid are ignored.
// Bin k of out (nBins rows, row-major; len(out) >= nBins*NumChannels) is the mean of the
// samples in [t0 + k*step, t0 + (k+1)*step), summed in input order; counts[k]
// (len(counts) >= nBins) is how many. An empty bin repeats the previous bin for up to
// FillLimit bins; after that, or before the first sample, every value of the bin is the
// canonical quiet NaN (bits 0x7ff8000000000000), which Window refuses with ErrMissing.
// A negative nBins is an error matching ErrOutputSize (no buffer can hold it).
func (p *Params) Resample(t0 int64, nBins int, ts []int64, values []float64, out []float64, counts []uint32) error {
	var cp C.fc_params
	p.toC(&cp)
	ce := noError()
	bins := C.size_t(nBins) // a negative count wraps to a huge one: FC_ERR_OUTPUT_SIZE
	st := C.fc_resample(&cp, C.int64_t(t0), bins,
		i64ptr(ts), C.size_t(len(ts)),
		f64ptr(values), C.size_t(len(values)),
		f64ptr(out), C.size_t(len(out)),
		u32ptr(counts), C.size_t(len(counts)), &ce)
	if st != C.FC_OK {
		return newError("resample", p.Schema, st, &ce)
	}
	return nil
}
