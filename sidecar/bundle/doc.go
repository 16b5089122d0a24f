// Package bundle reads a dwcp-ml model bundle (docs/bundle.md): manifest.json, one ONNX
// file per model and its golden predictions, as the bundle specification says
// (spec/bundle: the manifest's JSON Schema and the ordered checks). Load runs the checks
// that need no runtime, in the specification's order: the manifest read safely, as strict
// JSON and against the schema; every file inside the bundle, regular, within its size
// limit and of its sha256; the signature when asked; unique names; the golden files. It
// runs nothing, so it is pure Go and serves both the runtime (which adds its checks with
// LoadWith) and tools that only read bundles.
//
// Every refusal is an *engine.Error with CodeBadBundle whose Check names the check and
// whose message names files relative to the bundle directory only.
package bundle
