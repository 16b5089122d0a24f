//go:build cgo

package dwcp_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/dwcp"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// The committed bundle has no link model yet, so the bandwidth tests build one the way
// the link family's own tests do: dwcp-ml train --models link --tiny, export, bundle (in
// a temporary directory, about 30 s, no MLflow run). It needs the project's .venv
// (make venv), as every test of the runtime needs its ONNX Runtime.
var linkBundle = sync.OnceValues(func() (string, error) {
	_, file, _, _ := goruntime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cli := filepath.Join(root, ".venv", "bin", "dwcp-ml")
	dir, err := os.MkdirTemp("", "dwcp-link-")
	if err != nil {
		return "", err
	}
	linkTemp = dir
	work, out := filepath.Join(dir, "work"), filepath.Join(dir, "bundle")
	for _, args := range [][]string{
		{"train", "--work", work, "--models", "link", "--tiny", "--quiet", "--no-track"},
		{"export", "--work", work, "--quiet"},
		{"bundle", "--work", work, "--out", out, "--version", "link-test", "--no-track"},
	} {
		// Bounded: a hung step fails the tests instead of hanging them (exec kills it).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "DWCP_ML_TRACKING_DIR="+filepath.Join(dir, "mlruns"))
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w\n%s", cli, args[0], err, b)
		}
	}
	return out, nil
})

var linkTemp string // removed by TestMain

func openLink(t *testing.T) (*runtime.Engine, string) {
	t.Helper()
	dir, err := linkBundle()
	if err != nil {
		t.Fatalf("building a bundle with the link model: %v", err)
	}
	eng, err := runtime.Open(context.Background(), dir, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, dir
}

// TestInProcessLinkGolden: InProcessLink reproduces the bundle's golden link outputs
// (Python's ONNX Runtime on the Python feature core's windows), bit for bit.
func TestInProcessLinkGolden(t *testing.T) {
	eng, dir := openLink(t)
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := b.Goldens["link"]
	if g == nil || len(g.Runs) == 0 {
		t.Fatal("the bundle has no link goldens")
	}
	l := dwcp.InProcessLink{Engine: eng}
	var series []engine.Series
	for _, r := range g.Runs {
		series = append(series, engine.Series{Timestamps: r.Timestamps, Values: r.Values})
	}
	out, ref, err := l.ForecastLinkBatch(context.Background(), series)
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range out {
		want := g.Output[i*dwcp.LinkColumns : (i+1)*dwcp.LinkColumns]
		for c := range row {
			if math.Float32bits(float32(row[c])) != math.Float32bits(want[c]) || float64(float32(row[c])) != row[c] {
				t.Errorf("run %d column %d: %v, golden %v", i, c, row[c], want[c])
			}
		}
	}
	if ref.Name != "link" || ref.Bundle != "link-test" {
		t.Errorf("ref %+v", ref)
	}
	// One series alone: the same model on the same window (within a float32 ULP or two of
	// the batch, as ONNX Runtime blocks a lone row differently).
	one, _, err := l.ForecastLink(context.Background(), series[0])
	if err != nil {
		t.Fatal(err)
	}
	for c := range one {
		if d := math.Abs(one[c] - out[0][c]); d > 4e-7*math.Max(1, math.Abs(out[0][c])) {
			t.Errorf("column %d: alone %v, in the batch %v", c, one[c], out[0][c])
		}
	}
}

// linkSample is a link's measurement at step i: a diurnal-looking ramp.
func linkSample(i int) dwcp.NetworkSample {
	return dwcp.NetworkSample{Timestamp: at(i).Add(42 * time.Second), BandwidthMbps: 800 + 10*float64(i%9),
		LatencyMs: 12 + float64(i%4), PacketLoss: 0.002 * float64(i%3), JitterMs: 1.5 + 0.25*float64(i%5),
		TimeOfDay: 99, DayOfWeek: 99, NodeID: "a", PeerID: "b"}
}

func TestBandwidthPredictor(t *testing.T) {
	ctx := context.Background()
	eng, _ := openLink(t)
	l := dwcp.InProcessLink{Engine: eng}
	p, err := dwcp.NewBandwidthPredictor(ctx, l, dwcp.BandwidthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PredictBandwidth(ctx); !errors.Is(err, dwcp.ErrEmptyHistory) {
		t.Errorf("no samples: %v", err)
	}
	w := p.Window()
	var history []dwcp.NetworkSample
	for i := range w + 2 {
		s := linkSample(i)
		history = append(history, s)
		if err := p.AddSample(s); err != nil {
			t.Fatal(err)
		}
		pred, err := p.PredictBandwidth(ctx)
		if i < w-1 {
			var warm *dwcp.WarmingUpError
			if !errors.As(err, &warm) || warm.Have != i+1 || warm.Need != w || warm.Entity != "a->b" {
				t.Fatalf("step %d: %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// The mapping, column by column, against the model's own row for the same window.
		series := engine.Series{}
		for _, h := range history[len(history)-w:] {
			series.Timestamps = append(series.Timestamps, at(0).Unix()+(h.Timestamp.Unix()-at(0).Unix())/300*300)
			series.Values = append(series.Values, h.BandwidthMbps, h.LatencyMs, h.PacketLoss, h.JitterMs)
		}
		out, ref, err := l.ForecastLink(ctx, series)
		if err != nil {
			t.Fatal(err)
		}
		last := time.Unix(series.Timestamps[w-1], 0).UTC()
		want := &dwcp.BandwidthPrediction{PredictedBandwidthMbps: out[1], PredictedLatencyMs: out[3],
			PredictedPacketLoss: out[4], PredictedJitterMs: out[5], Confidence: dwcp.IntervalConfidence(out[0], out[2]),
			ValidUntil: last.Add(15 * time.Minute), ModelVersion: "dwcp-ml/link@" + ref.Version + " (bundle link-test)",
			PredictionTime: last, LowerMbps: out[0], UpperMbps: out[2], IntervalLevel: 0.9 - 0.1, Link: "a->b", Model: ref}
		if err := sameBits(pred, want); err != nil {
			t.Errorf("step %d: %v", i, err)
		}
		whole, err := p.Predict(history)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameBits(whole, pred); err != nil {
			t.Errorf("step %d: Predict(history) vs PredictBandwidth: %v", i, err)
		}
		actual := linkSample(i + 1)
		if ok, err := p.UpdateActual(pred.ValidUntil, actual); err != nil || !ok {
			t.Errorf("update actual: %v %v", ok, err)
		}
	}
	if a := p.Accuracy(); a.Joined != 3 || !(a.MAEMbps >= 0) || !(a.MAPE >= 0) {
		t.Errorf("accuracy %+v", a)
	}
	if ok, _ := p.UpdateActual(at(0), linkSample(0)); ok {
		t.Error("an actual before every prediction was joined")
	}

	for _, tc := range []struct {
		name string
		s    func(*dwcp.NetworkSample)
		want error
	}{
		{"other link", func(s *dwcp.NetworkSample) { s.PeerID = "c" }, dwcp.ErrMixedLinks},
		{"loss as a percentage", func(s *dwcp.NetworkSample) { s.PacketLoss = 2 }, dwcp.ErrRatio},
		{"NaN", func(s *dwcp.NetworkSample) { s.JitterMs = math.NaN() }, dwcp.ErrNotFinite},
		{"negative", func(s *dwcp.NetworkSample) { s.LatencyMs = -1 }, dwcp.ErrNegative},
		{"no node", func(s *dwcp.NetworkSample) { s.NodeID = "" }, dwcp.ErrEmptyID},
		{"no time", func(s *dwcp.NetworkSample) { s.Timestamp = time.Time{} }, dwcp.ErrNoTimestamp},
		{"older", func(s *dwcp.NetworkSample) { s.Timestamp = at(0) }, dwcp.ErrTimeOrder},
	} {
		s := linkSample(w + 5)
		tc.s(&s)
		if err := p.AddSample(s); !errors.Is(err, tc.want) {
			t.Errorf("add %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := p.Predict(nil); !errors.Is(err, dwcp.ErrEmptyHistory) {
		t.Errorf("empty history: %v", err)
	}
	mixed := []dwcp.NetworkSample{linkSample(0), linkSample(1)}
	mixed[1].NodeID = "z"
	if _, err := p.Predict(mixed); !errors.Is(err, dwcp.ErrMixedLinks) {
		t.Errorf("mixed history: %v", err)
	}
	if _, err := p.Predict(history[:3]); !errors.Is(err, dwcp.ErrWarmingUp) {
		t.Errorf("short history: %v", err)
	}
	// The committed bundle has no link model: a typed refusal, not a guess.
	if _, err := dwcp.NewBandwidthPredictor(ctx, dwcp.InProcessLink{Engine: openEngine(t)}, dwcp.BandwidthConfig{}); !errors.Is(err, dwcp.ErrNoModel) {
		t.Errorf("bundle without a link model: %v", err)
	}
}
