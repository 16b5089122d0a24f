package featurecore

// Every #cgo directive of the package lives in this file.
//
// The C sources are compiled from ../../feature_core/src through the one-line wrapper
// files fc_*.c in this directory (cgo compiles only the files of the package directory).
// -std=c11 (not gnu11) is what stops GCC from contracting a*b+c into an FMA; clang gets
// "#pragma STDC FP_CONTRACT OFF" from fc_internal.h. Never add -ffast-math or -Ofast:
// the guard below refuses to build with them. (cgo rejects -ffp-contract=off.)
//
// noescape/nocallback: the core keeps no pointer after it returns and never calls Go,
// so the C.fc_params, C.fc_place_params and C.fc_error values built on the Go stack for
// each call stay on the stack (no allocation per call) and cgo skips its callback
// bookkeeping.

/*
#cgo CFLAGS: -std=c11 -O2 -I${SRCDIR}/../../feature_core/include -I${SRCDIR}/../../feature_core/src
#cgo LDFLAGS: -lm

#cgo noescape fc_params_init
#cgo nocallback fc_params_init
#cgo noescape fc_params_check
#cgo nocallback fc_params_check
#cgo noescape fc_window_input_len
#cgo nocallback fc_window_input_len
#cgo noescape fc_window_output_len
#cgo nocallback fc_window_output_len
#cgo noescape fc_windows_count
#cgo nocallback fc_windows_count
#cgo noescape fc_window
#cgo nocallback fc_window
#cgo noescape fc_windows
#cgo nocallback fc_windows
#cgo noescape fc_grid
#cgo nocallback fc_grid
#cgo noescape fc_resample
#cgo nocallback fc_resample
#cgo noescape fc_schema_hash
#cgo nocallback fc_schema_hash
#cgo noescape fc_place_params_init
#cgo nocallback fc_place_params_init
#cgo noescape fc_place_params_check
#cgo nocallback fc_place_params_check
#cgo noescape fc_place_hash
#cgo nocallback fc_place_hash
#cgo noescape fc_place_factors
#cgo nocallback fc_place_factors
#cgo noescape fc_drift_ln
#cgo nocallback fc_drift_ln
#cgo noescape fc_drift_quantile_edges
#cgo nocallback fc_drift_quantile_edges
#cgo noescape fc_drift_histogram
#cgo nocallback fc_drift_histogram
#cgo noescape fc_drift_psi
#cgo nocallback fc_drift_psi
#cgo noescape fc_drift_ks
#cgo nocallback fc_drift_ks
#cgo noescape fc_partition_params_init
#cgo nocallback fc_partition_params_init
#cgo noescape fc_partition_chunks
#cgo nocallback fc_partition_chunks
#cgo noescape fc_trees_size
#cgo nocallback fc_trees_size
#cgo noescape fc_trees_init
#cgo nocallback fc_trees_init
#cgo noescape fc_trees_info
#cgo nocallback fc_trees_info
#cgo noescape fc_trees_score
#cgo nocallback fc_trees_score

#if defined(__FAST_MATH__)
#error "featurecore: -ffast-math (or -Ofast) changes feature bits; remove it from CGO_CFLAGS"
#endif
#if !defined(__STRICT_ANSI__)
#error "featurecore: the feature core must be compiled as ISO C11 (-std=c11, not gnu11); check CGO_CFLAGS"
#endif

#include "feature_core.h"
*/
import "C"

import "fmt"

// Limits and sizes of the C core, taken from feature_core.h so they cannot drift.
const (
	MaxChannels   = C.FC_MAX_CHANNELS    // upper bound of Schema.NumChannels()
	MaxFeatures   = C.FC_MAX_FEATURES    // upper bound of Schema.NumFeatures(); size of Params.Center/Scale
	MaxLength     = C.FC_MAX_LENGTH      // upper bound of SeqLen and FillLimit
	MaxStatWindow = C.FC_MAX_STAT_WINDOW // upper bound of StatWindow
	MaxTimestamp  = C.FC_TS_MAX          // last valid timestamp (9999-12-31T23:59:59Z), in Unix seconds
)

// headerVersionNumber is FC_VERSION_NUMBER of the header this package was compiled with.
const headerVersionNumber = C.FC_VERSION_NUMBER

func init() {
	if err := checkVersion(uint(C.fc_version_number()), headerVersionNumber); err != nil {
		panic(err)
	}
}

// checkVersion reports a feature core library whose version differs from the header the
// binding was compiled against: features could differ from the ones models were trained on.
func checkVersion(linked, header uint) error {
	if linked != header {
		return fmt.Errorf("featurecore: linked feature core is version %d but the binding was built "+
			"against feature_core.h version %d; rebuild so both come from the same feature_core/ tree",
			linked, header)
	}
	return nil
}

// Version returns the version string of the linked feature core ("1.1.0"); golden files
// and model bundles record it.
func Version() string { return C.GoString(C.fc_version_string()) }

// VersionNumber returns the linked feature core's version as major*10000 + minor*100 +
// patch (FC_VERSION_NUMBER).
func VersionNumber() int { return int(C.fc_version_number()) }
