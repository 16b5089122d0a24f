package runtime

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// model is one verified model of a loaded bundle with its ONNX Runtime session.
type model struct {
	entry    *bundle.Model
	info     engine.ModelInfo
	ref      engine.ModelRef
	params   featurecore.Params
	inShape  []int64 // per row, without the batch axis
	outShape []int64
	inLen    int // float32s per input row = params.WindowOutputLen()
	outLen   int
	samples  int // raw samples per window = params.WindowInputLen()
	channels int
	session  *ort.DynamicAdvancedSession

	// Placement models (schema "placement"): params is unused.
	place       bool
	placeParams featurecore.PlaceParams
	overcommit  engine.Resources // default reservation limits (thresholds overcommit_*)
	// trees scores the placement model instead of the session once attachTrees proved it
	// on the golden rows (nil: ONNX Runtime scores); set at load, read-only after.
	trees       *featurecore.Trees
	treesKernel featurecore.TreesKernel
}

func newModel(m *bundle.Model, bundleVersion string) (*model, error) {
	if m.FeatureParams.Schema == bundle.PlacementKind {
		return newPlaceModel(m, bundleVersion)
	}
	schema, err := featurecore.ParseSchema(m.FeatureParams.Schema)
	if err != nil {
		return nil, mismatch(m.Name, "schema %q is not in this feature core (%s): %w",
			m.FeatureParams.Schema, featurecore.Version(), err)
	}
	if got := fmt.Sprintf("%016x", schema.Hash()); got != m.SchemaHash {
		return nil, mismatch(m.Name, "trained on feature schema %s hash %s, this feature core's is %s: "+
			"the features changed; retrain the model", m.Schema, m.SchemaHash, got)
	}
	fp := m.FeatureParams
	p := featurecore.DefaultParams(schema)
	p.SeqLen, p.StatWindow, p.StepSeconds, p.FillLimit = fp.SeqLen, fp.StatWindow, fp.StepSeconds, fp.FillLimit
	nf := schema.NumFeatures()
	if len(fp.Center) != nf || len(fp.Scale) != nf {
		return nil, badBundle(m.Name, "feature_params has %d centers and %d scales, schema %s has %d features",
			len(fp.Center), len(fp.Scale), m.Schema, nf)
	}
	copy(p.Center[:], fp.Center)
	copy(p.Scale[:], fp.Scale)
	if err := p.Check(); err != nil {
		return nil, badBundle(m.Name, "feature_params: %w", err)
	}
	mod := &model{
		entry: m, params: p, channels: schema.NumChannels(),
		inShape: m.Inputs[0].Shape[1:], outShape: m.Outputs[0].Shape[1:],
		samples: p.WindowInputLen(),
		ref:     engine.ModelRef{Name: m.Name, Version: m.Version, Bundle: bundleVersion},
	}
	mod.info = engine.ModelInfo{
		Name: m.Name, Family: m.Family, Version: m.Version, Schema: m.Schema, SchemaHash: m.SchemaHash,
		SHA256: m.SHA256, InputShape: m.Inputs[0].Shape, OutputShape: m.Outputs[0].Shape,
		WindowSamples: mod.samples, StepSeconds: p.StepSeconds, Thresholds: m.Thresholds,
	}
	mod.inLen, mod.outLen = mod.info.InputLen(), mod.info.OutputLen()
	return mod, nil
}

// checkRowLen requires the manifest's input rows to hold what the feature core makes of
// one window (or one host): part of the onnx.signature check, after the ONNX file's own
// shapes, so a wrong manifest shape is named against the file first.
func (m *model) checkRowLen() error {
	want := featurecore.PlaceFactorCount
	if !m.place {
		want = m.params.WindowOutputLen()
	}
	if m.inLen != want {
		return badBundle(m.entry.Name, "input shape %v holds %d values per row, but the feature core makes %d "+
			"of the feature_params", m.entry.Inputs[0].Shape, m.inLen, want)
	}
	return nil
}

func (m *model) close() {
	if m.session != nil {
		m.session.Destroy()
		m.session = nil
	}
}

// run runs rows input rows through the session into out (rows × outLen). The tensors wrap
// the Go slices, so nothing is copied; they are released before run returns.
func (m *model) run(in []float32, rows int, out []float32) error {
	inT, err := ort.NewTensor(batchShape(rows, m.inShape), in)
	if err != nil {
		return internal(m.entry.Name, "input tensor: %w", err)
	}
	defer inT.Destroy()
	outT, err := ort.NewTensor(batchShape(rows, m.outShape), out)
	if err != nil {
		return internal(m.entry.Name, "output tensor: %w", err)
	}
	defer outT.Destroy()
	if err := m.session.Run([]ort.Value{inT}, []ort.Value{outT}); err != nil {
		return internal(m.entry.Name, "ONNX Runtime: %w", err)
	}
	return nil
}

func batchShape(rows int, row []int64) ort.Shape {
	s := make(ort.Shape, 1, 1+len(row))
	s[0] = int64(rows)
	return append(s, row...)
}

func badBundle(model, format string, args ...any) error {
	return engine.Errorf(engine.CodeBadBundle, "load bundle", model, format, args...)
}

func mismatch(model, format string, args ...any) error {
	return engine.Errorf(engine.CodeMismatch, "load bundle", model, format, args...)
}

func internal(model, format string, args ...any) error {
	return engine.Errorf(engine.CodeInternal, "predict", model, format, args...)
}
