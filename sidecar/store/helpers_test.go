package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// trace is one synthetic VM's raw samples (schema vm), as training/synthetic.py makes
// them: jittered, with dropped and repeated samples.
type trace struct {
	ts     []int64
	values []float64 // len(ts) × 6
}

// syntheticTraces runs the project's Python (the .venv at the repository root) to get
// the default synthetic VMs (SyntheticConfig()), passed as raw little-endian bytes so
// every bit arrives.
var syntheticTraces = sync.OnceValues(func() ([]trace, error) {
	_, file, _, _ := goruntime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	python := filepath.Join(root, ".venv", "bin", "python")
	f, err := os.CreateTemp("", "dwcp-store-trace-*")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	script := `import sys, numpy as np
from dwcp_ml.training.synthetic import traces
with open(sys.argv[1], "wb") as f:
    for t in traces():
        f.write(np.int64(len(t.ts)).tobytes())
        f.write(np.ascontiguousarray(t.ts, dtype="<i8").tobytes())
        f.write(np.ascontiguousarray(t.values, dtype="<f8").tobytes())
`
	if out, err := exec.Command(python, "-c", script, f.Name()).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s (make venv builds it): %v: %s", python, err, out)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, err
	}
	var out []trace
	for len(data) > 0 {
		n := int(binary.LittleEndian.Uint64(data))
		data = data[8:]
		tr := trace{ts: make([]int64, n), values: make([]float64, n*6)}
		for i := range tr.ts {
			tr.ts[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
		data = data[8*n:]
		for i := range tr.values {
			tr.values[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
		data = data[8*n*6:]
		out = append(out, tr)
	}
	return out, nil
})

func traces(t testing.TB) []trace {
	t.Helper()
	tr, err := syntheticTraces()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// column returns channel c of a trace as a one-channel (schema metric) series.
func (tr trace) column(c int) []float64 {
	out := make([]float64, len(tr.ts))
	for i := range out {
		out[i] = tr.values[i*6+c]
	}
	return out
}

var openOnce = sync.OnceValues(func() (*runtime.Engine, error) {
	return runtime.Open(context.Background(), testbundle.Dir(), runtime.Config{})
})

// goldenEngine is the committed bundle's engine, shared by the package's tests.
func goldenEngine(t testing.TB) *runtime.Engine {
	t.Helper()
	e, err := openOnce()
	if err != nil {
		t.Fatal(err)
	}
	return e
}
