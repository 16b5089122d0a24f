package runtime_test

import (
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// trustedConfig is a Config that trusts the keys in path.
func trustedConfig(t *testing.T, path string) runtime.Config {
	t.Helper()
	t.Fatalf("case needs trusted keys (%s), but runtime.Config.TrustedKeys is not wired yet: sidecar/signing "+
		"is missing", path)
	return runtime.Config{}
}
