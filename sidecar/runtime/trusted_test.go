package runtime_test

import (
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/signing"
)

// trustedConfig is a Config that trusts the keys in path.
func trustedConfig(t *testing.T, path string) runtime.Config {
	t.Helper()
	ring, err := signing.LoadKeyRing(path)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.Config{Verifier: ring.Verify}
}
