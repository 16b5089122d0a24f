//go:build cgo

package dwcp_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/dwcp"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// TestLinkGolden: the link model's typed call, in-process and through the pure-Go client
// of a sidecar, reproduces the bundle's golden link outputs (Python's ONNX Runtime on the
// Python feature core's windows), bit for bit.
func TestLinkGolden(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	b, err := bundle.Load(testbundle.Dir())
	if err != nil {
		t.Fatal(err)
	}
	g := b.Goldens["link"]
	if g == nil || len(g.Runs) == 0 {
		t.Fatal("the bundle has no link goldens")
	}
	var series []engine.Series
	for _, r := range g.Runs {
		series = append(series, engine.Series{Timestamps: r.Timestamps, Values: r.Values})
	}
	for _, e := range []dwcp.LinkForecaster{online(eng), sidecar(t, eng)} {
		f, err := e.(engine.Engine).ForecastLinkBatch(ctx, series)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range f {
			row := []float64{r.LowerMbps, r.PointMbps, r.UpperMbps, r.LatencyMs, r.LossRatio, r.JitterMs}
			want := g.Output[i*dwcp.LinkColumns : (i+1)*dwcp.LinkColumns]
			for c := range row {
				if math.Float32bits(float32(row[c])) != math.Float32bits(want[c]) || float64(float32(row[c])) != row[c] {
					t.Errorf("%T run %d column %d: %v, golden %v", e, i, c, row[c], want[c])
				}
			}
			if r.Model.Name != "link" || r.Model.Bundle != b.Manifest.BundleVersion {
				t.Errorf("%T ref %+v", e, r.Model)
			}
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
	eng := openEngine(t)
	p, err := dwcp.NewBandwidthPredictor(ctx, online(eng), dwcp.BandwidthConfig{})
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
		f, err := eng.ForecastLink(ctx, series)
		if err != nil {
			t.Fatal(err)
		}
		out, ref := []float64{f.LowerMbps, f.PointMbps, f.UpperMbps, f.LatencyMs, f.LossRatio, f.JitterMs}, f.Model
		last := time.Unix(series.Timestamps[w-1], 0).UTC()
		want := &dwcp.BandwidthPrediction{PredictedBandwidthMbps: out[1], PredictedLatencyMs: out[3],
			PredictedPacketLoss: out[4], PredictedJitterMs: out[5], Confidence: dwcp.IntervalConfidence(out[0], out[2]),
			ValidUntil: last.Add(15 * time.Minute), ModelVersion: "dwcp-ml/link@" + ref.Version + " (bundle " + ref.Bundle + ")",
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
		{"older than any window reads", func(s *dwcp.NetworkSample) { s.Timestamp = at(-100) }, dwcp.ErrTimeOrder},
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
}

// TestBandwidthParity: one link's samples (warm-up, duplicates in a bin, a gap the grid
// fills) through a BandwidthPredictor over the in-process engine and one over the client
// of a sidecar: every answer and error equal, bit for bit.
func TestBandwidthParity(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	cl := sidecar(t, eng)
	in, err := dwcp.NewBandwidthPredictor(ctx, online(eng), dwcp.BandwidthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := dwcp.NewBandwidthPredictor(ctx, cl, dwcp.BandwidthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w := in.Window()
	steps := []int{}
	for i := range w + 3 {
		steps = append(steps, i)
	}
	steps = append(steps, w+5, w+6) // two bins filled by repetition
	answered := 0
	var history []dwcp.NetworkSample
	for _, i := range steps {
		s := linkSample(i)
		history = append(history, s)
		for _, p := range []*dwcp.BandwidthPredictor{in, out} {
			if err := p.AddSample(s); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		a, errIn := in.PredictBandwidth(ctx)
		b, errOut := out.PredictBandwidth(ctx)
		if (errIn == nil) != (errOut == nil) || errIn != nil && errIn.Error() != errOut.Error() {
			t.Fatalf("step %d: errors %v / %v", i, errIn, errOut)
		}
		if err := sameBits(a, b); err != nil {
			t.Fatalf("step %d: in-process and sidecar differ: %v", i, err)
		}
		if errIn != nil {
			continue
		}
		answered++
		c, errIn := in.Predict(history)
		d, errOut := out.Predict(history)
		if errIn != nil || errOut != nil {
			t.Fatalf("step %d: Predict(history): %v / %v", i, errIn, errOut)
		}
		if err := sameBits(c, d); err != nil {
			t.Fatalf("step %d: Predict(history) in-process and sidecar differ: %v", i, err)
		}
	}
	if answered != 6 {
		t.Errorf("%d answers, want 6 (4 after the warm-up, 2 after the gap)", answered)
	}
}
