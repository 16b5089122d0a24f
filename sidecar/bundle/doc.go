// Package bundle reads a dwcp-ml model bundle (docs/bundle.md): manifest.json, one ONNX
// file per model and its golden predictions. Load checks the format and every file's
// sha256 against the manifest and parses the golden files; it does not run anything, so it
// is pure Go and serves both the runtime (which then checks the feature core, the ONNX
// Runtime and the goldens) and tools that only read bundles.
//
// Every error is an *engine.Error with CodeBadBundle naming the file and the field.
package bundle
