package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// corpusEnv names the directory of the bad-bundle corpus that the Python generator writes
// (dwcp_ml.golden.bad_bundles); make test-go generates it into build/bad-bundles.
const corpusEnv = "DWCP_BAD_BUNDLES"

type corpusCase struct {
	Name        string `json:"name"`
	Check       string `json:"check"`
	Description string `json:"description"`
	TrustedKeys bool   `json:"trusted_keys"`
}

// TestBadBundleCorpus opens every bundle of the shared corpus and requires Open to refuse
// it at the case's check, within a bounded time (a FIFO or a device must not block it).
func TestBadBundleCorpus(t *testing.T) {
	dir := os.Getenv(corpusEnv)
	if dir == "" {
		t.Fatalf("%s is unset: generate the corpus with `.venv/bin/python -m dwcp_ml.golden.bad_bundles "+
			"build/bad-bundles` and set %s=$PWD/build/bad-bundles (make test-go does both)", corpusEnv, corpusEnv)
	}
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Format string       `json:"format"`
		Cases  []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatal(err)
	}
	if corpus.Format != "dwcp-ml-bad-bundles/1" || len(corpus.Cases) < 40 {
		t.Fatalf("%s: format %q with %d cases, want dwcp-ml-bad-bundles/1 with at least 40", dir, corpus.Format,
			len(corpus.Cases))
	}
	for _, c := range corpus.Cases {
		t.Run(c.Name, func(t *testing.T) {
			cfg := runtime.Config{}
			if c.TrustedKeys {
				cfg = trustedConfig(t, filepath.Join(dir, "trusted.pub"))
			}
			done := make(chan error, 1)
			go func() { done <- openBad(filepath.Join(dir, c.Name), cfg) }()
			select {
			case err := <-done:
				code := engine.CodeOf(err)
				if code != engine.CodeBadBundle && code != engine.CodeMismatch {
					t.Fatalf("%s: got %v (code %s), want a bad bundle or mismatch", c.Description, err, code)
				}
				refusedAt(t, err, code, c.Check, "")
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: Open blocked for 30 s", c.Description)
			}
		})
	}
}
