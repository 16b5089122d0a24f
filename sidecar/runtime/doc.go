// Package runtime serves a dwcp-ml model bundle in-process: the feature core (cgo) builds
// the model inputs and ONNX Runtime (github.com/yalue/onnxruntime_go) runs the models.
// *Engine implements engine.Engine.
//
// Go and Python must give the same bits, so the runtime loads the libonnxruntime.so that
// the project's pinned Python onnxruntime wheel ships (Config.LibraryPath, else
// $ONNXRUNTIME_LIB, else the wheel in the nearest .venv above the working directory) and
// runs every session in the deterministic profile the goldens were made with: CPU
// execution provider, sequential execution, 1 intra-op and 1 inter-op thread.
//
// Open refuses a bundle unless all of it checks out. It runs the checks of the bundle
// specification (spec/bundle/checks.json) in their order, each over every model before
// the next: sidecar/bundle's (manifest, schema, files, sha256, signature, unique names,
// golden files) and the runtime's: the feature core and ONNX Runtime versions, the opsets,
// each schema hash against the compiled featurecore, each ONNX file's signature and
// stamped dwcp.* metadata against the manifest, and finally the golden predictions:
// features computed from the golden raw samples and the model outputs for them must equal
// the stored bits exactly. The refusal is an *engine.Error whose Check names the check.
//
// Sessions are created once per bundle and shared by concurrent calls. Reload verifies a
// new bundle completely before it swaps it in atomically; calls in flight finish on the
// old bundle, whose sessions are released when the last of them returns. A failed reload
// leaves the old bundle serving.
//
// ONNX Runtime is one shared library per process: the first Open fixes the library, and a
// later Open asking for another one fails with engine.ErrLibrary.
package runtime
