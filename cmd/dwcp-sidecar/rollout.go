package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/rollout"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// rolloutFile is the -rollout file (docs/rollout.md lists every key). Absent keys leave
// what serves alone: removing a canary or shadow is an admin action (dwcp-client rollout
// withdraw / clear-shadow), so a SIGHUP that re-reads the file never undoes one by accident.
type rolloutFile struct {
	Canary *struct {
		Bundle   string `json:"bundle"`    // directory, relative to the file's directory
		WeightBP int    `json:"weight_bp"` // first weight, basis points; 0 = the first step
	} `json:"canary"`
	Shadow *struct {
		Bundle string `json:"bundle"`
	} `json:"shadow"`
	Policy *struct {
		Steps             []int    `json:"steps"`
		Window            duration `json:"window"`
		Hold              duration `json:"hold"`
		Interval          duration `json:"interval"`
		MinRequests       int      `json:"min_requests"`
		MaxErrorRateDelta float64  `json:"max_error_rate_delta"`
		MaxP99Ratio       float64  `json:"max_p99_ratio"`
		P99Slack          duration `json:"p99_slack"`
		MaxDriftDelta     float64  `json:"max_drift_delta"`
		MaxLossDelta      float64  `json:"max_loss_delta"`
		MinPairs          int      `json:"min_pairs"`
		MinDriftValues    int      `json:"min_drift_values"`
	} `json:"policy"`
}

// duration is a JSON string in time.ParseDuration's form ("5m", "250ms").
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"5m\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// rolloutConfig is a parsed, checked -rollout file.
type rolloutConfig struct {
	canaryDir, shadowDir string
	weightBP             int
	policy               *rollout.Policy
}

// readRollout reads and checks the -rollout file; the error is one line naming the file.
func readRollout(path string) (rolloutConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return rolloutConfig{}, fmt.Errorf("-rollout: %w", err)
	}
	var f rolloutFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return rolloutConfig{}, fmt.Errorf("-rollout %s: %w", path, err)
	}
	if dec.More() {
		return rolloutConfig{}, fmt.Errorf("-rollout %s: more than one JSON value", path)
	}
	base := filepath.Dir(path)
	rel := func(dir string) string {
		if dir == "" || filepath.IsAbs(dir) {
			return dir
		}
		return filepath.Join(base, dir)
	}
	var rc rolloutConfig
	if f.Canary != nil {
		if f.Canary.Bundle == "" {
			return rc, fmt.Errorf("-rollout %s: canary.bundle is empty", path)
		}
		if f.Canary.WeightBP < 0 || f.Canary.WeightBP >= rollout.Buckets {
			return rc, fmt.Errorf("-rollout %s: canary.weight_bp %d: must be 0 (the first step) to %d", path, f.Canary.WeightBP, rollout.Buckets-1)
		}
		rc.canaryDir, rc.weightBP = rel(f.Canary.Bundle), f.Canary.WeightBP
	}
	if f.Shadow != nil {
		if f.Shadow.Bundle == "" {
			return rc, fmt.Errorf("-rollout %s: shadow.bundle is empty", path)
		}
		rc.shadowDir = rel(f.Shadow.Bundle)
	}
	if p := f.Policy; p != nil {
		rc.policy = &rollout.Policy{Steps: p.Steps, Window: time.Duration(p.Window), Hold: time.Duration(p.Hold),
			Interval: time.Duration(p.Interval), MinRequests: p.MinRequests, MaxErrorRateDelta: p.MaxErrorRateDelta,
			MaxP99Ratio: p.MaxP99Ratio, P99Slack: time.Duration(p.P99Slack), MaxDriftDelta: p.MaxDriftDelta,
			MaxLossDelta: p.MaxLossDelta, MinPairs: p.MinPairs, MinDriftValues: p.MinDriftValues}
		if err := rc.policy.WithDefaults().Validate(); err != nil {
			return rc, fmt.Errorf("-rollout %s: policy: %w", path, err)
		}
	}
	return rc, nil
}

// applyRollout makes the server follow the file: the policy, then a canary or shadow
// whose bundle directory differs from what serves in (or completed into) that slot.
func applyRollout(ctx context.Context, srv *server.Server, rc rolloutConfig, log *slog.Logger) error {
	serving := map[rollout.Slot]string{}
	for _, s := range srv.Rollout().Slots {
		serving[s.Slot] = s.BundleDir
	}
	req := server.RolloutRequest{Op: server.OpSet, Policy: rc.policy, Reason: "-rollout file"}
	if rc.canaryDir != "" {
		abs, _ := filepath.Abs(rc.canaryDir)
		if abs != serving[rollout.Canary] && abs != serving[rollout.Champion] {
			req.CanaryDir, req.CanaryWeightBP = abs, rc.weightBP
		}
	}
	if rc.shadowDir != "" {
		if abs, _ := filepath.Abs(rc.shadowDir); abs != serving[rollout.Shadow] {
			req.ShadowDir = abs
		}
	}
	if req.CanaryDir == "" && req.ShadowDir == "" && req.Policy == nil {
		return nil
	}
	st, err := srv.SetRollout(ctx, req)
	if err != nil {
		return err
	}
	log.Info("rollout file applied", "canary", req.CanaryDir, "shadow", req.ShadowDir, "weight_bp", st.WeightBP)
	return nil
}

// reloadRollout re-reads the file on SIGHUP; a bad file or bundle is logged and changes nothing.
func reloadRollout(ctx context.Context, srv *server.Server, path string, log *slog.Logger) {
	rc, err := readRollout(path)
	if err == nil {
		err = applyRollout(ctx, srv, rc, log)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("rollout file not applied; the rollout is unchanged", "file", path, "err", err)
	}
}
