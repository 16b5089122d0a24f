// Package testbundle copies and edits the committed default bundle (golden/bundle) for
// tests of the bundle, runtime, server and client packages.
package testbundle

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Dir is the absolute path of the committed default bundle.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "golden", "bundle")
}

// Copy copies the default bundle into a new temporary directory and returns it.
func Copy(t testing.TB) string {
	t.Helper()
	src, dst := Dir(), t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// WithVersion copies the default bundle with another bundle_version: a second good bundle.
func WithVersion(t testing.TB, version string) string {
	t.Helper()
	dir := Copy(t)
	EditManifest(t, dir, `"bundle_version": "default-1"`, `"bundle_version": "`+version+`"`)
	return dir
}

// EditManifest replaces the first old with new in dir's manifest.json; old must occur.
func EditManifest(t testing.TB, dir, old, new string) {
	t.Helper()
	Edit(t, filepath.Join(dir, "manifest.json"), old, new)
}

// Edit replaces the first old with new in the file at path; old must occur.
func Edit(t testing.TB, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	Write(t, path, strings.Replace(string(data), old, new, 1))
}

// Write replaces the file at path with text.
func Write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Truncate cuts the file at path to half its size.
func Truncate(t testing.TB, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// Rehash records the current sha256 of the bundle file name (e.g. "pba.onnx",
// "golden/pba.json") in dir's manifest, so a deliberate change passes the sha256 check
// and must be caught by a deeper one.
func Rehash(t testing.TB, dir, name string) {
	t.Helper()
	old := SHA256(t, filepath.Join(Dir(), name))
	EditManifest(t, dir, old, SHA256(t, filepath.Join(dir, name)))
}

// SHA256 is the hex sha256 of the file at path.
func SHA256(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ScaleHosts returns req with n hosts: its hosts repeated in order, copy k >= 1 of host
// "h3" named "h3.k" in the same domain, so the group and peer hosts (which name originals)
// still resolve. Host slices are shared with req.
func ScaleHosts(req engine.PlacementRequest, n int) engine.PlacementRequest {
	out := req
	out.Hosts = make([]engine.HostState, n)
	for i := range out.Hosts {
		h := req.Hosts[i%len(req.Hosts)]
		if k := i / len(req.Hosts); k > 0 {
			h.ID += "." + strconv.Itoa(k)
		}
		out.Hosts[i] = h
	}
	return out
}

// Placement returns the default bundle's placement model (the first of family "itp", the
// one PlaceVM uses) and its golden; the test fails if there is none.
func Placement(t testing.TB) (*bundle.Model, *bundle.Golden) {
	t.Helper()
	b, err := bundle.Load(Dir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Manifest.Models {
		if m := &b.Manifest.Models[i]; m.Family == "itp" {
			return m, b.Goldens[m.Name]
		}
	}
	t.Fatalf("%s has no placement model (family itp)", Dir())
	return nil, nil
}
