package server

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// reloadDir is the directory a Reload RPC for dir may load: "" is the configured bundle;
// any other directory must be under the bundle root. A refusal says the same whatever is
// (or is not) at dir outside the root, so it tells a caller nothing about files there.
func (s *Server) reloadDir(dir string) (string, error) {
	if dir == "" {
		return s.bundleDir, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", engine.Errorf(engine.CodeInvalidInput, "reload", "", "reload directory %q: %w", dir, err)
	}
	if s.bundleRoot == "" {
		return "", engine.Errorf(engine.CodePermissionDenied, "reload", "",
			"reload directory %s: this sidecar has no bundle root, so it reloads only its own bundle (an empty directory)", abs)
	}
	if !underRoot(s.bundleRoot, abs) {
		return "", engine.Errorf(engine.CodePermissionDenied, "reload", "",
			"reload directory %s is not under the bundle root %s (reached without symbolic links)", abs, s.bundleRoot)
	}
	return abs, nil
}

// underRoot reports whether the absolute, clean path dir is root or below it, with no
// symbolic link among its components below root (so a link cannot lead out of the root).
// A component that does not exist ends the walk: loading then fails with its own error,
// about a path inside the root.
func underRoot(root, dir string) bool {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return false
	}
	if rel == "." {
		return true
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return false
	}
	defer r.Close()
	prefix := ""
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		prefix = filepath.Join(prefix, part)
		fi, err := r.Lstat(prefix)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return true
		case err != nil, fi.Mode()&fs.ModeSymlink != 0:
			return false
		}
	}
	return true
}
