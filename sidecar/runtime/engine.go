package runtime

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// DefaultMaxBatch bounds the rows of one call when Config.MaxBatch is 0.
const DefaultMaxBatch = 4096

// Config configures Open.
type Config struct {
	// LibraryPath is libonnxruntime.so; "" means $ONNXRUNTIME_LIB, then the pinned wheel's
	// library in the nearest .venv at or above the working directory (FindLibrary).
	LibraryPath string
	// MaxBatch is the most rows (or series, or placement requests) one call may carry; 0
	// means DefaultMaxBatch.
	MaxBatch int
	// MaxHosts is the most hosts one placement call may carry, all its requests together;
	// 0 means DefaultMaxHosts.
	MaxHosts int
	// Limits bound the series of the typed calls; zero fields take their defaults.
	Limits Limits
	// Verifier, if set, makes every load (Open and Reload) require model.sig signed by a
	// trusted key (e.g. (*signing.KeyRing).Verify); nil leaves bundles signature-unchecked.
	Verifier bundle.Verifier
	// Observe, if set, is called after every model run of a call (not of verification)
	// with the call's ctx, the model, and its input and output tensors of rows rows
	// (row-major float32, as ONNX Runtime took and gave them), e.g. for live drift
	// (sidecar/monitor). It runs on the request path: keep it short. It must neither keep
	// nor modify the slices.
	Observe func(ctx context.Context, model engine.ModelRef, rows int, input, output []float32)
}

// Engine serves one verified bundle at a time. It is safe for concurrent use.
type Engine struct {
	cfg        Config
	libPath    string
	ortVersion string
	current    atomic.Pointer[loaded]
	reloading  sync.Mutex   // serialises Reload and Close
	partitions partitionLog // PartitionTask's decisions, for ReportOutcome
}

var _ engine.Engine = (*Engine)(nil)

// loaded is one bundle with open sessions. Calls hold mu for reading while they use it;
// retiring it takes mu for writing, so its sessions are destroyed only after the last call.
type loaded struct {
	mu       sync.RWMutex
	retired  bool
	models   map[string]*model
	byFamily map[string]*model
	versions engine.Versions
	drifts   map[string]*bundle.DriftReference
}

// Open loads and verifies the bundle in dir (see the package documentation) and returns
// an Engine serving it. Errors are *engine.Error: CodeLibrary, CodeBadBundle, CodeMismatch.
func Open(ctx context.Context, dir string, cfg Config) (*Engine, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = DefaultMaxHosts
	}
	cfg.Limits = cfg.Limits.withDefaults()
	path, version, err := startLibrary(cfg.LibraryPath)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, libPath: path, ortVersion: version}
	l, err := e.load(ctx, dir)
	if err != nil {
		return nil, err
	}
	e.current.Store(l)
	return e, nil
}

// readBundle runs every check of the specification on the bundle in dir, in its order:
// sidecar/bundle's and the loader's against this feature core and ONNX Runtime. On
// success the loader holds the bundle's models with open sessions; on error nothing stays
// open. keepGoing is Parity's mode (see loader).
func readBundle(ctx context.Context, dir, ortVersion, libPath string, keepGoing bool, opts ...bundle.Option) (*loader, *bundle.Bundle, error) {
	sessOpts, err := sessionOptions()
	if err != nil {
		return nil, nil, engine.Errorf(engine.CodeLibrary, "load bundle", "", "%w", err)
	}
	defer sessOpts.Destroy() // each session keeps what it needs of them
	ld := &loader{ctx: ctx, ortVersion: ortVersion, libPath: libPath, opts: sessOpts, keepGoing: keepGoing}
	b, err := bundle.LoadWith(dir, ld.checks(), opts...)
	if err != nil {
		ld.close()
		return nil, nil, err
	}
	return ld, b, nil
}

// load reads, checks and opens a bundle; on error nothing stays open.
func (e *Engine) load(ctx context.Context, dir string) (*loaded, error) {
	var opts []bundle.Option
	if e.cfg.Verifier != nil {
		opts = append(opts, bundle.WithSignature(e.cfg.Verifier))
	}
	ld, b, err := readBundle(ctx, dir, e.ortVersion, e.libPath, false, opts...)
	if err != nil {
		return nil, err
	}
	l := &loaded{models: map[string]*model{}, byFamily: map[string]*model{}, drifts: b.Drifts}
	for _, m := range ld.models {
		l.models[m.entry.Name] = m
		if _, dup := l.byFamily[m.entry.Family]; !dup {
			l.byFamily[m.entry.Family] = m
		}
		l.versions.Models = append(l.versions.Models, m.info)
	}
	l.versions.Bundle, l.versions.BundleDir = b.Manifest.BundleVersion, dir
	l.versions.FeatureCore, l.versions.ONNXRuntime = featurecore.Version(), e.ortVersion
	l.versions.LoadedAt = time.Now().UTC()
	return l, nil
}

func (l *loaded) close() {
	for _, m := range l.models {
		m.close()
	}
}

// retire waits for the calls using l, then releases its sessions.
func (l *loaded) retire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retired = true
	l.close()
}

// acquire returns the current bundle held for reading; release it with l.mu.RUnlock. It
// fails fast when the caller has already given up: a model run itself is not interruptible
// (and takes microseconds to milliseconds).
func (e *Engine) acquire(ctx context.Context, op string) (*loaded, error) {
	if err := ctx.Err(); err != nil {
		return nil, engine.Errorf(engine.CodeCanceled, op, "", "%w", err)
	}
	for {
		l := e.current.Load()
		if l == nil {
			return nil, engine.Errorf(engine.CodeUnavailable, op, "", "the engine is closed")
		}
		l.mu.RLock()
		if !l.retired {
			return l, nil
		}
		l.mu.RUnlock() // swapped out meanwhile: take the new one
	}
}

// Reload verifies the bundle in dir ("" = the current bundle's directory) and swaps it in.
// On any error the current bundle keeps serving and the error says why the new one was
// refused. Calls in flight finish on the old bundle; Reload returns once they have.
func (e *Engine) Reload(ctx context.Context, dir string) error {
	e.reloading.Lock()
	defer e.reloading.Unlock()
	old := e.current.Load()
	if old == nil {
		return engine.Errorf(engine.CodeUnavailable, "reload", "", "the engine is closed")
	}
	if dir == "" {
		dir = old.versions.BundleDir
	}
	l, err := e.load(ctx, dir)
	if err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) {
			ee.Op = "reload " + dir + " (still serving " + old.versions.Bundle + ")"
		}
		return err
	}
	e.current.Store(l)
	old.retire()
	return nil
}

// Close stops serving: later calls fail with engine.ErrUnavailable; calls in flight
// finish first. The ONNX Runtime library stays loaded for the process.
func (e *Engine) Close() error {
	e.reloading.Lock()
	defer e.reloading.Unlock()
	if old := e.current.Swap(nil); old != nil {
		old.retire()
	}
	return nil
}

// Versions describes the bundle being served.
func (e *Engine) Versions(ctx context.Context) (engine.Versions, error) {
	l, err := e.acquire(ctx, "versions")
	if err != nil {
		return engine.Versions{}, err
	}
	defer l.mu.RUnlock()
	return l.versions, nil
}

// DriftReferences returns the drift references of the bundle being served, by model name
// (models without one are absent). They are read-only.
func (e *Engine) DriftReferences(ctx context.Context) (map[string]*bundle.DriftReference, error) {
	l, err := e.acquire(ctx, "drift references")
	if err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	return l.drifts, nil
}

// observe hands a model run's tensors to Config.Observe, if set.
func (e *Engine) observe(ctx context.Context, m *model, rows int, in, out []float32) {
	if e.cfg.Observe != nil {
		e.cfg.Observe(ctx, m.ref, rows, in, out)
	}
}

// model finds name (and version, "" = any) in l.
func (l *loaded) model(op, name, version string) (*model, error) {
	m, ok := l.models[name]
	if !ok {
		names := make([]string, 0, len(l.models))
		for n := range l.models {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, engine.Errorf(engine.CodeNotFound, op, name, "unknown model %q; bundle %s serves %s",
			name, l.versions.Bundle, strings.Join(names, ", "))
	}
	if version != "" && version != m.entry.Version {
		return nil, engine.Errorf(engine.CodeNotFound, op, name, "version %q is not loaded; bundle %s has %s %s",
			version, l.versions.Bundle, name, m.entry.Version)
	}
	return m, nil
}

// family finds the model of a family for a typed call.
func (l *loaded) family(op, family string) (*model, error) {
	m, ok := l.byFamily[family]
	if !ok {
		return nil, engine.Errorf(engine.CodeNotFound, op, "", "bundle %s has no %s model", l.versions.Bundle, family)
	}
	return m, nil
}
