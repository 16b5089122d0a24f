// Package featurecore is the Go binding of the DWCP feature core, the C11 library in
// feature_core/ that computes every model feature.
//
// Python (cffi, training) and this package (cgo, serving) compile the same C files —
// cgo builds feature_core/src/*.c through one-line wrapper files in this directory, as
// ISO C11 without FMA contraction or fast-math — so a feature has the same bits in
// training and in serving. No feature math is written in Go: every sum, mean, variance,
// regression and normalisation happens in C, and the golden vectors in
// golden/features_v1.txt prove the bits match. The package needs cgo and a C compiler;
// with CGO_ENABLED=0 it fails to build on purpose.
//
// Inputs are samples on a regular grid: timestamps in Unix seconds and, per sample, one
// value per channel of a Schema (row-major []float64). Outputs are float32 feature rows
// (what the ONNX models take), SeqLen rows of Schema.NumFeatures() per window. Slices are
// passed to C in place: nothing is copied and the hot path allocates nothing. Every
// function is safe for concurrent use.
//
// Usage:
//
//	p := featurecore.DefaultParams(featurecore.SchemaVM) // SeqLen 12, StatWindow 12, 300 s
//	p.Center, p.Scale = bundle.Center, bundle.Scale      // [MaxFeatures]float64 from the model bundle
//	ts := make([]int64, p.WindowInputLen())              // 23 samples, 300 s apart
//	values := make([]float64, len(ts)*featurecore.SchemaVM.NumChannels())
//	// ... fill ts and values ...
//	out := make([]float32, p.WindowOutputLen())          // 12 rows x 14 features
//	if err := p.Window(ts, values, out); err != nil {
//		if errors.Is(err, featurecore.ErrMissing) {
//			// a gap in the metrics: skip this prediction
//		}
//		return err // e.g. featurecore: window: sample 7, channel "cpu_pct": ...
//	}
//
// Placement: PlaceFactors computes the 154 placement factors of one VM request against n
// candidate hosts in one call (PlaceInput holds flat slices; out gets one row of
// PlaceFactorCount float32s per host), for the ITP scorers; docs/placement-factors.md defines
// them and golden/placement_v1.txt proves the bits.
//
// Drift: QuantileEdges builds the bin edges of a reference sample (lower quantiles, ties
// collapsed), Histogram counts live values into them (no allocation), and PSI and KS
// compare two histograms; DriftLn is the core's logarithm, the same bits everywhere
// (math.Log is not: on amd64 it is wrong for subnormal inputs). docs/drift.md defines
// every statistic and golden/drift_v1.txt proves the bits:
//
//	edges, err := featurecore.QuantileEdges(trainingValues, featurecore.DriftDefaultBins)
//	ref := make([]float64, len(edges)-1)
//	err = featurecore.Histogram(trainingValues, edges, ref) // stored with the model
//	live := make([]float64, len(ref))
//	err = featurecore.Histogram(lastDay, edges, live)
//	psi, err := featurecore.PSI(ref, live, featurecore.DriftDefaultEpsilon) // > 0.25: major shift
//
// Raw, irregular metrics go through Params.Grid and Params.Resample first. Errors are
// *Error values carrying the C status and the sample, channel and feature at fault; match
// them with errors.Is against ErrMissing, ErrTimeGap, ... (one sentinel per status;
// ErrEdgeOrder, ErrEmpty and ErrConstant come only from the drift calls).
package featurecore
