package bundle_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

func TestLoadDefault(t *testing.T) {
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"anomaly", "pba", "scaling"} {
		m, ok := b.Model(name)
		if !ok {
			t.Fatalf("model %s missing", name)
		}
		g := b.Goldens[name]
		if len(g.Runs) == 0 || len(g.Input) == 0 || int(g.OutputShape[0]) != int(g.InputShape[0]) {
			t.Errorf("%s: golden %d runs, input %v, output %v", name, len(g.Runs), g.InputShape, g.OutputShape)
		}
		if m.Inputs[0].Shape[0] != bundle.BatchAxis {
			t.Errorf("%s: input shape %v", name, m.Inputs[0].Shape)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   string
	}{
		{"missing manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "manifest.json")) },
			"missing; is"},
		{"manifest not JSON", func(t *testing.T, dir string) { testbundle.Write(t, filepath.Join(dir, "manifest.json"), "{") }, "not valid JSON"},
		{"truncated onnx", func(t *testing.T, dir string) { testbundle.Truncate(t, filepath.Join(dir, "pba.onnx")) },
			"pba.onnx: sha256"},
		{"missing onnx", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "scaling.onnx")) },
			"scaling.onnx: missing"},
		{"tampered golden", func(t *testing.T, dir string) { testbundle.Truncate(t, filepath.Join(dir, "golden", "anomaly.json")) },
			"anomaly.json: sha256"},
		{"tampered manifest sha", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, testbundle.SHA256(t, filepath.Join(dir, "pba.onnx")), strings.Repeat("0", 64))
		}, "pba.onnx: sha256"},
		{"wrong format", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, "dwcp-ml-bundle/1", "dwcp-ml-bundle/9")
		},
			"format is"},
		{"file outside bundle", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"file": "pba.onnx"`, `"file": "../pba.onnx"`)
		},
			"outside the bundle"},
		{"float64 tensor", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"dtype": "float32"`, `"dtype": "float64"`)
		},
			"only float32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testbundle.Copy(t)
			tt.mutate(t, dir)
			_, err := bundle.Load(dir)
			if !errors.Is(err, engine.ErrBadBundle) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a bad-bundle error containing %q", err, tt.want)
			}
		})
	}
}

// TestPlacementGolden: a placement model's golden reads into engine requests (every host
// of the cluster, histories of H samples) whose feasible rows fill its input, and a golden
// whose raw inputs do not fit the model is refused.
func TestPlacementGolden(t *testing.T) {
	m, g := testbundle.Placement(t)
	if m.Schema != bundle.PlacementKind || m.FeatureParams.History <= 0 || len(g.Runs) != 0 || len(g.Placements) == 0 {
		t.Fatalf("%s: schema %s, history %d, %d runs, %d placements", m.Name, m.Schema, m.FeatureParams.History,
			len(g.Runs), len(g.Placements))
	}
	want := m.FeatureParams.History * engine.NumResources
	for i, p := range g.Placements {
		r := p.Request
		if len(r.Hosts) == 0 || len(r.VM.History) != want || r.Overcommit == (engine.Resources{}) {
			t.Errorf("request %d: %d hosts, history %d values, overcommit %v", i, len(r.Hosts), len(r.VM.History), r.Overcommit)
		}
		for j, h := range r.Hosts {
			if h.ID == "" || len(h.Usage) != want || h.Capacity[engine.ResourceCPU] <= 0 {
				t.Errorf("request %d host %d: %+v", i, j, h)
			}
		}
	}
	if int(g.InputShape[0]) != len(g.Output) || len(g.Input) != len(g.Output)*int(g.InputShape[1]) {
		t.Errorf("input %v, %d outputs", g.InputShape, len(g.Output))
	}

	for _, tc := range []struct{ name, old, new, want string }{
		{"runs golden for a placement model", `"kind": "placement"`, `"kind": "runs"`, `raw.kind "runs" for a model of schema "placement"`},
		{"short history", `"history": "`, `"history": "00`, "raw.requests[0].vm.history: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testbundle.Copy(t)
			name := filepath.Join("golden", m.Name+".json")
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The generator indents; accept a compact file too.
			spaced := strings.NewReplacer(`"kind":"`, `"kind": "`, `"history":"`, `"history": "`).Replace(string(data))
			testbundle.Write(t, path, spaced)
			testbundle.Edit(t, path, tc.old, tc.new)
			testbundle.Rehash(t, dir, name)
			_, err = bundle.Load(dir)
			if !errors.Is(err, engine.ErrBadBundle) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a bad bundle containing %q", err, tc.want)
			}
		})
	}
}
