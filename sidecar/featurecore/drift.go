package featurecore

/*
#include "feature_core.h"

// The float macros, read as doubles: cgo's own evaluation of C.FC_DRIFT_MIN_EPSILON gives
// 0 (checked with Go 1.26), so the Go constants are literals checked against these.
static double fc_go_drift_default_epsilon(void) { return FC_DRIFT_DEFAULT_EPSILON; }
static double fc_go_drift_min_epsilon(void) { return FC_DRIFT_MIN_EPSILON; }
*/
import "C"

import "fmt"

// Limits and defaults of the drift statistics, taken from feature_core.h so they cannot
// drift.
const (
	// DriftVersion numbers the definitions (bin rule, quantile rule, ln approximation,
	// sum orders); a reference distribution records it, and it changes whenever any
	// statistic could change a bit.
	DriftVersion        = C.FC_DRIFT_VERSION
	DriftMaxBins        = C.FC_DRIFT_MAX_BINS     // most bins of a distribution
	DriftDefaultBins    = C.FC_DRIFT_DEFAULT_BINS // deciles
	DriftDefaultEpsilon = 1e-4                    // usual proportion floor of PSI (FC_DRIFT_DEFAULT_EPSILON)
	DriftMinEpsilon     = 1e-300                  // smallest floor PSI accepts (FC_DRIFT_MIN_EPSILON)
)

func init() {
	if err := checkDriftConstants(headerDefaultEpsilon(), headerMinEpsilon()); err != nil {
		panic(err)
	}
}

// headerDefaultEpsilon and headerMinEpsilon read the header's float macros.
func headerDefaultEpsilon() float64 { return float64(C.fc_go_drift_default_epsilon()) }
func headerMinEpsilon() float64     { return float64(C.fc_go_drift_min_epsilon()) }

// checkDriftConstants reports Go constants that differ from the header's.
func checkDriftConstants(defaultEpsilon, minEpsilon float64) error {
	if defaultEpsilon != DriftDefaultEpsilon || minEpsilon != DriftMinEpsilon {
		return fmt.Errorf("featurecore: feature_core.h has FC_DRIFT_DEFAULT_EPSILON %g and "+
			"FC_DRIFT_MIN_EPSILON %g, the Go binding %g and %g; update drift.go",
			defaultEpsilon, minEpsilon, DriftDefaultEpsilon, DriftMinEpsilon)
	}
	return nil
}

// Names of the arrays a drift *Error's Channel points at (FC_DRIFT_ARG_* order).
var driftArrayNames = [...]string{
	C.FC_DRIFT_ARG_VALUES: "values",
	C.FC_DRIFT_ARG_EDGES:  "edges",
	C.FC_DRIFT_ARG_REF:    "ref",
	C.FC_DRIFT_ARG_LIVE:   "live",
}

const (
	opDriftLn   = "drift ln"
	opQuantiles = "quantile edges"
	opHistogram = "histogram"
	opPSI       = "psi"
	opKS        = "ks"
)

func isDriftOp(op string) bool {
	switch op {
	case opDriftLn, opQuantiles, opHistogram, opPSI, opKS:
		return true
	}
	return false
}

// newDriftError converts a failing drift call into an *Error naming the array at fault.
func newDriftError(op string, st C.fc_status, ce *C.fc_error) error {
	return locatedError(op, st, ce,
		func(i int) string { return nameAt(driftArrayNames[:], i) },
		func(int) string { return "" })
}

// DriftLn returns the natural logarithm of x computed by the core's fixed polynomial
// (fc_drift_ln: fdlibm's algorithm with + - * / only, within 1 ulp of the exact value).
// It gives the same bits in C, Python and Go on every platform, which math.Log does not
// promise. x must be finite and > 0: NaN matches ErrMissing, ±Inf ErrInfinite, x < 0
// ErrNegative and 0 ErrRange.
func DriftLn(x float64) (float64, error) {
	var out C.double
	if st := C.fc_drift_ln(C.double(x), &out); st != C.FC_OK {
		ce := noError()
		ce.channel = C.FC_DRIFT_ARG_VALUES
		return 0, newDriftError(opDriftLn, st, &ce)
	}
	return float64(out), nil
}

// QuantileEdges returns the lower-quantile bin edges of a reference sample (any order,
// not modified): edge k (k = 0..bins) is element floor(k*(n-1)/bins) of the sorted
// sample, no interpolation, and an edge equal to the one before it is dropped, so ties
// collapse and at most bins+1 strictly ascending edges come back. bins is 1..DriftMaxBins
// (DriftDefaultBins for deciles). It allocates a sorted copy of the sample; it builds a
// reference distribution, not a serving hot path.
//
// An empty sample matches ErrEmpty, a NaN or ±Inf value ErrMissing or ErrInfinite (Index
// is the value), a sample with a single distinct value ErrConstant, and bins out of range
// ErrBadParams.
func QuantileEdges(sample []float64, bins int) ([]float64, error) {
	if bins < 1 || bins > DriftMaxBins {
		ce := noError()
		return nil, newDriftError(opQuantiles, C.FC_ERR_BAD_PARAMS, &ce)
	}
	scratch := make([]float64, len(sample))
	edges := make([]float64, bins+1)
	var n C.size_t
	ce := noError()
	st := C.fc_drift_quantile_edges(f64ptr(sample), C.size_t(len(sample)), C.size_t(bins),
		f64ptr(scratch), C.size_t(len(scratch)), f64ptr(edges), C.size_t(len(edges)), &n, &ce)
	if st != C.FC_OK {
		return nil, newDriftError(opQuantiles, st, &ce)
	}
	return edges[:int(n):int(n)], nil
}

// Histogram counts values in the len(edges)-1 bins of edges into counts (which must hold
// at least len(edges)-1 float64s; only those are written). Bin j holds edges[j] <= x <
// edges[j+1]; the first bin also takes everything below edges[1] and the last everything
// from edges[len-2] up, so a live value outside the reference range still counts. The
// slices are passed to C in place; nothing is allocated unless the call fails.
//
// Edges must be at least 2, finite and strictly ascending (ErrEdgeOrder, Index the first
// edge not above its predecessor); values must be finite and at least one (a NaN matches
// ErrMissing: drop missing samples first, the core never skips one silently).
func Histogram(values, edges, counts []float64) error {
	ce := noError()
	st := C.fc_drift_histogram(f64ptr(values), C.size_t(len(values)), f64ptr(edges),
		C.size_t(len(edges)), f64ptr(counts), C.size_t(len(counts)), &ce)
	if st != C.FC_OK {
		return newDriftError(opHistogram, st, &ce)
	}
	return nil
}

// countPair checks that two count slices have the same bins (the core takes one length).
func countPair(op string, ref, live []float64) error {
	if len(ref) != len(live) {
		return &Error{Op: op, Status: StatusLength, Index: -1, Channel: C.FC_DRIFT_ARG_LIVE,
			Feature: -1, ChannelName: driftArrayNames[C.FC_DRIFT_ARG_LIVE]}
	}
	return nil
}

// PSI returns the Population Stability Index of live counts against reference counts
// over the same bins: the sum over bins of (q-p)*ln(q/p), with p and q the bin
// proportions floored at epsilon (DriftMinEpsilon <= epsilon < 1; DriftDefaultEpsilon
// is the usual choice) and ln DriftLn. It is >= 0, and 0 for identical proportions.
// The usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major
// one (docs/drift.md has the caveats).
//
// Counts must be finite and >= 0 (ErrMissing, ErrInfinite, ErrNegative; Index the bin,
// ChannelName "ref" or "live"), not all 0 (ErrEmpty), 1..DriftMaxBins of them, the same
// number in both (ErrLength).
func PSI(ref, live []float64, epsilon float64) (float64, error) {
	if err := countPair(opPSI, ref, live); err != nil {
		return 0, err
	}
	var out C.double
	ce := noError()
	st := C.fc_drift_psi(f64ptr(ref), f64ptr(live), C.size_t(len(ref)), C.double(epsilon), &out, &ce)
	if st != C.FC_OK {
		return 0, newDriftError(opPSI, st, &ce)
	}
	return float64(out), nil
}

// KS returns the binned Kolmogorov-Smirnov distance of two histograms over the same
// edges: the largest gap between their cumulative proportions after each bin. It sees
// the samples only at the interior edges, so it is <= the exact two-sample KS statistic
// of the samples behind the counts; 0 <= KS <= 1. Counts as for PSI.
func KS(ref, live []float64) (float64, error) {
	if err := countPair(opKS, ref, live); err != nil {
		return 0, err
	}
	var out C.double
	ce := noError()
	st := C.fc_drift_ks(f64ptr(ref), f64ptr(live), C.size_t(len(ref)), &out, &ce)
	if st != C.FC_OK {
		return 0, newDriftError(opKS, st, &ce)
	}
	return float64(out), nil
}
