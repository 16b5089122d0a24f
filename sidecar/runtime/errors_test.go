package runtime_test

import (
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// goldenSeries returns the golden raw runs of model as series.
func goldenSeries(t testing.TB, model string) []engine.Series {
	t.Helper()
	b, err := bundle.Load(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	var s []engine.Series
	for _, r := range b.Goldens[model].Runs {
		s = append(s, engine.Series{Timestamps: r.Timestamps, Values: r.Values})
	}
	return s
}

// goldenRow returns row 0 of the golden input of model as float64s.
func goldenRow(t testing.TB, model string) []float64 {
	t.Helper()
	b, err := bundle.Load(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	g := b.Goldens[model]
	n := len(g.Input) / int(g.InputShape[0])
	row := make([]float64, n)
	for i := range row {
		row[i] = float64(g.Input[i])
	}
	return row
}

// modelNames returns the default bundle's model names, sorted.
func modelNames(t testing.TB) []string {
	t.Helper()
	b, err := bundle.Load(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range b.Manifest.Models {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return names
}

func TestRequestErrors(t *testing.T) {
	e, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	row := goldenRow(t, "anomaly")
	with := func(i int, v float64) []float64 {
		r := append([]float64(nil), row...)
		r[i] = v
		return r
	}
	pba := goldenSeries(t, "pba")[0]
	gap := engine.Series{Timestamps: append([]int64(nil), pba.Timestamps...), Values: pba.Values}
	gap.Timestamps[len(gap.Timestamps)-1] += 300
	negative := engine.Series{Timestamps: pba.Timestamps, Values: append([]float64(nil), pba.Values...)}
	negative.Values[len(negative.Values)-1] = -1
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()

	tests := []struct {
		name string
		call func() error
		want error
		msg  string
	}{
		{"short row", func() error { _, err := e.Predict(ctx, "anomaly", "", row[:5]); return err },
			engine.ErrInvalidInput, "got 5 feature values for 1 rows; anomaly takes 18 per row"},
		{"NaN feature", func() error { _, err := e.Predict(ctx, "anomaly", "", with(3, math.NaN())); return err },
			engine.ErrInvalidInput, "feature 3 (row 0, step 0 target_mean) is NaN"},
		{"Inf feature", func() error { _, err := e.Predict(ctx, "anomaly", "", with(9, math.Inf(-1))); return err },
			engine.ErrInvalidInput, "feature 9 (row 0, step 1 value) is -Inf"},
		{"beyond float32", func() error { _, err := e.Predict(ctx, "anomaly", "", with(0, 1e39)); return err },
			engine.ErrInvalidInput, "within float32 range"},
		{"unknown model", func() error { _, err := e.Predict(ctx, "nope", "", row); return err },
			engine.ErrNotFound, `unknown model "nope"; bundle default-1 serves ` + strings.Join(modelNames(t), ", ")},
		{"unknown version", func() error { _, err := e.Predict(ctx, "anomaly", "7", row); return err },
			engine.ErrNotFound, `version "7" is not loaded; bundle default-1 has anomaly 2`},
		{"zero rows", func() error { _, err := e.PredictBatch(ctx, "anomaly", "", 0, nil); return err },
			engine.ErrInvalidInput, "rows is 0"},
		{"oversized batch", func() error { _, err := e.PredictBatch(ctx, "anomaly", "", 9, nil); return err },
			engine.ErrTooLarge, "9 rows in one call; the limit is 8"},
		{"oversized series batch", func() error {
			_, err := e.ForecastBandwidthBatch(ctx, make([]engine.Series, 9))
			return err
		}, engine.ErrTooLarge, "limit is 8"},
		{"empty series batch", func() error { _, err := e.AnomalyScoreBatch(ctx, nil); return err },
			engine.ErrInvalidInput, "rows is 0"},
		{"short series", func() error {
			_, err := e.ForecastBandwidth(ctx, engine.Series{Timestamps: pba.Timestamps[:5], Values: pba.Values[:30]})
			return err
		}, engine.ErrInvalidInput, "series 0 has 5 samples; pba needs the last 23 samples, 300 s apart"},
		{"values of another schema", func() error {
			_, err := e.RecommendCapacity(ctx, pba)
			return err
		}, engine.ErrInvalidInput, "series 0 has 138 values for 23 timestamps; schema metric takes 1 channels per sample [value]"},
		{"gap in series", func() error { _, err := e.ForecastBandwidth(ctx, gap); return err },
			featurecore.ErrTimeGap, "series 0, from sample 0"},
		{"negative sample", func() error { _, err := e.ForecastBandwidth(ctx, negative); return err },
			engine.ErrInvalidInput, "net_tx_kbs"},
		{"canceled context", func() error { _, err := e.Predict(canceled, "anomaly", "", row); return err },
			engine.ErrCanceled, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v\nwant %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
	// The engine still answers after every bad request.
	if _, err := e.Predict(ctx, "anomaly", "", row); err != nil {
		t.Fatal(err)
	}
}

func TestClosedEngine(t *testing.T) {
	e, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = e.AnomalyScore(context.Background(), goldenSeries(t, "anomaly")[0])
	if !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if err := e.Reload(context.Background(), ""); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("reload after close: got %v", err)
	}
}
