package bundle_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// coreStats are the feature core's drift statistics, through cgo (the test links C; the
// package does not).
type coreStats struct{}

func (coreStats) Histogram(values, edges, counts []float64) error {
	return featurecore.Histogram(values, edges, counts)
}
func (coreStats) PSI(ref, live []float64, eps float64) (float64, error) {
	return featurecore.PSI(ref, live, eps)
}
func (coreStats) KS(ref, live []float64) (float64, error) { return featurecore.KS(ref, live) }

// TestDriftConstants: the pure-Go copies of the core's numbers are the core's.
func TestDriftConstants(t *testing.T) {
	if bundle.DriftVersion != featurecore.DriftVersion || bundle.DriftMaxBins != featurecore.DriftMaxBins {
		t.Fatalf("bundle drift version %d, max bins %d; featurecore %d, %d", bundle.DriftVersion,
			bundle.DriftMaxBins, featurecore.DriftVersion, featurecore.DriftMaxBins)
	}
}

// TestDriftGoldenBits: every model of the default bundle carries a drift reference, and the
// feature core recomputes the golden live counts, PSI and KS of every column from the
// golden tensors bit for bit (the same bits Python stored).
func TestDriftGoldenBits(t *testing.T) {
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Drifts) != len(b.Manifest.Models) {
		t.Fatalf("%d drift references for %d models: after regenerating golden/bundle run "+
			"`python -m dwcp_ml.lifecycle.drift attach golden/bundle`", len(b.Drifts), len(b.Manifest.Models))
	}
	if err := b.CheckDriftGolden(coreStats{}); err != nil {
		t.Fatal(err)
	}
	scored, constant := 0, 0
	for name, d := range b.Drifts {
		if d.Version != featurecore.DriftVersion || d.Bins != featurecore.DriftDefaultBins ||
			d.Epsilon != featurecore.DriftDefaultEpsilon || d.Rows < 1 || !strings.HasPrefix(d.DataDigest, "sha256:") {
			t.Errorf("%s: %+v", name, d)
		}
		for _, c := range d.Columns {
			if c.Constant {
				constant++
			} else {
				scored++
			}
		}
	}
	day := b.Drifts["anomaly"].Columns[2] // day_of_week: masked by scale 1e300, constant
	if !day.Constant || day.Name != "day_of_week" || day.Edges != nil {
		t.Errorf("anomaly column 2: %+v", day)
	}
	t.Logf("%d columns compared bit for bit, %d constant (excluded)", scored, constant)
}

// editDrift rewrites a model's drift reference through change and records its new sha256.
func editDrift(t *testing.T, dir, model string, change func(doc map[string]any)) {
	t.Helper()
	name := filepath.Join("drift", model+".json")
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	change(doc)
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	testbundle.Write(t, filepath.Join(dir, name), string(data))
	testbundle.Rehash(t, dir, name)
}

func column(doc map[string]any, i int) map[string]any {
	return doc["columns"].([]any)[i].(map[string]any)
}

// TestDriftReadErrors: each bad drift reference is refused at its check.
func TestDriftReadErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		check  string
		msg    string
	}{
		{"missing file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "drift", "pba.json")) },
			bundle.CheckFilesRegular, "drift/pba.json is missing (listed in manifest.json)"},
		{"outside the bundle", editManifest(`"drift": "drift/pba.json"`, `"drift": "../drift/pba.json"`),
			bundle.CheckFilesInside, `file "../drift/pba.json" is not a relative path inside the bundle`},
		{"sha256 mismatch", func(t *testing.T, dir string) {
			testbundle.Truncate(t, filepath.Join(dir, "drift", "scaling.json"))
		}, bundle.CheckFilesSHA256, "scaling: check files.sha256: drift/scaling.json: sha256 does not match"},
		{"drift without sha256", func(t *testing.T, dir string) {
			sum := testbundle.SHA256(t, filepath.Join(dir, "drift", "pba.json"))
			testbundle.EditManifest(t, dir, `,
      "drift_sha256": "`+sum+`"`, "")
		}, bundle.CheckSchema, "drift_sha256"},
		{"wrong format", func(t *testing.T, dir string) {
			editDrift(t, dir, "pba", func(d map[string]any) { d["format"] = "other/1" })
		}, bundle.CheckDriftRead, `format "other/1" for model "pba"`},
		{"other version", func(t *testing.T, dir string) {
			editDrift(t, dir, "pba", func(d map[string]any) { d["drift_version"] = 2 })
		}, bundle.CheckDriftRead, "drift_version 2, this feature core's is 1"},
		{"a column short", func(t *testing.T, dir string) {
			editDrift(t, dir, "scaling", func(d map[string]any) { d["columns"] = d["columns"].([]any)[1:] })
		}, bundle.CheckDriftRead, "columns: 9, the model has 10 (9 inputs, 1 outputs)"},
		{"decimal not its bits", func(t *testing.T, dir string) {
			editDrift(t, dir, "pba", func(d map[string]any) {
				column(d, 0)["edges"].(map[string]any)["decimal"].([]any)[1] = 1e9
			})
		}, bundle.CheckDriftRead, "columns[0]: edges: decimal 1 (1e+09) does not equal its float64 bits"},
		{"edges descending", func(t *testing.T, dir string) {
			editDrift(t, dir, "pba", func(d map[string]any) {
				e := column(d, 0)["edges"].(map[string]any)
				e["float64"] = strings.Repeat("3ff0000000000000", 2)
				e["decimal"] = []any{1.0, 1.0}
			})
		}, bundle.CheckDriftRead, "columns[0]: edges: edge 1 is not above edge 0"},
		{"counts off the sample", func(t *testing.T, dir string) {
			editDrift(t, dir, "pba", func(d map[string]any) { d["sample"].(map[string]any)["rows"] = 7 })
		}, bundle.CheckDriftRead, "columns[0]: counts: counts sum to"},
		{"column renamed kind", func(t *testing.T, dir string) {
			editDrift(t, dir, "pba", func(d map[string]any) { column(d, 14)["kind"] = "input" })
		}, bundle.CheckDriftRead, `columns[14]: column "input" 0 "output[0]", want output 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testbundle.Copy(t)
			tt.mutate(t, dir)
			_, err := bundle.Load(dir)
			refusal(t, err, engine.CodeBadBundle, tt.check, tt.msg)
		})
	}
}

// TestDriftGoldenTampered: a golden PSI changed (sha256 updated) still reads, and the
// golden proof names the column.
func TestDriftGoldenTampered(t *testing.T) {
	dir := testbundle.Copy(t)
	editDrift(t, dir, "scaling", func(d map[string]any) {
		psi := column(d, 0)["golden"].(map[string]any)["psi"].(map[string]any)
		psi["float64"], psi["decimal"] = "3ff0000000000000", []any{1.0}
	})
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = b.CheckDriftGolden(coreStats{})
	var ee *engine.Error
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "drift/scaling.json: columns[0] value: golden psi/ks stored 3ff0000000000000") {
		t.Fatalf("got %v", err)
	}
}

// TestNoDriftStaysValid: a bundle whose manifest names no drift reference loads as before.
func TestNoDriftStaysValid(t *testing.T) {
	dir := testbundle.Copy(t)
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range b.Manifest.Models {
		testbundle.EditManifest(t, dir, `,
      "drift": "`+m.Drift+`",
      "drift_sha256": "`+m.DriftSHA256+`"`, "")
	}
	if err := os.RemoveAll(filepath.Join(dir, "drift")); err != nil {
		t.Fatal(err)
	}
	if b, err = bundle.Load(dir); err != nil || len(b.Drifts) != 0 {
		t.Fatalf("%v, %d drift references", err, len(b.Drifts))
	}
	if err := b.CheckDriftGolden(coreStats{}); err != nil {
		t.Fatal(err)
	}
}
