package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
)

// sign signs dir with the Go signing fixture's test key, through dwcp_ml.export.signing.
func sign(t *testing.T, dir string) {
	t.Helper()
	python, err := filepath.Abs("../../.venv/bin/python")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("signing needs the project venv (make venv): %v", err)
	}
	key, _ := filepath.Abs("../../sidecar/signing/testdata/keys/trusted.key")
	out, err := exec.Command(python, "-c", "import sys; from pathlib import Path; "+
		"from dwcp_ml.export import signing; signing.sign(Path(sys.argv[1]), Path(sys.argv[2]))", dir, key).CombinedOutput()
	if err != nil {
		t.Fatalf("signing %s: %v\n%s", dir, err, out)
	}
}

// TestTrustedKeys: with -trusted-keys an unsigned bundle is refused at start and on reload,
// a signed one serves; without the flag one warning says bundles are not checked.
func TestTrustedKeys(t *testing.T) {
	ctx := context.Background()
	keys, _ := filepath.Abs("../../sidecar/signing/testdata/keys/trusted.pub")

	unsigned := testbundle.Copy(t)
	s := start(t, "-bundle", unsigned, "-unix", filepath.Join(t.TempDir(), "s.sock"), "-metrics", "", "-trusted-keys", keys)
	if code := <-s.exit; code != 1 || !strings.Contains(s.log.String(), "model.sig") {
		t.Fatalf("unsigned bundle at start: exit %d, log:\n%s", code, s.log)
	}
	s.exit <- 1 // for the cleanup

	signed := testbundle.Copy(t)
	sign(t, signed)
	other := testbundle.WithVersion(t, "default-2") // unsigned sibling
	sock := filepath.Join(t.TempDir(), "s.sock")
	start(t, "-bundle", signed, "-unix", sock, "-metrics", "", "-trusted-keys", keys)
	c := ready(t, "unix://"+sock)
	if err := c.Reload(ctx, other); err == nil || !strings.Contains(err.Error(), "model.sig is missing: the bundle is not signed") {
		t.Fatalf("reload of an unsigned bundle: %v, want a signature refusal", err)
	}
	if v, err := c.Versions(ctx); err != nil || v.Bundle != "default-1" {
		t.Fatalf("after the refused reload: %q, %v; want default-1 still served", v.Bundle, err)
	}

	plain := filepath.Join(t.TempDir(), "s.sock")
	p := start(t, "-bundle", testbundle.Copy(t), "-unix", plain, "-metrics", "")
	ready(t, "unix://"+plain)
	if n := strings.Count(p.log.String(), "bundles are not signature-checked (no -trusted-keys)"); n != 1 {
		t.Fatalf("warning logged %d times, want once:\n%s", n, p.log)
	}
}
