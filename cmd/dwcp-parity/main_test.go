package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
)

var defaultBundle = testbundle.Dir()

// flippedBundle copies the default bundle with another float32 as the scaling model's
// first golden output and that file's sha256 recorded: only the golden comparison can
// notice.
func flippedBundle(t *testing.T) string {
	dir := testbundle.Copy(t)
	testbundle.Edit(t, filepath.Join(dir, "golden", "scaling.json"), `"float32": "45278696`, `"float32": "45278697`)
	testbundle.Rehash(t, dir, "golden/scaling.json")
	return dir
}

func TestParity(t *testing.T) {
	flipped := flippedBundle(t)

	tests := []struct {
		name   string
		args   []string
		status int
		out    []string
	}{
		{"default bundle", []string{defaultBundle}, 0,
			[]string{"anomaly      match  9 rows match bit for bit", "pba          match", "scaling      match"}},
		{"json", []string{"-json", defaultBundle}, 0, []string{`"version": "default-1"`, `"ok": true`}},
		{"one model differs", []string{flipped}, 1,
			[]string{"pba          match", "scaling      MISMATCH  dwcp-ml: load bundle scaling: check golden.output: golden output[0]: golden 0x45278697"}},
		{"no bundle", []string{t.TempDir()}, 2, []string{"dwcp-parity: error: dwcp-ml: load bundle: check manifest.read: manifest.json is missing; is"}},
		{"usage", nil, 2, []string{"want one bundle directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(tt.args, &stdout, &stderr)
			all := stdout.String() + stderr.String()
			if status != tt.status {
				t.Fatalf("exit %d, want %d:\n%s", status, tt.status, all)
			}
			for _, want := range tt.out {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
			if tt.name == "json" {
				var v map[string]any
				if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
