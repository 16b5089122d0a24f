package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// flipGolden flips the lowest bit of the first value of a golden tensor ("input" or
// "output") and records the file's new sha256, so only the golden check can catch it.
func flipGolden(t *testing.T, dir, model, tensor string) {
	t.Helper()
	name := filepath.Join("golden", model+".json")
	path := filepath.Join(dir, name)
	var g map[string]any
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	tt := g[tensor].(map[string]any)
	hex := []byte(tt["float32"].(string))
	hex[7] ^= 1 // '0'<->'1', 'a'<->'`'... keep it a hex digit:
	if !strings.ContainsRune("0123456789abcdef", rune(hex[7])) {
		hex[7] ^= 1 ^ 2
	}
	tt["float32"] = string(hex)
	out, _ := json.Marshal(g)
	testbundle.Write(t, path, string(out))
	testbundle.Rehash(t, dir, name)
}

// refusedAt requires err to be an *engine.Error with code, check and msg in its message.
func refusedAt(t *testing.T, err error, code engine.Code, check, msg string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != code || ee.Check != check || !strings.Contains(err.Error(), msg) ||
		!strings.Contains(err.Error(), "check "+check+": ") {
		t.Fatalf("got %v\nwant code %s at check %s containing %q", err, code, check, msg)
	}
}

// openBad opens dir, closing the engine if it was not refused.
func openBad(dir string, cfg runtime.Config) error {
	e, err := runtime.Open(context.Background(), dir, cfg)
	if err == nil {
		e.Close()
	}
	return err
}

func TestOpenRefusesBadBundles(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		code   engine.Code
		check  string
		msg    string
	}{
		{"truncated onnx", func(t *testing.T, dir string) { testbundle.Truncate(t, filepath.Join(dir, "pba.onnx")) },
			engine.CodeBadBundle, bundle.CheckFilesSHA256, "pba.onnx: sha256"},
		{"tampered manifest sha256", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, testbundle.SHA256(t, filepath.Join(dir, "anomaly.onnx")), strings.Repeat("0", 64))
		}, engine.CodeBadBundle, bundle.CheckFilesSHA256, "anomaly.onnx: sha256"},
		{"another feature core", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"feature_core_version": "1.1.0"`, `"feature_core_version": "1.0.0"`)
		}, engine.CodeMismatch, bundle.CheckFeatureCore, "made with feature core 1.0.0, this runtime has 1.1.0"},
		{"another onnxruntime", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"onnxruntime_version": "1.32.0"`, `"onnxruntime_version": "1.31.1"`)
		}, engine.CodeMismatch, bundle.CheckONNXRuntime, "verified with ONNX Runtime 1.31.1, but"},
		{"another opset", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"ai.onnx": 18`, `"ai.onnx": 19`)
		}, engine.CodeMismatch, bundle.CheckOpset, "manifest opset ai.onnx is 19, this runtime serves 18"},
		{"changed schema hash", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"schema_hash": "befc309086efdf45"`, `"schema_hash": "befc309086efdf46"`)
		}, engine.CodeMismatch, bundle.CheckSchemaHash, "hash befc309086efdf46, this feature core's is befc309086efdf45"},
		{"schema and feature_params disagree", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, "\"feature_params\": {\n        \"schema\": \"metric\"",
				"\"feature_params\": {\n        \"schema\": \"vm\"")
		}, engine.CodeBadBundle, bundle.CheckSchemaHash, `schema "metric" but feature_params.schema "vm"`},
		{"version not the stamped one", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"version": "2"`, `"version": "3"`)
		}, engine.CodeMismatch, bundle.CheckONNXMetadata, `metadata dwcp.version is "2", the manifest says "3"`},
		{"not an onnx file", func(t *testing.T, dir string) {
			testbundle.Write(t, filepath.Join(dir, "scaling.onnx"), "this is not a model")
			testbundle.Rehash(t, dir, "scaling.onnx")
		}, engine.CodeBadBundle, bundle.CheckONNXSignature, "scaling.onnx: ONNX Runtime cannot read it"},
		{"truncated onnx, sha256 updated", func(t *testing.T, dir string) {
			testbundle.Truncate(t, filepath.Join(dir, "pba.onnx"))
			testbundle.Rehash(t, dir, "pba.onnx")
		}, engine.CodeBadBundle, bundle.CheckONNXSignature, "pba: check onnx.signature: pba.onnx: ONNX Runtime cannot read it"},
		{"input renamed", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"name": "input"`, `"name": "features"`)
		}, engine.CodeBadBundle, bundle.CheckONNXSignature, `the manifest says float32 tensor "features"`},
		{"changed normalisation", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, "\"scale\": [\n          1.0,", "\"scale\": [\n          2.0,")
		}, engine.CodeMismatch, bundle.CheckGoldenFeature, "anomaly: check golden.features: golden features[0]"},
		{"golden input bit", func(t *testing.T, dir string) { flipGolden(t, dir, "pba", "input") },
			engine.CodeMismatch, bundle.CheckGoldenFeature, "pba: check golden.features: golden features[0]: golden 0x"},
		{"golden output bit", func(t *testing.T, dir string) { flipGolden(t, dir, "scaling", "output") },
			engine.CodeMismatch, bundle.CheckGoldenOutput, "scaling: check golden.output: golden output[0]: golden 0x"},
		{"changed placement hash", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"schema_hash": "b674e4b315aefd5d"`, `"schema_hash": "b674e4b315aefd5e"`)
		}, engine.CodeMismatch, bundle.CheckSchemaHash,
			"trained on placement factors hash b674e4b315aefd5e, this feature core's is b674e4b315aefd5d"},
		{"placement history", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"history": 12`, `"history": 11`)
		}, engine.CodeBadBundle, bundle.CheckGoldenRead, "raw.requests[0].vm.history: 384 bytes of float64, want 44 values"},
		{"no default overcommit", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"overcommit_mem_mb"`, `"overcommit_memory"`)
		}, engine.CodeBadBundle, bundle.CheckSchema, "missing property 'overcommit_mem_mb'"},
		{"empty thresholds", func(t *testing.T, dir string) {
			testbundle.EditManifest(t, dir, `"score": -0.27990489298649357`, "")
		}, engine.CodeBadBundle, bundle.CheckSchema, "at '/models/0/thresholds': missing property 'score'"},
		{"golden factor bit", func(t *testing.T, dir string) { flipGolden(t, dir, "itp", "input") },
			engine.CodeMismatch, bundle.CheckGoldenFeature, "itp: check golden.features: golden factors[0]: golden 0x"},
		{"golden placement score bit", func(t *testing.T, dir string) { flipGolden(t, dir, "itp_gb", "output") },
			engine.CodeMismatch, bundle.CheckGoldenOutput, "itp_gb: check golden.output: golden output[0]: golden 0x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testbundle.Copy(t)
			tt.mutate(t, dir)
			refusedAt(t, openBad(dir, runtime.Config{}), tt.code, tt.check, tt.msg)
		})
	}
}

// ONNX Runtime is one library per process, so library faults run in a child process:
// the test binary again, running only TestLibraryChild with the library to try.
const childEnv = "DWCP_TEST_CHILD_LIB"

func TestLibraryChild(t *testing.T) {
	lib, ok := os.LookupEnv(childEnv)
	if !ok {
		return // only meaningful as the child of TestLibraryFaults
	}
	_, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{LibraryPath: lib})
	t.Logf("code=%s err=%v", engine.CodeOf(err), err)
}

func TestLibraryFaults(t *testing.T) {
	other := os.Getenv("DWCP_TEST_OTHER_ORT_LIB")
	if other == "" {
		other = filepath.Join(testbundle.Dir(), "..", "..", "build", "ort-1.31.1", "libonnxruntime.so.1.31.1")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("the ONNX Runtime 1.31.1 library for this test is missing (%v): `make test-go` downloads it", err)
	}
	notALibrary := filepath.Join(t.TempDir(), "libonnxruntime.so")
	testbundle.Write(t, notALibrary, "not an ELF file")
	tests := []struct {
		name, lib, code, msg string
	}{
		{"missing library", "/nonexistent/libonnxruntime.so.1.32.0", "onnxruntime library",
			"does not exist: point ONNXRUNTIME_LIB or -ort-lib at libonnxruntime.so"},
		{"not a library", notALibrary, "onnxruntime library", "cannot use " + notALibrary},
		{"another ONNX Runtime version", other, "mismatch",
			"verified with ONNX Runtime 1.32.0, but " + other + " is 1.31.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryChild$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+tt.lib)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child process failed (%v): a bad library must give an error, not a crash:\n%s", err, out)
			}
			if !strings.Contains(string(out), "code="+tt.code+" ") || !strings.Contains(string(out), tt.msg) {
				t.Fatalf("child output lacks code=%s and %q:\n%s", tt.code, tt.msg, out)
			}
		})
	}
}
