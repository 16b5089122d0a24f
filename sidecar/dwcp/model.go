package dwcp

import (
	"context"
	"fmt"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Versioner is the part of engine.Engine every adapter needs: which models serve, their
// windows and thresholds. *runtime.Engine and *client.Client implement it.
type Versioner interface {
	Versions(ctx context.Context) (engine.Versions, error)
}

// Model families the adapters use (the manifest's family field; the engine's typed call
// serves the first model of its family in manifest order, so the adapters read that one).
const (
	FamilyAnomaly   = "anomaly"
	FamilyScaling   = "scaling"
	FamilyPlacement = "itp"
	FamilyLink      = "link"
)

// modelOf returns the first model of family that eng serves.
func modelOf(ctx context.Context, eng Versioner, op, family string) (engine.ModelInfo, error) {
	v, err := eng.Versions(ctx)
	if err != nil {
		return engine.ModelInfo{}, engineErr(op, err)
	}
	for _, m := range v.Models {
		if m.Family == family {
			if m.WindowSamples < 1 || m.StepSeconds < 1 {
				return engine.ModelInfo{}, fmt.Errorf("dwcp: %s: model %s: window %d samples of %d s: %w",
					op, m.Name, m.WindowSamples, m.StepSeconds, ErrNoModel)
			}
			return m, nil
		}
	}
	return engine.ModelInfo{}, fmt.Errorf("dwcp: %s: bundle %s: family %q: %w", op, v.Bundle, family, ErrNoModel)
}

// threshold returns m's threshold name, refusing a bundle without it.
func threshold(op string, m engine.ModelInfo, name string) (float64, error) {
	v, ok := m.Thresholds[name]
	if !ok || !finite(v) {
		return 0, fmt.Errorf("dwcp: %s: model %s has no finite threshold %q: %w", op, m.Name, name, ErrNoModel)
	}
	return v, nil
}

// modelType names a model version for DWCP's ModelType / ModelVersion strings.
func modelType(r engine.ModelRef) string {
	s := "dwcp-ml/" + r.Name + "@" + r.Version
	if r.Bundle != "" {
		s += " (bundle " + r.Bundle + ")"
	}
	return s
}
