package runtime

import (
	"context"
	"math"
	"strconv"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Predict runs model on one input row; see engine.Engine.
func (e *Engine) Predict(ctx context.Context, model, version string, features []float64) ([]float64, error) {
	return e.PredictBatch(ctx, model, version, 1, features)
}

// PredictBatch runs model on rows input rows stored one after another in features and
// returns rows output rows the same way. Every value must be finite and fit float32 (the
// models take float32; a float32 passed through float64 keeps its bits).
func (e *Engine) PredictBatch(ctx context.Context, name, version string, rows int, features []float64) ([]float64, error) {
	const op = "predict"
	l, err := e.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	m, err := l.model(op, name, version)
	if err != nil {
		return nil, err
	}
	if err := e.checkRows(op, name, rows); err != nil {
		return nil, err
	}
	if len(features) != rows*m.inLen {
		return nil, invalid(op, name, "got %d feature values for %d rows; %s takes %d per row (shape %v)",
			len(features), rows, name, m.inLen, m.info.InputShape)
	}
	in := make([]float32, len(features))
	for i, v := range features {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
			return nil, invalid(op, name, "feature %d (row %d, %s) is %g; features must be finite and "+
				"within float32 range", i, i/m.inLen, m.featureName(i%m.inLen), v)
		}
		in[i] = float32(v)
	}
	out := make([]float32, rows*m.outLen)
	if err := m.run(in, rows, out); err != nil {
		return nil, err
	}
	e.observe(ctx, m, rows, in, out)
	res := make([]float64, len(out))
	for i, v := range out {
		res[i] = float64(v)
	}
	return res, nil
}

// featureName names position i of an input row: step and feature of the window, or the
// placement factor.
func (m *model) featureName(i int) string {
	if m.place {
		return featurecore.PlaceFactorName(i)
	}
	names := m.params.Schema.Features()
	return "step " + strconv.Itoa(i/len(names)) + " " + names[i%len(names)]
}

func (e *Engine) checkRows(op, model string, rows int) error {
	switch {
	case rows < 1:
		return invalid(op, model, "rows is %d; send at least one", rows)
	case rows > e.cfg.MaxBatch:
		return engine.Errorf(engine.CodeTooLarge, op, model, "%d rows in one call; the limit is %d, split the batch",
			rows, e.cfg.MaxBatch)
	}
	return nil
}

func invalid(op, model, format string, args ...any) error {
	return engine.Errorf(engine.CodeInvalidInput, op, model, format, args...)
}
