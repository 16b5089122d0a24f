package bundle_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/testbundle"
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
