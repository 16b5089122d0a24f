package runtime

import (
	"fmt"
	"math"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// checkVersions compares the bundle-wide versions with this process's feature core and
// ONNX Runtime and with the opsets this runtime supports.
func checkVersions(m *bundle.Manifest, ortVersion, libPath string) error {
	if fc := featurecore.Version(); m.FeatureCoreVersion != fc {
		return mismatch("", "made with feature core %s, this runtime has %s: features would differ; "+
			"retrain or use a matching dwcp-ml", m.FeatureCoreVersion, fc)
	}
	if m.ONNXRuntimeVersion != ortVersion {
		return mismatch("", "verified with ONNX Runtime %s, but %s is %s: golden predictions are only "+
			"bit-exact on the same build; load the %s library of the pinned wheel",
			m.ONNXRuntimeVersion, libPath, ortVersion, m.ONNXRuntimeVersion)
	}
	for domain, want := range supportedOpsets {
		if got := m.Opset[domain]; got != want {
			return mismatch("", "manifest opset %s is %d, this runtime serves %d", domain, got, want)
		}
	}
	return nil
}

// checkONNX compares an ONNX file's opsets, stamped dwcp.* metadata, and input and output
// signature with its manifest entry.
func checkONNX(m *bundle.Model, onnx []byte) error {
	opsets, err := onnxOpsets(onnx)
	if err != nil {
		return badBundle(m.Name, "%s: %w", m.File, err)
	}
	for domain, v := range opsets {
		if want, ok := supportedOpsets[domain]; !ok || v > want {
			return mismatch(m.Name, "%s imports opset %s %d; the bundle format allows %v", m.File, domain, v,
				supportedOpsets)
		}
	}
	meta, err := ort.GetModelMetadataWithONNXData(onnx)
	if err != nil {
		return badBundle(m.Name, "%s: ONNX Runtime cannot read it: %w", m.File, err)
	}
	defer meta.Destroy()
	for key, want := range map[string]string{
		"dwcp.model": m.Name, "dwcp.schema_hash": m.SchemaHash, "dwcp.version": m.Version,
	} {
		got, ok, err := meta.LookupCustomMetadataMap(key)
		if err != nil || !ok || got != want {
			return mismatch(m.Name, "%s: metadata %s is %q, the manifest says %q", m.File, key, got, want)
		}
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return badBundle(m.Name, "%s: %w", m.File, err)
	}
	if err := checkSignature(m.File, "input", ins, m.Inputs); err != nil {
		return badBundle(m.Name, "%w", err)
	}
	if err := checkSignature(m.File, "output", outs, m.Outputs); err != nil {
		return badBundle(m.Name, "%w", err)
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

// checkGolden recomputes the golden features from the raw samples with the feature core,
// runs the model on them as one batch (the layout Python used) and requires every bit.
func checkGolden(m *model, g *bundle.Golden) error {
	var features []float32
	for i, run := range g.Runs {
		n := m.params.WindowsCount(len(run.Timestamps), 1)
		buf := make([]float32, n*m.inLen)
		if _, err := m.params.Windows(run.Timestamps, run.Values, 1, buf); err != nil {
			return badBundle(m.entry.Name, "golden run %d: %w", i, err)
		}
		features = append(features, buf...)
	}
	rows := len(features) / m.inLen
	if err := sameBits("features", g.Input, features); err != nil {
		return mismatch(m.entry.Name, "golden %w: this feature core does not reproduce the training features", err)
	}
	return checkGoldenOutput(m, features, rows, g.Output)
}

// checkGoldenOutput runs the model on the golden features as one batch (the layout Python
// used) and requires every bit of the golden output.
func checkGoldenOutput(m *model, features []float32, rows int, golden []float32) error {
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

// checkPlaceGolden runs each golden placement request through the path PlaceVM takes
// (validation, hard constraints, input assembly, placement factors) and requires the
// golden's feasible hosts and every factor bit, then scores all rows in one batch (the
// layout Python used) and requires every output bit.
func checkPlaceGolden(m *model, g *bundle.Golden) error {
	if len(g.Placements) == 0 {
		return badBundle(m.entry.Name, "golden has no placement requests")
	}
	reqs := make([]engine.PlacementRequest, len(g.Placements))
	for i, p := range g.Placements {
		reqs[i] = p.Request
	}
	sc := &placeScratch{hostIdx: map[string]int32{}, domIdx: map[string]int32{}}
	jobs, err := m.prepare(sc, "golden", reqs)
	if err != nil {
		return badBundle(m.entry.Name, "golden: %w", err)
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
			return mismatch(m.entry.Name, "golden request %d: the hard constraints leave hosts %v, the golden %v",
				i, got, want)
		}
	}
	rows := len(sc.feasible)
	features := sc.factors[:rows*m.inLen]
	if err := sameBits("factors", g.Input, features); err != nil {
		return mismatch(m.entry.Name, "golden %w (%s): this runtime does not reproduce the training factors",
			err, m.placeCell(jobs, sc, g.Input, features))
	}
	return checkGoldenOutput(m, features, rows, g.Output)
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
