package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// loader runs the runtime's checks of the specification (spec/bundle/checks.json) after
// and between those of sidecar/bundle, in the specification's order, and builds the
// models on the way. On error, close releases every session it opened.
type loader struct {
	ctx        context.Context
	ortVersion string
	libPath    string
	opts       *ort.SessionOptions
	// keepGoing (Parity): a model's refusal is recorded in failed, later checks skip the
	// model, and the load goes on; bundle-wide refusals still end it.
	keepGoing bool
	failed    []error
	models    []*model    // manifest order, from the schema_hash check on
	features  [][]float32 // the golden input as this runtime computes it, per model
}

func (l *loader) checks() []bundle.Check {
	return []bundle.Check{
		{Name: bundle.CheckFeatureCore, Run: l.checkFeatureCore},
		{Name: bundle.CheckONNXRuntime, Run: l.checkONNXRuntime},
		{Name: bundle.CheckOpset, Run: l.each(bundle.CheckOpset, checkOpset)},
		{Name: bundle.CheckSchemaHash, Run: l.each(bundle.CheckSchemaHash, l.newModel)},
		{Name: bundle.CheckONNXSignature, Run: l.each(bundle.CheckONNXSignature, l.openSession)},
		{Name: bundle.CheckONNXMetadata, Run: l.each(bundle.CheckONNXMetadata, l.checkMetadata)},
		{Name: bundle.CheckGoldenFeature, Run: l.each(bundle.CheckGoldenFeature, l.goldenFeatures)},
		{Name: bundle.CheckGoldenOutput, Run: l.each(bundle.CheckGoldenOutput, l.goldenOutput)},
	}
}

// each makes a check of fn run over every model in manifest order.
func (l *loader) each(check string, fn func(b *bundle.Bundle, i int) error) func(*bundle.Bundle) error {
	return func(b *bundle.Bundle) error {
		if n := len(b.Manifest.Models); l.models == nil {
			l.models, l.features, l.failed = make([]*model, n), make([][]float32, n), make([]error, n)
		}
		for i := range b.Manifest.Models {
			if err := l.ctx.Err(); err != nil {
				return engine.Errorf(engine.CodeCanceled, "load bundle", "", "%w", err)
			}
			if l.failed[i] != nil {
				continue
			}
			if err := fn(b, i); err != nil {
				if !l.keepGoing {
					return err
				}
				l.failed[i] = checked(check, err)
			}
		}
		return nil
	}
}

// checked names the check of a model refusal that Parity records instead of returning.
func checked(check string, err error) error {
	var ee *engine.Error
	if errors.As(err, &ee) && ee.Check == "" {
		ee.Check = check
	}
	return err
}

func (l *loader) close() {
	for _, m := range l.models {
		if m != nil {
			m.close()
		}
	}
}

func (l *loader) checkFeatureCore(b *bundle.Bundle) error {
	if want, fc := b.Manifest.FeatureCoreVersion, featurecore.Version(); want != fc {
		return mismatch("", "made with feature core %s, this runtime has %s: features would differ; "+
			"retrain or use a matching dwcp-ml", want, fc)
	}
	return nil
}

func (l *loader) checkONNXRuntime(b *bundle.Bundle) error {
	if want := b.Manifest.ONNXRuntimeVersion; want != l.ortVersion {
		return mismatch("", "verified with ONNX Runtime %s, but %s is %s: golden predictions are only "+
			"bit-exact on the same build; load the %s library of the pinned wheel",
			want, l.libPath, l.ortVersion, want)
	}
	return nil
}

// checkOpset compares the manifest's opsets (with the first model) and each ONNX file's
// imports with the opsets this runtime serves. A file whose top-level fields do not parse
// is left to the onnx.signature check, as the specification says.
func checkOpset(b *bundle.Bundle, i int) error {
	if i == 0 {
		for domain, want := range supportedOpsets {
			if got := b.Manifest.Opset[domain]; got != want {
				return mismatch("", "manifest opset %s is %d, this runtime serves %d", domain, got, want)
			}
		}
	}
	m := &b.Manifest.Models[i]
	opsets, err := onnxOpsets(b.ONNX[m.Name])
	if err != nil {
		return nil
	}
	for domain, v := range opsets {
		if want, ok := supportedOpsets[domain]; !ok || v > want {
			return mismatch(m.Name, "%s imports opset %s %d; the bundle format allows %v", m.File, domain, v,
				supportedOpsets)
		}
	}
	return nil
}

func (l *loader) newModel(b *bundle.Bundle, i int) error {
	entry := &b.Manifest.Models[i]
	if entry.Schema != entry.FeatureParams.Schema {
		return badBundle(entry.Name, "schema %q but feature_params.schema %q", entry.Schema, entry.FeatureParams.Schema)
	}
	m, err := newModel(entry, b.Manifest.BundleVersion)
	l.models[i] = m
	return err
}

// openSession checks the ONNX file's signature against the manifest, then creates the
// session; a file ONNX Runtime cannot parse (truncated, with its sha256 updated) is
// refused here with ONNX Runtime's error.
func (l *loader) openSession(b *bundle.Bundle, i int) error {
	m := l.models[i]
	onnx := b.ONNX[m.entry.Name]
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return badBundle(m.entry.Name, "%s: ONNX Runtime cannot read it: %w", m.entry.File, err)
	}
	if err := checkSignature(m.entry.File, "input", ins, m.entry.Inputs); err != nil {
		return badBundle(m.entry.Name, "%w", err)
	}
	if err := checkSignature(m.entry.File, "output", outs, m.entry.Outputs); err != nil {
		return badBundle(m.entry.Name, "%w", err)
	}
	if err := m.checkRowLen(); err != nil {
		return err
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(onnx,
		[]string{m.entry.Inputs[0].Name}, []string{m.entry.Outputs[0].Name}, l.opts)
	if err != nil {
		return badBundle(m.entry.Name, "ONNX Runtime cannot load %s: %w", m.entry.File, err)
	}
	m.session = s
	return nil
}

// checkMetadata compares the ONNX file's stamped dwcp.* metadata with the manifest entry.
func (l *loader) checkMetadata(b *bundle.Bundle, i int) error {
	m := l.models[i].entry
	meta, err := ort.GetModelMetadataWithONNXData(b.ONNX[m.Name])
	if err != nil {
		return badBundle(m.Name, "%s: ONNX Runtime cannot read its metadata: %w", m.File, err)
	}
	defer meta.Destroy()
	for _, kv := range [][2]string{{"dwcp.model", m.Name}, {"dwcp.version", m.Version}, {"dwcp.schema_hash", m.SchemaHash}} {
		got, ok, err := meta.LookupCustomMetadataMap(kv[0])
		if err != nil || !ok || got != kv[1] {
			return mismatch(m.Name, "%s: metadata %s is %q, the manifest says %q", m.File, kv[0], got, kv[1])
		}
	}
	return nil
}

func (l *loader) goldenFeatures(b *bundle.Bundle, i int) error {
	m := l.models[i]
	features := windowFeatures
	if m.place {
		features = placeFeatures
	}
	var err error
	l.features[i], err = features(m, b.Goldens[m.entry.Name])
	return err
}

func (l *loader) goldenOutput(b *bundle.Bundle, i int) error {
	m := l.models[i]
	if err := checkGoldenOutput(m, l.features[i], b.Goldens[m.entry.Name].Output); err != nil {
		return err
	}
	if m.place {
		// ONNX Runtime has just reproduced the golden scores; the core's tree evaluator
		// serves instead only once it gives the same bits on the same rows.
		return m.attachTrees(b.ONNX[m.entry.Name], l.features[i])
	}
	return nil
}

func checkSignature(file, kind string, got []ort.InputOutputInfo, want []bundle.TensorSpec) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s has %d %ss, the manifest %d", file, len(got), kind, len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Name != w.Name || g.OrtValueType != ort.ONNXTypeTensor || g.DataType != ort.TensorElementDataTypeFloat {
			return fmt.Errorf("%s %s %d is %s, the manifest says float32 tensor %q", file, kind, i, g.String(), w.Name)
		}
		ok := len(g.Dimensions) == len(w.Shape)
		for k := 1; ok && k < len(w.Shape); k++ {
			ok = g.Dimensions[k] == w.Shape[k]
		}
		if !ok || g.Dimensions[0] >= 0 {
			return fmt.Errorf("%s %s %q has shape %v, the manifest says %v (first axis dynamic)",
				file, kind, w.Name, g.Dimensions, w.Shape)
		}
	}
	return nil
}

// windowFeatures recomputes the golden features from the raw samples with the feature
// core (windows of each run, stride 1) and requires every bit of the golden input.
func windowFeatures(m *model, g *bundle.Golden) ([]float32, error) {
	var features []float32
	for i, run := range g.Runs {
		n := m.params.WindowsCount(len(run.Timestamps), 1)
		buf := make([]float32, n*m.inLen)
		if _, err := m.params.Windows(run.Timestamps, run.Values, 1, buf); err != nil {
			return nil, badBundle(m.entry.Name, "golden run %d: %w", i, err)
		}
		features = append(features, buf...)
	}
	if err := sameBits("features", g.Input, features); err != nil {
		return nil, mismatch(m.entry.Name, "golden %w: this feature core does not reproduce the training features", err)
	}
	return features, nil
}

// checkGoldenOutput runs the model on the golden features as one batch (the layout Python
// used) and requires every bit of the golden output.
func checkGoldenOutput(m *model, features []float32, golden []float32) error {
	rows := len(features) / m.inLen
	if want := rows * m.outLen; len(golden) != want {
		return badBundle(m.entry.Name, "golden output has %d values, want %d rows x %d", len(golden), rows, m.outLen)
	}
	out := make([]float32, len(golden))
	if err := m.run(features, rows, out); err != nil {
		return err
	}
	if err := sameBits("output", golden, out); err != nil {
		return mismatch(m.entry.Name, "golden %w: this ONNX Runtime build or CPU does not reproduce "+
			"the bundle's predictions", err)
	}
	return nil
}

// checkPlaceGolden is the golden.features and golden.output checks of a placement model.
func checkPlaceGolden(m *model, g *bundle.Golden) error {
	features, err := placeFeatures(m, g)
	if err != nil {
		return err
	}
	return checkGoldenOutput(m, features, g.Output)
}

// placeFeatures runs each golden placement request through the path PlaceVM takes
// (validation, hard constraints, input assembly, placement factors) and requires the
// golden's feasible hosts and every factor bit of the golden input.
func placeFeatures(m *model, g *bundle.Golden) ([]float32, error) {
	if len(g.Placements) == 0 {
		return nil, badBundle(m.entry.Name, "golden has no placement requests")
	}
	reqs := make([]engine.PlacementRequest, len(g.Placements))
	for i, p := range g.Placements {
		reqs[i] = p.Request
	}
	sc := &placeScratch{hostIdx: map[string]int32{}, domIdx: map[string]int32{}}
	jobs, err := m.prepare(sc, "golden", reqs)
	if err != nil {
		return nil, badBundle(m.entry.Name, "golden: %w", err)
	}
	for i, j := range jobs {
		want, got := g.Placements[i].Feasible, sc.feasible[j.off:j.off+j.n]
		if want == nil {
			continue
		}
		same := len(want) == len(got)
		for k := 0; same && k < len(got); k++ {
			same = want[k] == int(got[k])
		}
		if !same {
			return nil, mismatch(m.entry.Name, "golden request %d: the hard constraints leave hosts %v, the golden %v",
				i, got, want)
		}
	}
	features := sc.factors[:len(sc.feasible)*m.inLen]
	if err := sameBits("factors", g.Input, features); err != nil {
		return nil, mismatch(m.entry.Name, "golden %w (%s): this runtime does not reproduce the training factors",
			err, m.placeCell(jobs, sc, g.Input, features))
	}
	return features, nil
}

// placeCell names the first differing factor of a placement golden: request, host, factor.
func (m *model) placeCell(jobs []placeJob, sc *placeScratch, want, got []float32) string {
	for i := range min(len(want), len(got)) {
		if math.Float32bits(want[i]) == math.Float32bits(got[i]) {
			continue
		}
		row := i / m.inLen
		for r, j := range jobs {
			if row >= j.off && row < j.off+j.n {
				hi := sc.feasible[row]
				return fmt.Sprintf("request %d, host %d (%s), factor %s", r, hi, j.req.Hosts[hi].ID,
					featurecore.PlaceFactorName(i%m.inLen))
			}
		}
	}
	return "the row counts differ"
}

// sameBits reports the first differing value of two float32 slices, by bit pattern.
func sameBits(label string, want, got []float32) error {
	if len(want) != len(got) {
		return fmt.Errorf("%s: %d values, golden %d", label, len(got), len(want))
	}
	for i := range want {
		w, g := math.Float32bits(want[i]), math.Float32bits(got[i])
		if w != g {
			return fmt.Errorf("%s[%d]: golden 0x%08x (%g), got 0x%08x (%g), %d ULP apart",
				label, i, w, want[i], g, got[i], ulps(want[i], got[i]))
		}
	}
	return nil
}

// ulps is the distance in float32 units in the last place, on the monotonic integer line.
func ulps(a, b float32) int64 {
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}
