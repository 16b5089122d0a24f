package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// LibraryEnv names the environment variable that points at libonnxruntime.so.
const LibraryEnv = "ONNXRUNTIME_LIB"

// wheelGlob finds the library inside the pinned onnxruntime wheel of a virtual environment.
const wheelGlob = ".venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*"

// library is the process-wide ONNX Runtime environment: onnxruntime_go keeps one.
var library struct {
	sync.Mutex
	path    string
	version string
}

// FindLibrary returns the library Open would use for configured (a Config.LibraryPath):
// configured itself, else $ONNXRUNTIME_LIB, else the wheel's library in the nearest .venv
// at or above the working directory.
func FindLibrary(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if p := os.Getenv(LibraryEnv); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", libErr("cannot read the working directory to find .venv: %w", err)
	}
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, wheelGlob))
		if len(matches) > 0 {
			sort.Strings(matches)
			return matches[len(matches)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", libErr("libonnxruntime.so not found: set %s or the -ort-lib flag to the "+
				"library of the pinned onnxruntime wheel, or run `make venv` in the dwcp-ml checkout", LibraryEnv)
		}
		dir = parent
	}
}

// startLibrary finds and initialises the library; it returns its path and version.
func startLibrary(configured string) (path, version string, err error) {
	if path, err = FindLibrary(configured); err != nil {
		return "", "", err
	}
	if version, err = initLibrary(path); err != nil {
		return "", "", err
	}
	return library.path, version, nil
}

// initLibrary initialises ONNX Runtime from path once per process and returns its version.
func initLibrary(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", libErr("%s: %w", path, err)
	}
	library.Lock()
	defer library.Unlock()
	if ort.IsInitialized() {
		if abs != library.path {
			return "", libErr("ONNX Runtime is already loaded from %s in this process; cannot also load %s",
				library.path, abs)
		}
		return library.version, nil
	}
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", libErr("%s does not exist: point %s or -ort-lib at libonnxruntime.so of the "+
				"pinned onnxruntime wheel (`make venv` installs it)", abs, LibraryEnv)
		}
		return "", libErr("%s: %w", abs, err)
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return "", libErr("cannot use %s (onnxruntime_go needs ONNX Runtime >= 1.24 with the C API): %w", abs, err)
	}
	library.path, library.version = abs, ort.GetVersion()
	return library.version, nil
}

func libErr(format string, args ...any) error {
	return engine.Errorf(engine.CodeLibrary, "load onnxruntime", "", format, args...)
}

// sessionOptions is the deterministic profile the golden predictions were made with.
func sessionOptions() (*ort.SessionOptions, error) {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	for _, set := range []func() error{
		func() error { return o.SetIntraOpNumThreads(1) },
		func() error { return o.SetInterOpNumThreads(1) },
		func() error { return o.SetExecutionMode(ort.ExecutionModeSequential) },
	} {
		if err := set(); err != nil {
			o.Destroy()
			return nil, fmt.Errorf("session options: %w", err)
		}
	}
	return o, nil
}
