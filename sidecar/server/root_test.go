package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// TestReloadRoot: the Reload RPC loads only directories under the bundle root, reached
// without symbolic links. Every refusal is PermissionDenied with the same sentence
// whether the path outside exists, is a file, a directory or a link to a valid bundle:
// it tells the caller nothing about files outside the root (no hash, no size, no kind).
func TestReloadRoot(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	inside := filepath.Join(root, "v2")
	if err := os.Rename(testbundle.WithVersion(t, "default-2"), inside); err != nil {
		t.Fatal(err)
	}
	outsideBundle := testbundle.WithVersion(t, "outside") // a valid bundle outside the root
	outsideFile := filepath.Join(outsideBundle, "manifest.json")
	symlink(t, outsideBundle, filepath.Join(root, "link"))
	symlink(t, filepath.Dir(outsideBundle), filepath.Join(root, "parentlink"))
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{BundleRoot: root})
	c := dial(t, target)
	refusal := func(dir string) string {
		return fmt.Sprintf("dwcp-ml: reload: reload directory %s is not under the bundle root %s (reached without symbolic links)", dir, root)
	}
	tests := []struct {
		name   string
		dir    string
		want   error  // nil, or the sentinel
		msg    string // the exact refusal, if PermissionDenied
		bundle string // served afterwards
	}{
		{"outside, a directory holding a bundle", outsideBundle, engine.ErrPermissionDenied, refusal(outsideBundle), "default-1"},
		{"outside, a file", outsideFile, engine.ErrPermissionDenied, refusal(outsideFile), "default-1"},
		{"outside, missing", filepath.Join(outsideBundle, "nope"), engine.ErrPermissionDenied, refusal(filepath.Join(outsideBundle, "nope")), "default-1"},
		{"outside, a system directory", "/etc", engine.ErrPermissionDenied, refusal("/etc"), "default-1"},
		{"outside, a system file", "/etc/passwd", engine.ErrPermissionDenied, refusal("/etc/passwd"), "default-1"},
		{"dot-dot out of the root", root + "/v2/../..", engine.ErrPermissionDenied, refusal(filepath.Dir(root)), "default-1"},
		{"symlink to a bundle outside", filepath.Join(root, "link"), engine.ErrPermissionDenied, refusal(filepath.Join(root, "link")), "default-1"},
		{"symlinked parent", filepath.Join(root, "parentlink", filepath.Base(outsideBundle)), engine.ErrPermissionDenied,
			refusal(filepath.Join(root, "parentlink", filepath.Base(outsideBundle))), "default-1"},
		{"inside, not a bundle", filepath.Join(root, "empty"), engine.ErrBadBundle, "", "default-1"},
		{"inside, a good bundle", inside, nil, "", "default-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Reload(ctx, tc.dir)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Reload: %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Reload: got %v, want %v", err, tc.want)
			case tc.msg != "" && err.Error() != tc.msg:
				t.Errorf("refusal:\n got %s\nwant %s", err, tc.msg)
			}
			if v, err := c.Versions(ctx); err != nil || v.Bundle != tc.bundle {
				t.Errorf("serving %q (%v), want %q", v.Bundle, err, tc.bundle)
			}
		})
	}
}

// TestReloadWithoutRoot: with no bundle root the RPC reloads only the configured bundle
// (an empty directory); Server.Reload, the owner's, is not bound by the root.
func TestReloadWithoutRoot(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	srv, target := serveEngine(t, "unix", eng, eng, server.Config{BundleDir: testbundle.Dir()})
	c := dial(t, target)
	other := testbundle.WithVersion(t, "default-2")
	if err := c.Reload(ctx, other); !errors.Is(err, engine.ErrPermissionDenied) {
		t.Fatalf("Reload %s: got %v, want permission denied", other, err)
	}
	if _, err := srv.Reload(ctx, other); err != nil {
		t.Fatalf("Server.Reload: %v", err)
	}
	// "" is the configured bundle, not the directory served last.
	if err := c.Reload(ctx, ""); err != nil {
		t.Fatalf("Reload \"\": %v", err)
	}
	if v, err := c.Versions(ctx); err != nil || v.Bundle != "default-1" {
		t.Errorf("serving %q (%v) after Reload \"\", want default-1", v.Bundle, err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
