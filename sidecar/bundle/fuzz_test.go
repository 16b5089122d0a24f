package bundle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// defaultBundle is golden/bundle; internal/testbundle imports this package, so an
// internal test cannot use it.
func defaultBundle(t testing.TB) (string, *Bundle) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "golden", "bundle")
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, b
}

// FuzzManifest: any bytes give a manifest the runtime can index (one input and output,
// dynamic batch axis, bounded positive dimensions, at least one model) or a bad-bundle
// refusal of the manifest.json or manifest.schema check; never a panic.
func FuzzManifest(f *testing.F) {
	dir, _ := defaultBundle(f)
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	// The schema library panics on an underflowing literal it is given (see canonical).
	f.Add(bytes.Replace(data, []byte(`"fit_rows": 8393.0`), []byte(`"fit_rows": 1e-9999999`), 1))
	for _, s := range []string{`{}`, `[]`, `{"a":1,"a":2}`, `{"format":"dwcp-ml-bundle/1","models":[{}]}`, "\xff", `{"x":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			var ee *engine.Error
			if !errors.As(err, &ee) || ee.Code != engine.CodeBadBundle || (ee.Check != CheckManifestJSON && ee.Check != CheckSchema) {
				t.Fatalf("got %#v, want a bad bundle of manifest.json or manifest.schema", err)
			}
			return
		}
		if len(m.Models) == 0 {
			t.Fatal("a manifest without models passed")
		}
		for _, mod := range m.Models {
			if len(mod.Inputs) != 1 || len(mod.Outputs) != 1 {
				t.Fatalf("%s: %d inputs, %d outputs passed", mod.Name, len(mod.Inputs), len(mod.Outputs))
			}
			for _, ts := range []TensorSpec{mod.Inputs[0], mod.Outputs[0]} {
				if len(ts.Shape) < 2 || ts.Shape[0] != BatchAxis {
					t.Fatalf("%s: shape %v passed", mod.Name, ts.Shape)
				}
				for _, d := range ts.Shape[1:] {
					if d < 1 || d > 65536 {
						t.Fatalf("%s: shape %v passed", mod.Name, ts.Shape)
					}
				}
			}
		}
	})
}

// FuzzGolden: any bytes as the golden file of a valid manifest entry (chosen by the
// first argument) give tensors whose lengths match their shapes, or a bad-bundle
// refusal; never a panic, never an allocation the file's size does not justify.
func FuzzGolden(f *testing.F) {
	dir, b := defaultBundle(f)
	for i, m := range b.Manifest.Models {
		data, err := os.ReadFile(filepath.Join(dir, m.Golden))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), data)
	}
	f.Add(uint8(0), []byte(`{"format":"dwcp-ml-golden-predictions/1","model":"anomaly","input":{"shape":[4611686018427387904,4]}}`))
	f.Fuzz(func(t *testing.T, i uint8, data []byte) {
		m := &b.Manifest.Models[int(i)%len(b.Manifest.Models)]
		g, err := parseGolden(m.Golden, m, data)
		if err != nil {
			if !errors.Is(err, engine.ErrBadBundle) {
				t.Fatalf("got %#v, want a bad bundle", err)
			}
			return
		}
		for _, tt := range []struct {
			shape []int64
			n     int
		}{{g.InputShape, len(g.Input)}, {g.OutputShape, len(g.Output)}} {
			if n, ok := product(tt.shape, tt.n); !ok || n != tt.n {
				t.Fatalf("shape %v with %d values", tt.shape, tt.n)
			}
		}
	})
}
