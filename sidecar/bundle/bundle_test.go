package bundle_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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

// refusal requires err to be an *engine.Error of code refusing the bundle at check with
// msg in its message.
func refusal(t *testing.T, err error, code engine.Code, check, msg string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != code || ee.Check != check || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got %v\nwant code %s, check %s, containing %q", err, code, check, msg)
	}
	if want := "check " + check + ": "; !strings.Contains(err.Error(), want) {
		t.Fatalf("%v lacks %q", err, want)
	}
}

// symlink replaces the bundle file name with a symbolic link to target.
func symlink(target, name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

// fifo replaces the bundle file name with a FIFO that nobody writes to.
func fifo(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		path := filepath.Join(dir, name)
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func editManifest(old, new string) func(*testing.T, string) {
	return func(t *testing.T, dir string) { testbundle.EditManifest(t, dir, old, new) }
}

func writeManifest(text string) func(*testing.T, string) {
	return func(t *testing.T, dir string) { testbundle.Write(t, filepath.Join(dir, "manifest.json"), text) }
}

// TestLoadErrors: each bad bundle is refused at its check of spec/bundle/checks.json.
func TestLoadErrors(t *testing.T) {
	shadowSum := "" // the message must not reveal anything of a link's target
	if data, err := os.ReadFile("/etc/passwd"); err == nil {
		sum := sha256.Sum256(data)
		shadowSum = hex.EncodeToString(sum[:])
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		check  string
		msg    string
	}{
		{"missing manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "manifest.json")) },
			bundle.CheckManifestRead, "manifest.json is missing; is"},
		{"manifest a symlink inside", symlink("golden/pba.json", "manifest.json"), bundle.CheckManifestRead,
			"manifest.json is a symbolic link; bundle files must be regular files"},
		{"manifest a symlink to /dev/zero", symlink("/dev/zero", "manifest.json"), bundle.CheckManifestRead,
			"manifest.json is a symbolic link"},
		{"manifest a FIFO", fifo("manifest.json"), bundle.CheckManifestRead, "manifest.json is a FIFO"},
		{"manifest a directory", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "manifest.json"))
			os.Mkdir(filepath.Join(dir, "manifest.json"), 0o755)
		}, bundle.CheckManifestRead, "manifest.json is a directory"},
		{"manifest too large", writeManifest("{" + strings.Repeat(" ", 1<<20) + "}"), bundle.CheckManifestRead,
			"manifest.json is larger than 1048576 bytes"},
		{"manifest not JSON", writeManifest("{"), bundle.CheckManifestJSON, "not valid JSON"},
		{"empty manifest", writeManifest(""), bundle.CheckManifestJSON, "not valid JSON"},
		{"top-level array", writeManifest("[]"), bundle.CheckManifestJSON, "the top level is not an object"},
		{"two top-level values", writeManifest("{} {}"), bundle.CheckManifestJSON, "more than one top-level value"},
		{"deep nesting", writeManifest(`{"a":` + strings.Repeat("[", 100000)), bundle.CheckManifestJSON,
			"nesting deeper than 32"},
		{"duplicate key", editManifest(`"bundle_version": "default-1",`, `"bundle_version": "default-1", "bundle_version": "x",`),
			bundle.CheckManifestJSON, `duplicate key "bundle_version"`},
		{"NaN", editManifest(`"ai.onnx": 18`, `"ai.onnx": NaN`), bundle.CheckManifestJSON, "not valid JSON"},
		{"1e400", editManifest(`"ai.onnx": 18`, `"ai.onnx": 1e400`), bundle.CheckManifestJSON, "beyond the float64 range"},
		{"invalid UTF-8", editManifest(`"default-1"`, "\"default-\xff\""), bundle.CheckManifestJSON, "not valid UTF-8"},
		{"wrong format", editManifest("dwcp-ml-bundle/1", "dwcp-ml-bundle/9"), bundle.CheckSchema, "at '/format'"},
		{"missing bundle_version", editManifest(`"bundle_version": "default-1",`, ""), bundle.CheckSchema,
			"missing property 'bundle_version'"},
		{"seq_len a string", editManifest(`"seq_len": 2`, `"seq_len": "2"`), bundle.CheckSchema,
			"at '/models/0/feature_params/seq_len'"},
		{"shape 2^62", editManifest("null,\n            18", "null,\n            4611686018427387904"), bundle.CheckSchema,
			"at '/models/0/inputs/0/shape/1'"},
		{"empty thresholds", editManifest(`"score": -0.27990489298649357`, ""), bundle.CheckSchema,
			"at '/models/0/thresholds': missing property 'score'"},
		{"float64 tensor", editManifest(`"dtype": "float32"`, `"dtype": "float64"`), bundle.CheckSchema,
			"at '/models/0/inputs/0/dtype'"},
		{"file outside bundle", editManifest(`"file": "pba.onnx"`, `"file": "../pba.onnx"`), bundle.CheckFilesInside,
			`pba: check files.inside: file "../pba.onnx" is not a relative path inside the bundle`},
		{"absolute file", editManifest(`"golden": "golden/pba.json"`, `"golden": "/etc/passwd"`), bundle.CheckFilesInside,
			`file "/etc/passwd" is not a relative path`},
		{"symlink to /etc/shadow", symlink("/etc/shadow", "pba.onnx"), bundle.CheckFilesRegular,
			"pba.onnx is a symbolic link; bundle files must be regular files"},
		{"symlink to /dev/zero", symlink("/dev/zero", "golden/anomaly.json"), bundle.CheckFilesRegular,
			"golden/anomaly.json is a symbolic link"},
		{"stray symlink", symlink("/etc", "etc"), bundle.CheckFilesRegular, "etc is a symbolic link"},
		{"FIFO model file", fifo("scaling.onnx"), bundle.CheckFilesRegular, "scaling.onnx is a FIFO"},
		{"socket", func(t *testing.T, dir string) {
			l, err := net.Listen("unix", filepath.Join(dir, "s"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, bundle.CheckFilesRegular, "s is a socket"},
		{"too many entries", func(t *testing.T, dir string) {
			for i := range 250 {
				testbundle.Write(t, filepath.Join(dir, fmt.Sprintf("extra%03d", i)), "")
			}
		}, bundle.CheckFilesRegular, "more than 256 entries"},
		{"missing onnx", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "scaling.onnx")) },
			bundle.CheckFilesRegular, "scaling.onnx is missing (listed in manifest.json)"},
		{"truncated onnx", func(t *testing.T, dir string) { testbundle.Truncate(t, filepath.Join(dir, "pba.onnx")) },
			bundle.CheckFilesSHA256, "pba: check files.sha256: pba.onnx: sha256 does not match"},
		{"tampered golden", func(t *testing.T, dir string) {
			testbundle.Truncate(t, filepath.Join(dir, "golden", "anomaly.json"))
		}, bundle.CheckFilesSHA256, "golden/anomaly.json: sha256"},
		{"tampered manifest sha", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, testbundle.SHA256(t, filepath.Join(dir, "pba.onnx")), strings.Repeat("0", 64))
		}, bundle.CheckFilesSHA256, "pba.onnx: sha256"},
		{"duplicate model name", editManifest(`"name": "scaling"`, `"name": "pba"`), bundle.CheckModelsUnique,
			`model name "pba" repeats`},
		{"golden of another model", func(t *testing.T, dir string) {
			testbundle.Edit(t, filepath.Join(dir, "golden", "pba.json"), `"model": "pba"`, `"model": "pbb"`)
			testbundle.Rehash(t, dir, "golden/pba.json")
		}, bundle.CheckGoldenRead, `for model "pbb", want "dwcp-ml-golden-predictions/1" for "pba"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testbundle.Copy(t)
			tt.mutate(t, dir)
			done := make(chan error, 1)
			go func() { _, err := bundle.Load(dir); done <- err }()
			select {
			case err := <-done:
				refusal(t, err, engine.CodeBadBundle, tt.check, tt.msg)
				if msg := err.Error(); strings.Contains(msg, dir) || strings.Contains(msg, "shadow") ||
					(shadowSum != "" && strings.Contains(msg, shadowSum)) {
					t.Fatalf("%q names the bundle directory or a link's target", msg)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Load blocked for 10 s")
			}
		})
	}
}

// TestLoadNotADirectory: a file, a missing path and an empty directory read alike.
func TestLoadNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	testbundle.Write(t, file, "{}")
	pipe := filepath.Join(t.TempDir(), "p")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, pipe, filepath.Join(t.TempDir(), "none"), t.TempDir()} {
		_, err := bundle.Load(dir)
		refusal(t, err, engine.CodeBadBundle, bundle.CheckManifestRead,
			"dwcp-ml: load bundle: check manifest.read: manifest.json is missing; is the directory a dwcp-ml bundle?")
	}
}

// TestSpecOrder: the Go check names are the specification's, in its order, and Load runs
// the pure-Go subset in that order whatever the slice order.
func TestSpecOrder(t *testing.T) {
	sp := bundle.LoadSpec()
	want := []string{bundle.CheckManifestRead, bundle.CheckManifestJSON, bundle.CheckSchema, bundle.CheckFilesInside,
		bundle.CheckFilesRegular, bundle.CheckFilesSHA256, bundle.CheckSignature, bundle.CheckModelsUnique,
		bundle.CheckFeatureCore, bundle.CheckONNXRuntime, bundle.CheckOpset, bundle.CheckSchemaHash,
		bundle.CheckONNXSignature, bundle.CheckONNXMetadata, bundle.CheckGoldenRead, bundle.CheckDriftRead, bundle.CheckGoldenFeature,
		bundle.CheckGoldenOutput}
	if !slices.Equal(sp.Checks, want) {
		t.Fatalf("checks.json lists %v\nGo names %v", sp.Checks, want)
	}
	checks := bundle.Checks()
	slices.Reverse(checks)
	got := bundle.CheckNames(checks)
	for i := 1; i < len(got); i++ {
		if slices.Index(want, got[i-1]) >= slices.Index(want, got[i]) {
			t.Fatalf("order %v is not the spec's", got)
		}
	}
	if l := sp.Limits; l.ManifestBytes != 1<<20 || l.JSONDepth != 32 || l.FileBytes != 1<<30 || l.BundleFiles != 256 {
		t.Fatalf("limits %+v", l)
	}
}

// TestUnknownCheck: a check the specification does not list is refused before any runs.
func TestUnknownCheck(t *testing.T) {
	ran := false
	_, err := bundle.LoadWith(testbundle.Dir(), []bundle.Check{{Name: "made.up", Run: func(*bundle.Bundle) error {
		ran = true
		return nil
	}}})
	refusal(t, err, engine.CodeInternal, "made.up", "not in spec/bundle/checks.json")
	if ran {
		t.Fatal("the unknown check ran")
	}
}

// TestSignatureOption: with a verifier, model.sig is required and the verifier sees every
// file but model.sig; its refusal is the signature check's.
func TestSignatureOption(t *testing.T) {
	dir := testbundle.Copy(t)
	files := 0 // every regular file of the bundle (models, goldens, drift references, manifest)
	if err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var seen map[string][]byte
	accept := bundle.WithSignature(func(sig []byte, files map[string][]byte) (string, error) {
		seen = files
		if string(sig) != "sig" {
			return "", errors.New("not signed by a trusted key")
		}
		return "key1", nil
	})
	_, err := bundle.Load(dir, accept)
	refusal(t, err, engine.CodeBadBundle, bundle.CheckSignature, "model.sig is missing: the bundle is not signed")
	testbundle.Write(t, filepath.Join(dir, "model.sig"), "forged")
	_, err = bundle.Load(dir, accept)
	refusal(t, err, engine.CodeBadBundle, bundle.CheckSignature, "model.sig: not signed by a trusted key")
	testbundle.Write(t, filepath.Join(dir, "model.sig"), "sig")
	b, err := bundle.Load(dir, accept)
	if err != nil || b.SignedBy != "key1" {
		t.Fatalf("signed bundle: %v, signed by %q", err, b.SignedBy)
	}
	if _, ok := seen["model.sig"]; ok || len(seen) != files || seen["manifest.json"] == nil {
		t.Fatalf("the verifier saw %d files, the bundle has %d", len(seen), files)
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
			refusal(t, err, engine.CodeBadBundle, bundle.CheckGoldenRead, tc.want)
		})
	}
}

// TestParseManifestNumbers: numbers read as Python reads them: an underflow is 0 (the
// schema library would panic on 1e-9999999 and crawl on 1e-99999), 3.0 is an integer,
// and only overflow is refused.
func TestParseManifestNumbers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testbundle.Dir(), "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ old, new, check string }{
		{`"fit_rows": 0.0`, `"fit_rows": 1e-9999999`, ""},
		{`"fit_rows": 0.0`, `"fit_rows": 1e-99999`, ""},
		{`"seq_len": 2`, `"seq_len": 2.0`, ""},
		{`"seq_len": 2`, `"seq_len": 2.5`, bundle.CheckSchema},
		{`"fit_rows": 0.0`, `"fit_rows": -1e309`, bundle.CheckManifestJSON},
	} {
		start := time.Now()
		m, err := bundle.ParseManifest([]byte(strings.Replace(string(data), tc.old, tc.new, 1)))
		switch {
		case time.Since(start) > time.Second:
			t.Errorf("%s: %v", tc.new, time.Since(start))
		case tc.check == "" && (err != nil || m.Models[0].FeatureParams.SeqLen != 2):
			t.Errorf("%s: %v", tc.new, err)
		case tc.check != "":
			refusal(t, err, engine.CodeBadBundle, tc.check, "manifest.json")
		}
	}
}
