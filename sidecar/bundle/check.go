package bundle

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Check is one check of the specification as a loader implements it. Run covers every
// model in manifest order; the first model it refuses ends the load.
type Check struct {
	Name string
	Run  func(*Bundle) error
}

// RunChecks runs checks in the order of spec/bundle/checks.json, whatever their order in the
// slice, and returns the first refusal as an *engine.Error whose Check names it. A check
// the specification does not list is a bug; RunChecks refuses it before running any.
func RunChecks(b *Bundle, checks []Check) error {
	sp := LoadSpec()
	for _, c := range checks {
		if sp.index(c.Name) < 0 {
			return &engine.Error{Code: engine.CodeInternal, Op: "load bundle", Check: c.Name,
				Msg: "this check is not in spec/bundle/checks.json"}
		}
	}
	checks = slices.Clone(checks)
	slices.SortStableFunc(checks, func(x, y Check) int { return cmp.Compare(sp.index(x.Name), sp.index(y.Name)) })
	for _, c := range checks {
		if err := c.Run(b); err != nil {
			return named(c.Name, err)
		}
	}
	return nil
}

// CheckNames are the names of checks in the order RunChecks runs them.
func CheckNames(checks []Check) []string {
	sp := LoadSpec()
	names := make([]string, 0, len(checks))
	for _, c := range checks {
		names = append(names, c.Name)
	}
	slices.SortStableFunc(names, func(x, y string) int { return cmp.Compare(sp.index(x), sp.index(y)) })
	return names
}

// Checks are this package's checks; Load runs them.
func Checks() []Check { return (*Bundle)(nil).checks() }

func (b *Bundle) checks() []Check {
	return []Check{
		{CheckManifestRead, (*Bundle).readManifest},
		{CheckManifestJSON, func(b *Bundle) error { return checkJSON(b.raw, LoadSpec().Limits.JSONDepth) }},
		{CheckSchema, func(b *Bundle) error { return decodeManifest(b.raw, &b.Manifest) }},
		{CheckFilesInside, (*Bundle).checkInside},
		{CheckFilesRegular, (*Bundle).readFiles},
		{CheckFilesSHA256, (*Bundle).checkSHA256},
		{CheckSignature, (*Bundle).checkSignature},
		{CheckModelsUnique, (*Bundle).checkUnique},
		{CheckGoldenRead, (*Bundle).readGoldens},
		{CheckDriftRead, (*Bundle).readDrifts},
	}
}

// readManifest opens the bundle directory as an os.Root (no path may leave it) and reads
// manifest.json. A missing directory, a file in its place and a directory without a
// manifest read the same, so the message tells nothing about the path but that it is no
// bundle.
func (b *Bundle) readManifest() error {
	root, err := openDir(b.Dir)
	if err == nil {
		b.root = root
		b.raw, err = readRegular(root, "", ManifestFile, LoadSpec().Limits.ManifestBytes)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, errNotDir) {
		return bad("", "%s is missing; is the directory a dwcp-ml bundle?", ManifestFile)
	}
	return bad("", "the bundle directory cannot be opened: %v", unwrapPath(err))
}

var errNotDir = errors.New("not a directory")

// openDir opens dir as an os.Root after stat says it is a directory: os.OpenRoot opens
// without O_NONBLOCK, so a FIFO in its place would block it.
func openDir(dir string) (*os.Root, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, errNotDir
	}
	return os.OpenRoot(dir)
}

// named calls fn with every file a model names, model by model in manifest order.
func (b *Bundle) named(fn func(m *Model, name string) error) error {
	for i := range b.Manifest.Models {
		m := &b.Manifest.Models[i]
		for _, name := range []string{m.File, m.Golden, m.Drift} {
			if name == "" {
				continue // only the optional drift reference can be absent (the schema)
			}
			if err := fn(m, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Bundle) checkInside() error {
	re := LoadSpec().relpath
	return b.named(func(m *Model, name string) error {
		if !re.MatchString(name) || !filepath.IsLocal(name) {
			return bad(m.Name, "file %q is not a relative path inside the bundle (slash-separated, no "+
				"segment starting with a dot, not absolute)", name)
		}
		return nil
	})
}

// readFiles checks the entries of the whole tree, then reads the named files (and, for a
// signature check, every other regular file too).
func (b *Bundle) readFiles() error {
	lim := LoadSpec().Limits
	all, err := walk(b.root, lim.BundleFiles)
	if err != nil {
		return err
	}
	b.Files[ManifestFile] = b.raw
	read := func(model, name string) error {
		if _, done := b.Files[name]; done {
			return nil
		}
		data, err := readRegular(b.root, model, name, lim.FileBytes)
		b.Files[name] = data
		return err
	}
	if err := b.named(func(m *Model, name string) error { return read(m.Name, name) }); err != nil {
		return err
	}
	if b.verify == nil {
		return nil
	}
	for _, name := range all {
		if name != SignatureFile {
			if err := read("", name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Bundle) checkSHA256() error {
	return b.named(func(m *Model, name string) error {
		want := m.SHA256
		switch name {
		case m.Golden:
			want = m.GoldenSHA256
		case m.Drift:
			want = m.DriftSHA256
		}
		sum := sha256.Sum256(b.Files[name])
		if hex.EncodeToString(sum[:]) != want {
			return bad(m.Name, "%s: sha256 does not match the manifest's: the file was changed or truncated "+
				"after the bundle was written", name)
		}
		return nil
	})
}

func (b *Bundle) checkSignature() error {
	if b.verify == nil {
		return nil
	}
	sig, err := readRegular(b.root, "", SignatureFile, LoadSpec().Limits.ManifestBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return bad("", "%s is missing: the bundle is not signed, and trusted keys are required", SignatureFile)
		}
		return err
	}
	if b.SignedBy, err = b.verify(sig, b.Files); err != nil {
		return bad("", "%s: %w", SignatureFile, err)
	}
	return nil
}

func (b *Bundle) checkUnique() error {
	for i := range b.Manifest.Models {
		m := &b.Manifest.Models[i]
		if _, dup := b.ONNX[m.Name]; dup {
			return bad(m.Name, "model name %q repeats", m.Name)
		}
		b.ONNX[m.Name] = b.Files[m.File]
	}
	return nil
}

func (b *Bundle) readGoldens() error {
	for i := range b.Manifest.Models {
		m := &b.Manifest.Models[i]
		g, err := parseGolden(m.Golden, m, b.Files[m.Golden])
		if err != nil {
			return err
		}
		b.Goldens[m.Name] = g
	}
	return nil
}
