package monitor

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Results of dwcp_ml_drift_rows_total.
const (
	rowAccepted  = iota // every value kept
	rowNonFinite        // kept, its NaN / ±Inf values dropped (the core bins finite values only)
	rowWrongLen         // refused: not one value per column of its kind
	rowNoRef            // refused: the key has no reference
	nDriftResults
)

var driftResults = [nDriftResults]string{"accepted", "non_finite", "wrong_length", "no_reference"}

// FeatureDrift is one binned column's live drift against its reference.
type FeatureDrift struct {
	Feature string    // the reference column's name (input feature, or "output[j]")
	Kind    string    // bundle.DriftInput or bundle.DriftOutput
	PSI, KS float64   // feature core's PSI (reference epsilon) and binned KS; NaN when N is 0
	N       int       // live values in the window
	Live    []float64 // the live counts in the reference's bins (nil when N is 0)
}

// live is one key's drift reference and live window: per column a ring of the last
// DriftLive finite values.
type live struct {
	mu      sync.Mutex
	ref     *bundle.DriftReference
	in, out []int  // indices into ref.Columns of the input and output columns, in order
	rings   []ring // per column of ref (constant columns stay empty)
	version uint64 // counts changes of the rings
	cached  uint64 // the version cache was computed at (0: none)
	cache   []FeatureDrift
}

type ring struct {
	vals []float64 // grows to cap, then overwritten at next
	next int
}

func (r *ring) push(v float64, capacity int) {
	if len(r.vals) < capacity {
		r.vals = append(r.vals, v)
		return
	}
	r.vals[r.next] = v
	if r.next++; r.next == capacity {
		r.next = 0
	}
}

// SetReference gives k the drift reference its live window is compared with: normally
// the bundle's b.Drifts[k.Model] (sidecar/bundle), set when the slot starts serving that
// bundle. A different reference empties the window (its bins changed); the same pointer
// again keeps it. nil removes the reference and the window. The reference is checked by
// the feature core (edges, counts, epsilon, names); it is read, never modified, and must
// not be modified afterwards.
func (m *Monitor) SetReference(k Key, ref *bundle.DriftReference) error {
	if ref == nil {
		m.dmu.Lock()
		delete(m.drift, k)
		m.dmu.Unlock()
		return nil
	}
	w, err := newLive(ref)
	if err != nil {
		return keyError(k, err)
	}
	m.dmu.Lock()
	defer m.dmu.Unlock()
	if old := m.drift[k]; old != nil && old.ref == ref {
		return nil
	}
	m.drift[k] = w
	return nil
}

func newLive(ref *bundle.DriftReference) (*live, error) {
	if ref.Version != featurecore.DriftVersion {
		return nil, fmt.Errorf("%w: drift version %d, the feature core's is %d", ErrInvalidReference, ref.Version,
			featurecore.DriftVersion)
	}
	if len(ref.Columns) == 0 {
		return nil, fmt.Errorf("%w: no columns", ErrInvalidReference)
	}
	w := &live{ref: ref, rings: make([]ring, len(ref.Columns))}
	names := map[string]bool{}
	for j, c := range ref.Columns {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: column %d %q: %s", ErrInvalidReference, j, c.Name, fmt.Sprintf(format, args...))
		}
		if c.Name == "" || names[c.Name] {
			return nil, bad("empty or repeated name (it is the feature label)")
		}
		names[c.Name] = true
		switch c.Kind {
		case bundle.DriftInput:
			w.in = append(w.in, j)
		case bundle.DriftOutput:
			w.out = append(w.out, j)
		default:
			return nil, bad("kind %q, want %q or %q", c.Kind, bundle.DriftInput, bundle.DriftOutput)
		}
		if c.Constant {
			continue
		}
		if len(c.Edges) < 2 || len(c.Counts) != len(c.Edges)-1 {
			return nil, bad("%d edges and %d counts, want >= 2 edges and one count fewer", len(c.Edges), len(c.Counts))
		}
		// The core checks what it will be given: edges by binning one value, counts and
		// epsilon by the PSI of the reference with itself.
		probe := make([]float64, len(c.Counts))
		if err := featurecore.Histogram(c.Edges[:1], c.Edges, probe); err != nil {
			return nil, bad("%v", err)
		}
		if _, err := featurecore.PSI(c.Counts, c.Counts, ref.Epsilon); err != nil {
			return nil, bad("%v", err)
		}
	}
	return w, nil
}

func (m *Monitor) window(k Key) *live {
	m.dmu.RLock()
	defer m.dmu.RUnlock()
	return m.drift[k]
}

func (m *Monitor) countRows(result int, n int) {
	atomic.AddUint64(&m.dstats[result], uint64(n))
}

// ObserveInputs adds the feature rows k's model saw to its live window. A row holds one
// value per input column of the reference, in its order: for window models the newest
// step of the model's input (what the reference was built from), for placement models
// the factor row; the values the model took (normalised, float32 widened to float64).
// ObserveInputTensor takes the model's input tensor as is. The window keeps the last
// Config.DriftLive finite values of each column; a NaN or ±Inf value is dropped (the
// row counts as non_finite), a row of another length or for a key without a reference is
// dropped and counted (dwcp_ml_drift_rows_total).
func (m *Monitor) ObserveInputs(k Key, rows [][]float64) { m.observe(k, rows, false) }

// ObserveOutputs adds k's model outputs to its live window: one row per prediction,
// one value per output column of the reference (pba: its three quantiles), as
// ObserveInputs.
func (m *Monitor) ObserveOutputs(k Key, rows [][]float64) { m.observe(k, rows, true) }

func (m *Monitor) observe(k Key, rows [][]float64, outputs bool) {
	w := m.window(k)
	if w == nil {
		m.countRows(rowNoRef, len(rows))
		return
	}
	var counts [nDriftResults]int
	w.mu.Lock()
	cols := w.columns(outputs)
	for _, row := range rows {
		if len(row) != len(cols) {
			counts[rowWrongLen]++
			continue
		}
		res := rowAccepted
		for i, j := range cols {
			if !finite(row[i]) {
				res = rowNonFinite
				continue
			}
			if !w.ref.Columns[j].Constant {
				w.rings[j].push(row[i], m.cfg.DriftLive)
			}
		}
		counts[res]++
	}
	if counts[rowAccepted]+counts[rowNonFinite] > 0 {
		w.version++
	}
	w.mu.Unlock()
	for r, n := range counts {
		if n > 0 {
			m.countRows(r, n)
		}
	}
}

func (w *live) columns(outputs bool) []int {
	if outputs {
		return w.out
	}
	return w.in
}

// ObserveInputTensor adds a model input tensor of rows rows (row-major float32, as
// ONNX Runtime takes it) to k's window: of each row the last values, one per input column
// of the reference, which is the newest step of a window model's [rows, T, F] or
// [rows, T*F] input and the whole row of a placement model's [rows, factors]. It fails
// with ErrShape when the tensor does not split so, ErrNoReference without a reference.
func (m *Monitor) ObserveInputTensor(k Key, input []float32, rows int) error {
	return m.observeTensor(k, input, rows, false)
}

// ObserveOutputTensor adds a model output tensor [rows, outputs] to k's window, one value
// per output column of the reference in each row (ErrShape otherwise).
func (m *Monitor) ObserveOutputTensor(k Key, output []float32, rows int) error {
	return m.observeTensor(k, output, rows, true)
}

func (m *Monitor) observeTensor(k Key, t []float32, rows int, outputs bool) error {
	w := m.window(k)
	if w == nil {
		m.countRows(rowNoRef, rows)
		return keyError(k, ErrNoReference)
	}
	cols := w.columns(outputs)
	if rows <= 0 || len(t)%rows != 0 || len(t)/rows < len(cols) || outputs && len(t)/rows != len(cols) {
		m.countRows(rowWrongLen, max(rows, 0))
		return keyError(k, fmt.Errorf("%w: %d values in %d rows, the reference has %d %s columns", ErrShape, len(t),
			rows, len(cols), map[bool]string{false: "input", true: "output"}[outputs]))
	}
	per := len(t) / rows
	var counts [nDriftResults]int
	w.mu.Lock()
	for r := range rows {
		row := t[(r+1)*per-len(cols) : (r+1)*per]
		res := rowAccepted
		for i, j := range cols {
			v := float64(row[i])
			if !finite(v) {
				res = rowNonFinite
				continue
			}
			if !w.ref.Columns[j].Constant {
				w.rings[j].push(v, m.cfg.DriftLive)
			}
		}
		counts[res]++
	}
	w.version++
	w.mu.Unlock()
	for r, n := range counts {
		if n > 0 {
			m.countRows(r, n)
		}
	}
	return nil
}

// Drift returns the live drift of every binned column of k's reference (constant columns
// are excluded, as in the offline report), inputs then outputs in the reference's order.
// The feature core computes everything: the live window binned into the reference edges
// (featurecore.Histogram), PSI with the reference's epsilon (featurecore.PSI) and binned
// KS (featurecore.KS), so the numbers equal the offline report's for the same values bit
// for bit. The result is cached until the window changes.
func (m *Monitor) Drift(k Key) ([]FeatureDrift, error) {
	w := m.window(k)
	if w == nil {
		return nil, keyError(k, ErrNoReference)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cache == nil || w.cached != w.version {
		out, err := w.compute()
		if err != nil {
			return nil, keyError(k, err)
		}
		w.cache, w.cached = out, w.version
	}
	out := make([]FeatureDrift, len(w.cache))
	for i, d := range w.cache {
		d.Live = append([]float64(nil), d.Live...)
		out[i] = d
	}
	return out, nil
}

func (w *live) compute() ([]FeatureDrift, error) {
	out := make([]FeatureDrift, 0, len(w.ref.Columns))
	for j, c := range w.ref.Columns {
		if c.Constant {
			continue
		}
		vals := w.rings[j].vals
		d := FeatureDrift{Feature: c.Name, Kind: c.Kind, N: len(vals), PSI: math.NaN(), KS: math.NaN()}
		if len(vals) > 0 {
			d.Live = make([]float64, len(c.Counts))
			if err := featurecore.Histogram(vals, c.Edges, d.Live); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
			var err error
			if d.PSI, err = featurecore.PSI(c.Counts, d.Live, w.ref.Epsilon); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
			if d.KS, err = featurecore.KS(c.Counts, d.Live); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// driftKeys lists the keys with a reference.
func (m *Monitor) driftKeys() []Key {
	m.dmu.RLock()
	defer m.dmu.RUnlock()
	keys := make([]Key, 0, len(m.drift))
	for k := range m.drift {
		keys = append(keys, k)
	}
	return keys
}
