package bundle

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Golden is a model's golden predictions: raw runs of samples, the feature tensor the core
// makes of them (windows of each run, stride 1, in order) and the ONNX Runtime output. A
// placement model's golden (raw.kind "placement") has Placements instead of Runs: its
// input holds the factor rows of each request's feasible hosts, request after request.
type Golden struct {
	Runs        []Run
	Placements  []GoldenPlacement
	InputShape  []int64
	Input       []float32
	OutputShape []int64
	Output      []float32
}

// Run is one run of samples on the step grid: len(Values) = len(Timestamps) × channels.
type Run struct {
	Timestamps []int64
	Values     []float64
}

type goldenFile struct {
	Format string `json:"format"`
	Model  string `json:"model"`
	Raw    struct {
		Kind        string          `json:"kind"` // "" (runs of samples) or PlacementKind
		Requests    json.RawMessage `json:"requests"`
		TS          [][]int64       `json:"ts"`
		ValuesShape []int           `json:"values_shape"`
		Values      string          `json:"values"`
	} `json:"raw"`
	Input  goldenTensor `json:"input"`
	Output goldenTensor `json:"output"`
}

type goldenTensor struct {
	Name    string  `json:"name"`
	Shape   []int64 `json:"shape"`
	Float32 string  `json:"float32"`
}

func parseGolden(path string, m *Model, data []byte) (*Golden, error) {
	var f goldenFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, bad(m.Name, "%s: not valid JSON (%v)", path, err)
	}
	if f.Format != GoldenFormat || f.Model != m.Name {
		return nil, bad(m.Name, "%s: format %q for model %q, want %q for %q", path, f.Format, f.Model,
			GoldenFormat, m.Name)
	}
	g := &Golden{InputShape: f.Input.Shape, OutputShape: f.Output.Shape}
	var err error
	if f.Raw.Kind == PlacementKind || m.Schema == PlacementKind {
		if f.Raw.Kind != PlacementKind || m.Schema != PlacementKind {
			return nil, bad(m.Name, "%s: raw.kind %q for a model of schema %q; placement goldens go with "+
				"placement models", path, f.Raw.Kind, m.Schema)
		}
		if m.FeatureParams.History <= 0 {
			return nil, bad(m.Name, "%s: feature_params.history is %d; a placement model needs its history "+
				"length", path, m.FeatureParams.History)
		}
		if g.Placements, err = parsePlacements(f.Raw.Requests, m.FeatureParams.History); err != nil {
			return nil, bad(m.Name, "%s: %v", path, err)
		}
		return g.decoded(path, m, &f)
	}
	if f.Raw.Kind != "" {
		return nil, bad(m.Name, "%s: unknown raw.kind %q", path, f.Raw.Kind)
	}
	vs := f.Raw.ValuesShape
	if len(vs) != 3 || vs[0] != len(f.Raw.TS) || vs[1] < 0 || vs[2] < 0 {
		return nil, bad(m.Name, "%s: raw.values_shape %v does not fit %d runs", path, vs, len(f.Raw.TS))
	}
	n, ok := product([]int64{int64(vs[0]), int64(vs[1]), int64(vs[2])}, len(f.Raw.Values)/16)
	if !ok {
		return nil, bad(m.Name, "%s: raw.values_shape %v holds more values than raw.values", path, vs)
	}
	values, err := float64s(f.Raw.Values, n)
	if err != nil {
		return nil, bad(m.Name, "%s: raw.values: %v", path, err)
	}
	per := vs[1] * vs[2]
	for i, ts := range f.Raw.TS {
		if len(ts) != vs[1] {
			return nil, bad(m.Name, "%s: raw.ts[%d] has %d samples, values_shape says %d", path, i, len(ts), vs[1])
		}
		g.Runs = append(g.Runs, Run{Timestamps: ts, Values: values[i*per : (i+1)*per]})
	}
	return g.decoded(path, m, &f)
}

// decoded reads the input and output tensors into g, after checking their shapes
// against the model's: the manifest's row shapes and one batch of the same rows.
func (g *Golden) decoded(path string, m *Model, f *goldenFile) (*Golden, error) {
	for _, t := range []struct {
		label string
		got   []int64
		want  TensorSpec
	}{{"input", g.InputShape, m.Inputs[0]}, {"output", g.OutputShape, m.Outputs[0]}} {
		if len(t.got) != len(t.want.Shape) || len(t.got) == 0 || t.got[0] != g.InputShape[0] ||
			!slices.Equal(t.got[1:], t.want.Shape[1:]) {
			return nil, bad(m.Name, "%s: %s shape %v does not fit the manifest's %v with the input's rows",
				path, t.label, t.got, t.want.Shape)
		}
	}
	if g.InputShape[0] < 1 {
		return nil, bad(m.Name, "%s: input shape %v has no rows", path, g.InputShape)
	}
	var err error
	if g.Input, err = f.Input.decode(); err != nil {
		return nil, bad(m.Name, "%s: input: %v", path, err)
	}
	if g.Output, err = f.Output.decode(); err != nil {
		return nil, bad(m.Name, "%s: output: %v", path, err)
	}
	return g, nil
}

func (t goldenTensor) decode() ([]float32, error) {
	n, ok := product(t.Shape, len(t.Float32)/8)
	if !ok {
		return nil, fmt.Errorf("shape %v has a negative dimension or more values than the file holds", t.Shape)
	}
	raw, err := hex.DecodeString(t.Float32)
	if err != nil {
		return nil, err
	}
	if len(raw) != 4*n {
		return nil, fmt.Errorf("%d bytes of float32 for shape %v (%d values)", len(raw), t.Shape, n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.BigEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// product multiplies the dimensions of a shape if none is negative and the product is at
// most limit (the values the text could hold), so no overflow and no huge allocation.
func product(shape []int64, limit int) (int, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > int64(limit)/d {
			return 0, false
		}
		n *= d
	}
	return int(n), n <= int64(limit)
}

func float64s(text string, n int) ([]float64, error) {
	raw, err := hex.DecodeString(text)
	if err != nil {
		return nil, err
	}
	if len(raw) != 8*n {
		return nil, fmt.Errorf("%d bytes of float64, want %d values", len(raw), n)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.BigEndian.Uint64(raw[8*i:]))
	}
	return out, nil
}
