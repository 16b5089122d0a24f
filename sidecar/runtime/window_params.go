package runtime

import (
	"context"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// WindowParams returns the feature parameters and the description of the model a typed
// call of family runs (the first of the family in manifest order), for the online
// store, which resamples held samples onto the model's grid (step, fill limit) and
// passes its WindowSamples. A placement model has no window Params (the zero value); its
// ModelInfo carries the history H and step.
func (e *Engine) WindowParams(ctx context.Context, family string) (featurecore.Params, engine.ModelInfo, error) {
	l, err := e.acquire(ctx, "window params")
	if err != nil {
		return featurecore.Params{}, engine.ModelInfo{}, err
	}
	defer l.mu.RUnlock()
	m, err := l.family("window params", family)
	if err != nil {
		return featurecore.Params{}, engine.ModelInfo{}, err
	}
	if m.place {
		return featurecore.Params{}, m.info, nil
	}
	return m.params, m.info, nil
}
