package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Format strings of the files this package reads.
const (
	Format        = "dwcp-ml-bundle/1"
	GoldenFormat  = "dwcp-ml-golden-predictions/1"
	ManifestFile  = "manifest.json"
	BatchAxis     = -1 // a null (dynamic) dimension in a tensor shape
	maxBundleFile = 1 << 30
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
}

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

// Bundle is a loaded bundle whose files all match their recorded sha256.
type Bundle struct {
	Dir      string
	Manifest Manifest
	ONNX     map[string][]byte  // model name -> ONNX file bytes
	Goldens  map[string]*Golden // model name -> golden predictions
}

// Load reads the bundle in dir and checks the format, the model entries and every file's
// sha256. It does not check versions against a runtime; see sidecar/runtime.
func Load(dir string) (*Bundle, error) {
	mpath := filepath.Join(dir, ManifestFile)
	data, err := readFile(mpath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, bad("", "%s: missing; is %s a dwcp-ml bundle?", mpath, dir)
		}
		return nil, bad("", "%s: %w", mpath, err)
	}
	b := &Bundle{Dir: dir, ONNX: map[string][]byte{}, Goldens: map[string]*Golden{}}
	if err := json.Unmarshal(data, &b.Manifest); err != nil {
		return nil, bad("", "%s: not valid JSON (%v)", mpath, err)
	}
	m := &b.Manifest
	if m.Format != Format {
		return nil, bad("", "%s: format is %q, not %q", mpath, m.Format, Format)
	}
	if m.BundleVersion == "" || m.FeatureCoreVersion == "" || m.ONNXRuntimeVersion == "" {
		return nil, bad("", "%s: bundle_version, feature_core_version and onnxruntime_version are required", mpath)
	}
	if len(m.Models) == 0 {
		return nil, bad("", "%s: no models", mpath)
	}
	for i := range m.Models {
		mod := &m.Models[i]
		if err := mod.check(mpath); err != nil {
			return nil, err
		}
		if _, dup := b.ONNX[mod.Name]; dup {
			return nil, bad(mod.Name, "%s: model name %q repeats", mpath, mod.Name)
		}
		onnx, err := readChecked(dir, mod.Name, mod.File, mod.SHA256)
		if err != nil {
			return nil, err
		}
		gdata, err := readChecked(dir, mod.Name, mod.Golden, mod.GoldenSHA256)
		if err != nil {
			return nil, err
		}
		g, err := parseGolden(filepath.Join(dir, mod.Golden), mod, gdata)
		if err != nil {
			return nil, err
		}
		b.ONNX[mod.Name], b.Goldens[mod.Name] = onnx, g
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

func (m *Model) check(mpath string) error {
	switch {
	case m.Name == "" || m.Family == "" || m.Version == "":
		return bad(m.Name, "%s: a model entry lacks name, family or version", mpath)
	case m.File == "" || m.Golden == "":
		return bad(m.Name, "%s: model %q lacks file or golden", mpath, m.Name)
	case len(m.Inputs) != 1 || len(m.Outputs) != 1:
		return bad(m.Name, "%s: model %q has %d inputs and %d outputs; the runtime serves one of each",
			mpath, m.Name, len(m.Inputs), len(m.Outputs))
	case m.Schema != m.FeatureParams.Schema:
		return bad(m.Name, "%s: model %q: schema %q but feature_params.schema %q", mpath, m.Name,
			m.Schema, m.FeatureParams.Schema)
	}
	for _, t := range []TensorSpec{m.Inputs[0], m.Outputs[0]} {
		if t.Dtype != "float32" {
			return bad(m.Name, "%s: model %q: tensor %q is %s; only float32 is served", mpath, m.Name, t.Name, t.Dtype)
		}
		if len(t.Shape) < 2 || t.Shape[0] != BatchAxis {
			return bad(m.Name, "%s: model %q: tensor %q shape %v: the first axis must be the dynamic batch axis",
				mpath, m.Name, t.Name, t.Shape)
		}
		for _, d := range t.Shape[1:] {
			if d <= 0 {
				return bad(m.Name, "%s: model %q: tensor %q shape %v: only the batch axis may be dynamic",
					mpath, m.Name, t.Name, t.Shape)
			}
		}
	}
	return nil
}

func readChecked(dir, model, name, want string) ([]byte, error) {
	if !filepath.IsLocal(name) {
		return nil, bad(model, "%s: file %q is outside the bundle", filepath.Join(dir, ManifestFile), name)
	}
	path := filepath.Join(dir, name)
	data, err := readFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, bad(model, "%s: missing (listed in %s)", path, ManifestFile)
		}
		return nil, bad(model, "%s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, bad(model, "%s: sha256 %s does not match the manifest's %s: the file was "+
			"changed or truncated after the bundle was written", path, got, want)
	}
	return data, nil
}

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxBundleFile {
		return nil, fmt.Errorf("%d bytes; a bundle file is at most %d", st.Size(), maxBundleFile)
	}
	return os.ReadFile(path)
}

func bad(model, format string, args ...any) error {
	return engine.Errorf(engine.CodeBadBundle, "load bundle", model, format, args...)
}
