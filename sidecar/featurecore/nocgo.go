//go:build !cgo

package featurecore

// The feature core is C: this package compiles feature_core/src with cgo and has no pure
// Go fallback (a Go reimplementation would not give the same bits). Building it with
// CGO_ENABLED=0 stops here, on purpose, with:
//
//	undefined: featurecore_requires_cgo_set_CGO_ENABLED_1_and_install_a_C_compiler
//
// Services that cannot link C call the sidecar through sidecar/client (pure Go) instead.
var _ = featurecore_requires_cgo_set_CGO_ENABLED_1_and_install_a_C_compiler
