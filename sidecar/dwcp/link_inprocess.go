//go:build cgo

package dwcp

import (
	"context"
	"fmt"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// InProcessLink is the LinkForecaster of the in-process engine: the feature core computes
// the link window with the served link model's parameters from the bundle
// (runtime.WindowParams) and the engine's PredictBatch runs the model on it, one row. It
// needs cgo, like the runtime; the rest of the package does not.
type InProcessLink struct {
	Engine *runtime.Engine
}

var _ LinkForecaster = InProcessLink{}

// Versions is the engine's.
func (l InProcessLink) Versions(ctx context.Context) (engine.Versions, error) {
	return l.Engine.Versions(ctx)
}

// ForecastLink computes the window of s (the newest WindowSamples samples, schema link)
// and returns the link model's output row.
func (l InProcessLink) ForecastLink(ctx context.Context, s engine.Series) ([]float64, engine.ModelRef, error) {
	out, ref, err := l.ForecastLinkBatch(ctx, []engine.Series{s})
	if err != nil {
		return nil, ref, err
	}
	return out[0], ref, nil
}

// ForecastLinkBatch is ForecastLink for many links in one model run. ONNX Runtime may
// round a row differently alone and in a batch (docs/serving.md, bits and batch layout):
// the same series in one call give the same bits as Python's goldens of one batch.
func (l InProcessLink) ForecastLinkBatch(ctx context.Context, series []engine.Series) ([][]float64, engine.ModelRef, error) {
	const op = "forecast link"
	params, info, err := l.Engine.WindowParams(ctx, FamilyLink)
	if err != nil {
		return nil, engine.ModelRef{}, err
	}
	v, err := l.Engine.Versions(ctx)
	if err != nil {
		return nil, engine.ModelRef{}, err
	}
	const channels = 4
	n, width := info.WindowSamples, params.WindowOutputLen()
	if width != info.InputLen() {
		return nil, engine.ModelRef{}, engine.Errorf(engine.CodeMismatch, op, info.Name,
			"window of %d features, the model takes %d", width, info.InputLen())
	}
	in := make([]float64, 0, len(series)*width)
	row := make([]float32, width)
	for i, s := range series {
		if len(s.Timestamps) < n || len(s.Values) != len(s.Timestamps)*channels {
			return nil, engine.ModelRef{}, engine.Errorf(engine.CodeInvalidInput, op, info.Name,
				"series %d: %d samples and %d values: want at least %d samples of %d channels",
				i, len(s.Timestamps), len(s.Values), n, channels)
		}
		first := len(s.Timestamps) - n
		if err := params.Window(s.Timestamps[first:], s.Values[first*channels:], row); err != nil {
			return nil, engine.ModelRef{}, engine.Errorf(engine.CodeInvalidInput, op, info.Name, "series %d: %w", i, err)
		}
		for _, x := range row {
			in = append(in, float64(x))
		}
	}
	flat, err := l.Engine.PredictBatch(ctx, info.Name, info.Version, len(series), in)
	if err != nil {
		return nil, engine.ModelRef{}, err
	}
	w := info.OutputLen()
	if len(flat) != len(series)*w {
		return nil, engine.ModelRef{}, fmt.Errorf("dwcp: %s: %d outputs for %d series of %d: %w", op, len(flat), len(series), w, engine.ErrInternal)
	}
	out := make([][]float64, len(series))
	for i := range out {
		out[i] = flat[i*w : (i+1)*w : (i+1)*w]
	}
	return out, engine.ModelRef{Name: info.Name, Version: info.Version, Bundle: v.Bundle}, nil
}
