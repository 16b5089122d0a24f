package bundle

import (
	"encoding/json"
	"os"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Format strings of the files this package reads.
const (
	Format        = "dwcp-ml-bundle/1"
	GoldenFormat  = "dwcp-ml-golden-predictions/1"
	ManifestFile  = "manifest.json"
	SignatureFile = "model.sig" // the OpenSSF model-signing signature of a signed bundle
	BatchAxis     = -1          // a null (dynamic) dimension in a tensor shape
)

// Manifest is manifest.json.
type Manifest struct {
	Format             string         `json:"format"`
	BundleVersion      string         `json:"bundle_version"`
	CreatedBy          string         `json:"created_by"`
	FeatureCoreVersion string         `json:"feature_core_version"`
	ONNXRuntimeVersion string         `json:"onnxruntime_version"`
	Opset              map[string]int `json:"opset"`
	Models             []Model        `json:"models"`
}

// Model is one entry of Manifest.Models.
type Model struct {
	Name               string             `json:"name"`
	Family             string             `json:"family"`
	Version            string             `json:"version"`
	File               string             `json:"file"`
	SHA256             string             `json:"sha256"`
	Schema             string             `json:"schema"`
	SchemaHash         string             `json:"schema_hash"`
	FeatureParams      FeatureParams      `json:"feature_params"`
	Inputs             []TensorSpec       `json:"inputs"`
	Outputs            []TensorSpec       `json:"outputs"`
	Thresholds         map[string]float64 `json:"thresholds"`
	Metrics            map[string]float64 `json:"metrics"`
	Notes              map[string]string  `json:"notes"`
	TrainingDataDigest string             `json:"training_data_digest"`
	Golden             string             `json:"golden"`
	GoldenSHA256       string             `json:"golden_sha256"`
	// Drift names the optional drift reference (drift/<model>.json); "" when absent.
	Drift       string `json:"drift,omitempty"`
	DriftSHA256 string `json:"drift_sha256,omitempty"`
	// TrainingData says what the model was trained on; nil when the entry does not say
	// (optional, except for family link, whose model is trained on generated links).
	TrainingData *TrainingData `json:"training_data,omitempty"`
}

// TrainingData is a manifest entry's training_data. Kind "synthetic": generated data,
// reproducible from Generator (name and version, e.g. "link_traces v1") and Seed; "real":
// measured traces. Links, Days and Traces are 0 when the entry leaves them out.
type TrainingData struct {
	Kind      string `json:"kind"`
	Generator string `json:"generator,omitempty"`
	Seed      int64  `json:"seed,omitempty"`
	Links     int    `json:"links,omitempty"`
	Days      int    `json:"days,omitempty"`
	Traces    int    `json:"traces,omitempty"`
}

// Synthetic reports whether the model was trained on generated data.
func (t *TrainingData) Synthetic() bool { return t != nil && t.Kind == "synthetic" }

// FeatureParams are the feature core parameters the model was trained with. A placement
// model (schema "placement") has History and StepSeconds only.
type FeatureParams struct {
	Schema      string    `json:"schema"`
	History     int       `json:"history"` // placement: history samples H per resource
	SeqLen      int       `json:"seq_len"`
	StatWindow  int       `json:"stat_window"`
	StepSeconds int64     `json:"step_seconds"`
	FillLimit   int       `json:"fill_limit"`
	Center      []float64 `json:"center"`
	Scale       []float64 `json:"scale"`
}

// TensorSpec is a model input or output; BatchAxis (-1) marks the dynamic batch axis.
type TensorSpec struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"-"`
	Dtype string  `json:"dtype"`
}

// UnmarshalJSON reads a shape whose null entries are dynamic axes.
func (t *TensorSpec) UnmarshalJSON(data []byte) error {
	var raw struct {
		Name  string   `json:"name"`
		Shape []*int64 `json:"shape"`
		Dtype string   `json:"dtype"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	t.Name, t.Dtype, t.Shape = raw.Name, raw.Dtype, make([]int64, len(raw.Shape))
	for i, d := range raw.Shape {
		t.Shape[i] = BatchAxis
		if d != nil {
			t.Shape[i] = *d
		}
	}
	return nil
}

// Bundle is a loaded bundle that passed the checks its loader ran.
type Bundle struct {
	Dir      string
	Manifest Manifest
	ONNX     map[string][]byte          // model name -> ONNX file bytes
	Goldens  map[string]*Golden         // model name -> golden predictions
	Drifts   map[string]*DriftReference // model name -> drift reference (models with one)
	// Files are the bundle files read by the files.regular check, by slash path relative
	// to Dir: manifest.json and every named file; with a signature check, every regular
	// file but model.sig.
	Files map[string][]byte
	// SignedBy is the id of the trusted key that signed the bundle ("" if unchecked).
	SignedBy string

	verify Verifier
	root   *os.Root // open while the checks run
	raw    []byte   // manifest.json
}

// Verifier checks the signature sig (model.sig) over files (every regular file of the
// bundle but model.sig, by slash path) and returns the id of the trusted key that made it.
type Verifier func(sig []byte, files map[string][]byte) (keyID string, err error)

// Option configures Load.
type Option func(*Bundle)

// WithSignature makes the signature check run: the bundle must carry model.sig, and
// verify must accept it.
func WithSignature(verify Verifier) Option { return func(b *Bundle) { b.verify = verify } }

// Load reads the bundle in dir and runs this package's checks of the specification
// (spec/bundle/checks.json) in its order: everything but the checks that need a feature
// core or ONNX Runtime (see sidecar/runtime).
func Load(dir string, opts ...Option) (*Bundle, error) { return LoadWith(dir, nil, opts...) }

// LoadWith is Load with more checks (a runtime's), all run in the specification's order.
func LoadWith(dir string, more []Check, opts ...Option) (*Bundle, error) {
	b := &Bundle{Dir: dir, ONNX: map[string][]byte{}, Goldens: map[string]*Golden{}, Drifts: map[string]*DriftReference{}, Files: map[string][]byte{}}
	for _, o := range opts {
		o(b)
	}
	defer func() {
		if b.root != nil {
			b.root.Close()
		}
	}()
	if err := RunChecks(b, append(b.checks(), more...)); err != nil {
		return nil, err
	}
	return b, nil
}

// Model returns the manifest entry named name.
func (b *Bundle) Model(name string) (*Model, bool) {
	for i := range b.Manifest.Models {
		if b.Manifest.Models[i].Name == name {
			return &b.Manifest.Models[i], true
		}
	}
	return nil, false
}

func bad(model, format string, args ...any) error {
	return engine.Errorf(engine.CodeBadBundle, "load bundle", model, format, args...)
}
