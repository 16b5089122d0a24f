package bundle_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// TestTrainingData: the manifest's training_data is read into Model.TrainingData, its
// form is the schema's (a synthetic kind names generator and seed), and a link model
// must carry it.
func TestTrainingData(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testbundle.Dir(), "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	synthetic := map[string]any{"kind": "synthetic", "generator": "link_traces v1", "seed": 20261204, "links": 24}
	asLink := func(m map[string]any) {
		m["family"], m["schema"] = "link", "link"
		m["feature_params"].(map[string]any)["schema"] = "link"
		m["outputs"].([]any)[0].(map[string]any)["shape"] = []any{nil, 6}
	}
	for _, tc := range []struct {
		name  string
		edit  func(m map[string]any)
		check string // "" = accepted
	}{
		{"absent", func(map[string]any) {}, ""},
		{"synthetic", func(m map[string]any) { m["training_data"] = synthetic }, ""},
		{"real", func(m map[string]any) { m["training_data"] = map[string]any{"kind": "real", "traces": 10} }, ""},
		{"synthetic without seed", func(m map[string]any) {
			m["training_data"] = map[string]any{"kind": "synthetic", "generator": "link_traces v1"}
		}, bundle.CheckSchema},
		{"unknown kind", func(m map[string]any) { m["training_data"] = map[string]any{"kind": "simulated"} }, bundle.CheckSchema},
		{"unknown field", func(m map[string]any) {
			m["training_data"] = map[string]any{"kind": "real", "url": "http://x"}
		}, bundle.CheckSchema},
		{"link with training_data", func(m map[string]any) { asLink(m); m["training_data"] = synthetic }, ""},
		{"link without training_data", asLink, bundle.CheckSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			models := doc["models"].([]any)
			var pba map[string]any
			for _, m := range models {
				if m.(map[string]any)["family"] == "pba" {
					pba = m.(map[string]any)
				}
			}
			tc.edit(pba)
			text, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			m, err := bundle.ParseManifest(text)
			if tc.check != "" {
				refusal(t, err, engine.CodeBadBundle, tc.check, "training_data")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range m.Models {
				if got.Name != pba["name"] {
					continue
				}
				want, ok := pba["training_data"].(map[string]any)
				switch {
				case !ok && got.TrainingData != nil:
					t.Errorf("TrainingData %+v, want nil", got.TrainingData)
				case ok && (got.TrainingData == nil || got.TrainingData.Kind != want["kind"]):
					t.Errorf("TrainingData %+v, want %v", got.TrainingData, want)
				case ok && want["kind"] == "synthetic" && (!got.TrainingData.Synthetic() ||
					got.TrainingData.Seed != 20261204 || got.TrainingData.Generator != "link_traces v1" ||
					got.TrainingData.Links != 24):
					t.Errorf("TrainingData %+v, want %v", got.TrainingData, want)
				}
			}
		})
	}
}
