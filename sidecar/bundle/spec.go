package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dwcp/dwcp-ml/spec"
)

// The check names of spec/bundle/checks.json, in its order. The loader does not rely on
// this order: Run orders checks by the spec list, and a test holds the two equal.
const (
	CheckManifestRead  = "manifest.read"
	CheckManifestJSON  = "manifest.json"
	CheckSchema        = "manifest.schema"
	CheckFilesInside   = "files.inside"
	CheckFilesRegular  = "files.regular"
	CheckFilesSHA256   = "files.sha256"
	CheckSignature     = "signature"
	CheckModelsUnique  = "models.unique"
	CheckFeatureCore   = "feature_core.version"
	CheckONNXRuntime   = "onnxruntime.version"
	CheckOpset         = "opset"
	CheckSchemaHash    = "schema_hash"
	CheckONNXSignature = "onnx.signature"
	CheckONNXMetadata  = "onnx.metadata"
	CheckGoldenRead    = "golden.read"
	CheckDriftRead     = "drift.read"
	CheckGoldenFeature = "golden.features"
	CheckGoldenOutput  = "golden.output"
)

// Limits are the read limits of checks.json.
type Limits struct {
	ManifestBytes int64 `json:"manifest_bytes"`
	JSONDepth     int   `json:"json_depth"`
	FileBytes     int64 `json:"file_bytes"`
	BundleFiles   int   `json:"bundle_files"` // entries of the tree, files and directories
}

// Spec is spec/bundle/checks.json read, plus the compiled manifest schema.
type Spec struct {
	Checks  []string // check names in the order they run
	Limits  Limits
	relpath *regexp.Regexp
	schema  *jsonschema.Schema
}

// LoadSpec returns the embedded specification, read and compiled once; it panics if the
// embedded files are broken, which a test of this package catches before any release.
var LoadSpec = sync.OnceValue(func() *Spec {
	s, err := parseSpec(spec.BundleChecks, spec.ManifestSchema)
	if err != nil {
		panic(fmt.Sprintf("bundle: embedded spec: %v", err))
	}
	return s
})

func parseSpec(checks, schema []byte) (*Spec, error) {
	var f struct {
		Format  string `json:"format"`
		Limits  Limits `json:"limits"`
		Relpath string `json:"relpath_pattern"`
		Checks  []struct {
			Name string `json:"name"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(checks, &f); err != nil {
		return nil, fmt.Errorf("checks.json: %w", err)
	}
	if f.Format != "dwcp-ml-bundle-checks/1" {
		return nil, fmt.Errorf("checks.json: format %q", f.Format)
	}
	s := &Spec{Limits: f.Limits}
	for _, c := range f.Checks {
		s.Checks = append(s.Checks, c.Name)
	}
	var err error
	if s.relpath, err = regexp.Compile(f.Relpath); err != nil {
		return nil, fmt.Errorf("checks.json: relpath_pattern: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("manifest.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "manifest.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	if s.schema, err = c.Compile(url); err != nil {
		return nil, fmt.Errorf("manifest.schema.json: %w", err)
	}
	return s, nil
}

// index is the position of check name in the spec, or -1.
func (s *Spec) index(name string) int { return slices.Index(s.Checks, name) }
