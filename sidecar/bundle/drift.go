package bundle

import (
	"encoding/json"
	"fmt"
	"math"
)

// Drift reference files (drift/<model>.json, docs/drift-report.md): optional per model.
const (
	DriftFormat = "dwcp-ml-drift-reference/1"
	// DriftVersion is the FC_DRIFT_VERSION the statistics below are defined by; a test
	// holds it equal to featurecore.DriftVersion (this package links no C).
	DriftVersion = 1
	// DriftMaxBins is FC_DRIFT_MAX_BINS.
	DriftMaxBins = 1024
	// Kinds of a drift column.
	DriftInput  = "input"
	DriftOutput = "output"
)

// DriftReference is a model's drift reference: per column the training sample's bin edges
// and counts, and the golden input taken as a live window (its counts, PSI and KS).
type DriftReference struct {
	Version    int
	Bins       int     // the bin count asked of the quantile edges
	Epsilon    float64 // the PSI proportion floor
	Rows       int     // reference sample rows
	Selection  string  // what data the sample came from
	DataDigest string  // the training data digest of that data
	Columns    []DriftColumn
}

// DriftColumn is one input feature or output column of a DriftReference. A constant
// column (one distinct value in the reference) has Value and no bins: it is excluded from
// PSI and KS.
type DriftColumn struct {
	Kind     string // DriftInput or DriftOutput
	Index    int    // the feature (newest step) or output column
	Name     string
	Constant bool
	Value    float64
	Edges    []float64
	Counts   []float64
	// The golden window's statistics, float64 bits as stored.
	GoldenLive []float64
	GoldenPSI  float64
	GoldenKS   float64
}

// DriftStats are the feature core's drift statistics (sidecar/featurecore: Histogram,
// PSI, KS). This package stays pure Go, so the caller of CheckDriftGolden passes them.
type DriftStats interface {
	Histogram(values, edges, counts []float64) error
	PSI(ref, live []float64, epsilon float64) (float64, error)
	KS(ref, live []float64) (float64, error)
}

type bits64 struct {
	Float64 string    `json:"float64"`
	Decimal []float64 `json:"decimal"`
}

type driftFile struct {
	Format       string `json:"format"`
	Model        string `json:"model"`
	DriftVersion int    `json:"drift_version"`
	Bins         struct {
		NBins   int    `json:"n_bins"`
		Epsilon bits64 `json:"epsilon"`
	} `json:"bins"`
	Sample struct {
		Rows               int    `json:"rows"`
		Selection          string `json:"selection"`
		TrainingDataDigest string `json:"training_data_digest"`
	} `json:"sample"`
	Golden struct {
		File string `json:"file"`
		Rows int    `json:"rows"`
	} `json:"golden"`
	Columns []struct {
		Kind     string  `json:"kind"`
		Index    int     `json:"index"`
		Name     string  `json:"name"`
		Constant *bool   `json:"constant"`
		Value    *bits64 `json:"value"`
		Edges    *bits64 `json:"edges"`
		Counts   *bits64 `json:"counts"`
		Golden   *struct {
			LiveCounts bits64 `json:"live_counts"`
			PSI        bits64 `json:"psi"`
			KS         bits64 `json:"ks"`
		} `json:"golden"`
	} `json:"columns"`
}

// decode returns the float64 bits of v (want values, or any number for want < 0), which
// must be finite and equal their decimals.
func (v *bits64) decode(want int) ([]float64, error) {
	if v == nil {
		return nil, fmt.Errorf("missing")
	}
	if len(v.Float64)%16 != 0 || (want >= 0 && len(v.Float64) != 16*want) {
		return nil, fmt.Errorf("%d hex digits for %d values", len(v.Float64), want)
	}
	out, err := float64s(v.Float64, len(v.Float64)/16)
	if err != nil {
		return nil, err
	}
	if len(v.Decimal) != len(out) {
		return nil, fmt.Errorf("%d decimals for %d values", len(v.Decimal), len(out))
	}
	for i, x := range out {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("value %d is not finite", i)
		}
		if v.Decimal[i] != x {
			return nil, fmt.Errorf("decimal %d (%v) does not equal its float64 bits (%v)", i, v.Decimal[i], x)
		}
	}
	return out, nil
}

func counts(v *bits64, n, total int) ([]float64, error) {
	c, err := v.decode(n)
	if err != nil {
		return nil, err
	}
	sum := 0.0
	for _, x := range c {
		if x < 0 {
			return nil, fmt.Errorf("a count is negative")
		}
		sum += x
	}
	if sum != float64(total) {
		return nil, fmt.Errorf("counts sum to %v, want %d", sum, total)
	}
	return c, nil
}

// driftInputs is the number of input columns drift watches: a window model's features
// per step (the newest step of a [N, T, F] or flat [N, T*F] input), a placement model's
// factors.
func driftInputs(m *Model) (int, error) {
	shape := m.Inputs[0].Shape
	switch {
	case m.Schema == PlacementKind || len(shape) == 2 && m.FeatureParams.SeqLen <= 0:
		return int(shape[len(shape)-1]), nil
	case len(shape) == 3:
		return int(shape[2]), nil
	case len(shape) == 2 && shape[1]%int64(m.FeatureParams.SeqLen) == 0:
		return int(shape[1]) / m.FeatureParams.SeqLen, nil
	}
	return 0, fmt.Errorf("input shape %v does not split into seq_len %d steps", shape, m.FeatureParams.SeqLen)
}

func parseDrift(path string, m *Model, g *Golden, data []byte) (*DriftReference, error) {
	var f driftFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, bad(m.Name, "%s: not valid JSON (%v)", path, err)
	}
	if f.Format != DriftFormat || f.Model != m.Name {
		return nil, bad(m.Name, "%s: format %q for model %q, want %q for %q", path, f.Format, f.Model, DriftFormat, m.Name)
	}
	if f.DriftVersion != DriftVersion {
		return nil, bad(m.Name, "%s: drift_version %d, this feature core's is %d: statistics would differ; "+
			"re-attach the reference", path, f.DriftVersion, DriftVersion)
	}
	if f.Bins.NBins < 1 || f.Bins.NBins > DriftMaxBins || f.Sample.Rows < 1 {
		return nil, bad(m.Name, "%s: bins.n_bins %d (1..%d) or sample.rows %d (>= 1) out of range", path,
			f.Bins.NBins, DriftMaxBins, f.Sample.Rows)
	}
	eps, err := f.Bins.Epsilon.decode(1)
	if err != nil || eps[0] < 1e-300 || eps[0] >= 1 {
		return nil, bad(m.Name, "%s: bins.epsilon: %v, want one value in [1e-300, 1)", path, orValue(err, eps))
	}
	rows := int(g.InputShape[0])
	if f.Golden.File != m.Golden || f.Golden.Rows != rows {
		return nil, bad(m.Name, "%s: golden: %q with %d rows, want %q with its %d rows", path, f.Golden.File,
			f.Golden.Rows, m.Golden, rows)
	}
	d := &DriftReference{Version: f.DriftVersion, Bins: f.Bins.NBins, Epsilon: eps[0], Rows: f.Sample.Rows,
		Selection: f.Sample.Selection, DataDigest: f.Sample.TrainingDataDigest}
	nIn, err := driftInputs(m)
	if err != nil {
		return nil, bad(m.Name, "%s: %v", path, err)
	}
	nOut := 1
	if s := m.Outputs[0].Shape; len(s) > 1 {
		nOut = int(s[1])
	}
	if len(f.Columns) != nIn+nOut {
		return nil, bad(m.Name, "%s: columns: %d, the model has %d (%d inputs, %d outputs)", path, len(f.Columns),
			nIn+nOut, nIn, nOut)
	}
	for i := range f.Columns {
		kind, index := DriftInput, i
		if i >= nIn {
			kind, index = DriftOutput, i-nIn
		}
		c, err := f.column(i, kind, index, rows)
		if err != nil {
			return nil, bad(m.Name, "%s: columns[%d]: %v", path, i, err)
		}
		d.Columns = append(d.Columns, c)
	}
	return d, nil
}

func orValue(err error, v []float64) any {
	if err != nil {
		return err
	}
	return v[0]
}

func (f *driftFile) column(i int, kind string, index, goldenRows int) (DriftColumn, error) {
	src := f.Columns[i]
	c := DriftColumn{Kind: src.Kind, Index: src.Index, Name: src.Name}
	if src.Kind != kind || src.Index != index || src.Name == "" || src.Constant == nil {
		return c, fmt.Errorf("column %q %d %q, want %s %d with a name and constant", src.Kind, src.Index,
			src.Name, kind, index)
	}
	if c.Constant = *src.Constant; c.Constant {
		v, err := src.Value.decode(1)
		if err != nil {
			return c, fmt.Errorf("value: %w", err)
		}
		c.Value = v[0]
		return c, nil
	}
	var err error
	if c.Edges, err = src.Edges.decode(-1); err != nil {
		return c, fmt.Errorf("edges: %w", err)
	}
	if len(c.Edges) < 2 || len(c.Edges) > f.Bins.NBins+1 {
		return c, fmt.Errorf("edges: %d, want 2..%d", len(c.Edges), f.Bins.NBins+1)
	}
	for k := 1; k < len(c.Edges); k++ {
		if !(c.Edges[k] > c.Edges[k-1]) {
			return c, fmt.Errorf("edges: edge %d is not above edge %d", k, k-1)
		}
	}
	if c.Counts, err = counts(src.Counts, len(c.Edges)-1, f.Sample.Rows); err != nil {
		return c, fmt.Errorf("counts: %w", err)
	}
	if src.Golden == nil {
		return c, fmt.Errorf("golden: missing")
	}
	if c.GoldenLive, err = counts(&src.Golden.LiveCounts, len(c.Counts), goldenRows); err != nil {
		return c, fmt.Errorf("golden.live_counts: %w", err)
	}
	psi, err := src.Golden.PSI.decode(1)
	if err != nil {
		return c, fmt.Errorf("golden.psi: %w", err)
	}
	ks, err := src.Golden.KS.decode(1)
	if err != nil {
		return c, fmt.Errorf("golden.ks: %w", err)
	}
	c.GoldenPSI, c.GoldenKS = psi[0], ks[0]
	return c, nil
}

// readDrifts is the drift.read check over the models that name a drift reference.
func (b *Bundle) readDrifts() error {
	for i := range b.Manifest.Models {
		m := &b.Manifest.Models[i]
		if m.Drift == "" {
			continue
		}
		d, err := parseDrift(m.Drift, m, b.Goldens[m.Name], b.Files[m.Drift])
		if err != nil {
			return err
		}
		b.Drifts[m.Name] = d
	}
	return nil
}

// GoldenColumns returns the drift columns of a model's golden tensors, column-major:
// out[j] holds column j's value for every golden row (inputs at the newest step, then
// outputs), widened to float64 as the Python side does.
func GoldenColumns(m *Model, g *Golden, nInputs int) [][]float64 {
	rows := int(g.InputShape[0])
	perRow := len(g.Input) / rows
	nOut := len(g.Output) / rows
	out := make([][]float64, nInputs+nOut)
	for j := range out {
		out[j] = make([]float64, rows)
	}
	for r := range rows {
		newest := g.Input[(r+1)*perRow-nInputs : (r+1)*perRow]
		for j, v := range newest {
			out[j][r] = float64(v)
		}
		for j := range nOut {
			out[nInputs+j][r] = float64(g.Output[r*nOut+j])
		}
	}
	return out
}

// CheckDriftGolden is the drift golden proof of a loaded bundle: with the feature core's
// statistics, the golden tensors binned into each column's edges give the stored live
// counts, PSI and KS bit for bit (Python computes the same, export/bundle.py
// check_drift_goldens). It is not a spec check, since this package links no C; a loader
// with a feature core (sidecar/runtime) can run it after Load.
func (b *Bundle) CheckDriftGolden(stats DriftStats) error {
	for i := range b.Manifest.Models {
		m := &b.Manifest.Models[i]
		d := b.Drifts[m.Name]
		if d == nil {
			continue
		}
		nIn, _ := driftInputs(m)
		if err := GoldenDriftProblem(stats, d, GoldenColumns(m, b.Goldens[m.Name], nIn)); err != nil {
			return bad(m.Name, "%s: %v", m.Drift, err)
		}
	}
	return nil
}

// GoldenDriftProblem recomputes every non-constant column's live counts, PSI and KS from
// the golden columns and compares the bits with the reference's.
func GoldenDriftProblem(s DriftStats, d *DriftReference, cols [][]float64) error {
	for j, c := range d.Columns {
		if c.Constant {
			continue
		}
		live := make([]float64, len(c.Counts))
		if err := s.Histogram(cols[j], c.Edges, live); err != nil {
			return fmt.Errorf("columns[%d] %s: %w", j, c.Name, err)
		}
		psi, err := s.PSI(c.Counts, live, d.Epsilon)
		if err != nil {
			return fmt.Errorf("columns[%d] %s: %w", j, c.Name, err)
		}
		ks, err := s.KS(c.Counts, live)
		if err != nil {
			return fmt.Errorf("columns[%d] %s: %w", j, c.Name, err)
		}
		for k := range live {
			if math.Float64bits(live[k]) != math.Float64bits(c.GoldenLive[k]) {
				return fmt.Errorf("columns[%d] %s: golden.live_counts[%d] stored %v, the core computes %v", j, c.Name,
					k, c.GoldenLive[k], live[k])
			}
		}
		if math.Float64bits(psi) != math.Float64bits(c.GoldenPSI) || math.Float64bits(ks) != math.Float64bits(c.GoldenKS) {
			return fmt.Errorf("columns[%d] %s: golden psi/ks stored %016x/%016x, the core computes %016x/%016x", j,
				c.Name, math.Float64bits(c.GoldenPSI), math.Float64bits(c.GoldenKS), math.Float64bits(psi),
				math.Float64bits(ks))
		}
	}
	return nil
}
