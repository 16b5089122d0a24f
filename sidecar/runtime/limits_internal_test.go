package runtime

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// The answer functions are tested here with thresholds no loadable bundle has (the bundle
// specification refuses them at Open): they are the second line of defence.

func internalWith(t *testing.T, err error, want string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != engine.CodeInternal || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want Internal containing %q", err, want)
	}
}

// with returns a copy of t with key set to v.
func with(t map[string]float64, key string, v float64) map[string]float64 {
	out := without(t, key)
	out[key] = v
	return out
}

// without returns a copy of t without key.
func without(t map[string]float64, key string) map[string]float64 {
	out := map[string]float64{}
	for k, x := range t {
		out[k] = x
	}
	delete(out, key)
	return out
}

var nan = math.NaN()

func TestCapacityAnswer(t *testing.T) {
	good := map[string]float64{"headroom": 1.2, "unit_mhz": 1000, "min_units": 1, "horizon_steps": 12}
	const wrong = "the bundle's thresholds are wrong: "
	cases := []struct {
		name    string
		q, peak float64
		t       map[string]float64
		want    string
	}{
		{"empty thresholds (units -9223372036854775808 before)", 5000, 0, map[string]float64{}, wrong + "headroom 0, unit_mhz 0"},
		{"unit_mhz 0", 5000, 0, with(good, "unit_mhz", 0), wrong + "headroom 1.2, unit_mhz 0"},
		{"no unit_mhz", 5000, 0, without(good, "unit_mhz"), wrong + "headroom 1.2, unit_mhz 0"},
		{"unit_mhz +Inf", 5000, 0, with(good, "unit_mhz", math.Inf(1)), "unit_mhz +Inf"},
		{"headroom NaN", 5000, 0, with(good, "headroom", math.NaN()), "headroom NaN"},
		{"negative min_units", 5000, 0, with(good, "min_units", -3), "min_units -3"},
		{"negative floor", 5000, 0, with(good, "floor", -1), "floor -1"},
		{"floor NaN", 5000, 0, with(good, "floor", math.NaN()), "floor NaN"},
		{"floor +Inf", 5000, 0, with(good, "floor", math.Inf(1)), "floor +Inf"},
		{"units overflow int", 1e30, 0, good, wrong + "they size 1.2e+27 units"},
		{"the floor's units overflow int", 5000, 1e30, with(good, "floor", 1), wrong + "they size 1e+27 units"},
		{"min_units above the cap", 0, 0, with(good, "min_units", 1e12), "at most 2147483647 are answered"},
		{"capacity overflows float64", 5000, 0, with(with(good, "unit_mhz", 1e308), "min_units", 1e6), "1e+06 units of unit_mhz 1e+308 make +Inf MHz"},
		{"no horizon_steps", 5000, 0, without(good, "horizon_steps"), wrong + "horizon_steps x step_seconds is 0"},
		{"horizon beyond a year", 5000, 0, with(good, "horizon_steps", 1e9), "horizon_steps x step_seconds is 3e+11"},
		{"NaN forecast", nan, 0, good, "the forecast is NaN"},
		{"Inf forecast", math.Inf(1), 0, good, "the forecast is +Inf"},
		{"NaN recent peak", 5000, nan, good, "the recent peak NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := capacityAnswer("scaling", c.q, c.peak, c.t, 300)
			internalWith(t, err, c.want)
		})
	}
	got, err := capacityAnswer("scaling", 5000, 0, good, 300)
	if err != nil || got.Units != 6 || got.CapacityMHz != 6000 || got.Horizon != time.Hour {
		t.Fatalf("good thresholds: %+v, %v", got, err)
	}
	// The hybrid floor: 1.5 x 7000 MHz = 10.5 units -> 11, above the forecast's 6.
	got, err = capacityAnswer("scaling", 5000, 7000, with(good, "floor", 1.5), 300)
	if err != nil || got.Units != 11 || got.CapacityMHz != 11000 {
		t.Fatalf("floor 1.5: %+v, %v", got, err)
	}
}

// capacityCase is one entry of tests/capacity_cases.json, written by tests/test_scaling.py
// from training/scaling.recent_peak and training/capacity.recommend_capacity.
type capacityCase struct {
	Name          string             `json:"name"`
	SeqLen        int                `json:"seq_len"`
	Row           []float64          `json:"row"`
	Output        float64            `json:"output"`
	Thresholds    map[string]float64 `json:"thresholds"`
	RecentPeakMHz float64            `json:"recent_peak_mhz"`
	CapacityMHz   float64            `json:"capacity_mhz"`
	Units         int                `json:"units"`
}

// TestCapacitySharedCases: Go answers Python's cases bit for bit, from the same float32 row
// and model output (recent peak, units, capacity).
func TestCapacitySharedCases(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "tests", "capacity_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []capacityCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 5 {
		t.Fatalf("%d shared cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := featurecore.DefaultParams(featurecore.SchemaMetric)
			p.SeqLen = c.SeqLen
			row := make([]float32, len(c.Row))
			for i, v := range c.Row {
				row[i] = float32(v)
				if float64(row[i]) != v {
					t.Fatalf("row[%d] = %v is not a float32", i, v)
				}
			}
			q := float32(c.Output)
			peak, err := recentPeak("scaling", p, row, c.Thresholds["horizon_steps"])
			if err != nil || math.Float64bits(peak) != math.Float64bits(c.RecentPeakMHz) {
				t.Fatalf("recent peak %v (%v), Python %v", peak, err, c.RecentPeakMHz)
			}
			got, err := capacityFromRow("scaling", p, row, float64(q), c.Thresholds)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got.CapacityMHz) != math.Float64bits(c.CapacityMHz) || got.Units != c.Units {
				t.Fatalf("capacity %v MHz (%d units), Python %v MHz (%d units)", got.CapacityMHz, got.Units,
					c.CapacityMHz, c.Units)
			}
		})
	}
}

// TestCapacityRecentPeakFromCoreRow: on a series on the 5-minute grid, the recent peak read
// from the core's row is the largest raw value of the last horizon_steps samples.
func TestCapacityRecentPeakFromCoreRow(t *testing.T) {
	p := featurecore.DefaultParams(featurecore.SchemaMetric)
	n := p.WindowInputLen()
	ts := make([]int64, n)
	values := make([]float64, n)
	for i := range n {
		ts[i] = 1372636800 + int64(i)*p.StepSeconds
		values[i] = float64((i*37)%11)*100 + 0.25
	}
	values[n-5] = 99999 // outside the last 3 steps
	row := make([]float32, p.WindowOutputLen())
	if err := p.Window(ts, values, row); err != nil {
		t.Fatal(err)
	}
	peak, err := recentPeak("scaling", p, row, 3)
	if want := math.Max(values[n-1], math.Max(values[n-2], values[n-3])); err != nil || peak != want {
		t.Fatalf("recent peak %v (%v), want %v", peak, err, want)
	}
	for name, c := range map[string]struct {
		p    featurecore.Params
		h    float64
		want string
	}{
		"horizon above seq_len": {p, 13, "horizon_steps 13"},
		"fractional horizon":    {p, 2.5, "horizon_steps 2.5"},
		"normalised value": {func() featurecore.Params { q := p; q.Scale[0] = 2; return q }(), 3,
			"center 0, scale 2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := recentPeak("scaling", c.p, row, c.h)
			internalWith(t, err, c.want)
		})
	}
}

func TestAnomalyAnswer(t *testing.T) {
	good := map[string]float64{"score": 0.1}
	cases := []struct {
		name  string
		score float64
		t     map[string]float64
		want  string
	}{
		{"empty thresholds (threshold 0 before)", 0.2, map[string]float64{}, "score threshold 0 (present: false)"},
		{"-Inf threshold", 0.2, with(good, "score", math.Inf(-1)), "score threshold -Inf"},
		{"threshold above every score", 0.2, with(good, "score", 0.5), "score threshold 0.5 (present: true)"},
		{"NaN score", nan, good, "the score is NaN"},
		{"-Inf score", math.Inf(-1), good, "the score is -Inf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := anomalyAnswer("anomaly", c.score, c.t)
			internalWith(t, err, c.want)
		})
	}
	if a, err := anomalyAnswer("anomaly", 0.2, good); err != nil || !a.Anomalous || a.Threshold != 0.1 {
		t.Fatalf("0.2 >= 0.1: %+v %v", a, err)
	}
}

func TestForecastAnswer(t *testing.T) {
	ok := []float32{1, 2, 3}
	good := map[string]float64{"quantile_lower": 0.1, "quantile_upper": 0.9, "horizon_seconds": 1800}
	cases := []struct {
		name string
		out  []float32
		t    map[string]float64
		want string
	}{
		{"empty thresholds (valid_until = last sample before)", ok, map[string]float64{"quantile_upper": 0.9},
			"horizon_seconds is 0; it must be in [1, 31536000] s"},
		{"negative horizon (valid_until in the past)", ok, with(good, "horizon_seconds", -300), "horizon_seconds is -300"},
		{"sub-second horizon (valid_until = last on the wire)", ok, with(good, "horizon_seconds", 0.5), "horizon_seconds is 0.5"},
		{"+Inf horizon", ok, with(good, "horizon_seconds", math.Inf(1)), "horizon_seconds is +Inf"},
		{"horizon past time.Duration", ok, with(good, "horizon_seconds", 1e30), "horizon_seconds is 1e+30"},
		{"quantile level NaN", ok, with(good, "quantile_lower", math.NaN()), "quantile_lower NaN"},
		{"quantile level 2", ok, with(good, "quantile_upper", 2), "quantile_upper 2"},
		{"NaN quantile", []float32{1, float32(nan), 3}, good, "the forecast is [1 NaN 3]"},
		{"Inf quantile", []float32{float32(math.Inf(1)), 2, 3}, good, "the forecast is [+Inf 2 3]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := forecastAnswer("pba", c.out, c.t, 1_700_000_000)
			internalWith(t, err, c.want)
		})
	}
	f, err := forecastAnswer("pba", ok, good, 1_700_000_000)
	if err != nil || f.ValidUntil.Unix() != 1_700_001_800 || f.Upper != 3 {
		t.Fatalf("good thresholds: %+v, %v", f, err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	want := Limits{SeriesSlack: DefaultSeriesSlack, MaxCores: DefaultMaxCores, MaxMHzPerCore: DefaultMaxMHzPerCore,
		MaxKBps: DefaultMaxKBps, MaxMemPct: DefaultMaxMemPct, MaxMetric: DefaultMaxMetric}
	for _, l := range []Limits{{}, {SeriesSlack: -1, MaxCores: -2, MaxMHzPerCore: nan, MaxKBps: -1, MaxMemPct: 0, MaxMetric: -5}} {
		if got := l.withDefaults(); got != want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", l, got, want)
		}
	}
	set := Limits{SeriesSlack: 5, MaxCores: 8, MaxMHzPerCore: 3000, MaxKBps: 1e6, MaxMemPct: 200, MaxMetric: 1e3}
	if got := set.withDefaults(); got != set {
		t.Errorf("set limits changed: %+v", got)
	}
}

// TestEveryChannelBounded requires a bound for every channel of every schema a typed
// family takes (spec/bundle: pba takes vm, anomaly and scaling take metric, link takes link).
func TestEveryChannelBounded(t *testing.T) {
	for family, schema := range map[string]featurecore.Schema{FamilyBandwidth: featurecore.SchemaVM,
		FamilyAnomaly: featurecore.SchemaMetric, FamilyCapacity: featurecore.SchemaMetric, FamilyLink: featurecore.SchemaLink} {
		m := &model{entry: &bundle.Model{Name: family}, params: featurecore.DefaultParams(schema)}
		b, err := m.bounds("test", family, Limits{}.withDefaults())
		if err != nil || len(b) != schema.NumChannels() {
			t.Errorf("%s (%s): %d bounds, %v", family, schema, len(b), err)
		}
	}
}

// TestLinkAnswer: a link row that breaks the graph's guarantees, or a model whose columns
// are not the contract's, is refused rather than answered.
func TestLinkAnswer(t *testing.T) {
	good := map[string]float64{"quantile_lower": 0.1, "quantile_point": 0.5, "quantile_upper": 0.9, "horizon_seconds": 900}
	link := func(outShape []int64, notes map[string]string) *model {
		m := &model{entry: &bundle.Model{Name: "link", Notes: notes}, info: engine.ModelInfo{OutputShape: outShape, Thresholds: good}}
		m.outLen = m.info.OutputLen()
		return m
	}
	ok := link([]int64{-1, 6}, map[string]string{"columns": strings.Join(LinkColumns, ",")})
	row := []float32{90, 100, 120, 12, 0.001, 1.5}
	nan := float32(math.NaN())
	cases := []struct {
		name string
		m    *model
		out  []float32
		code engine.Code
		want string
	}{
		{"3 columns", link([]int64{-1, 3}, nil), row[:3], engine.CodeMismatch, "output shape [-1 3]: the link contract has 6 columns"},
		{"other column names", link([]int64{-1, 6}, map[string]string{"columns": "a,b,c,d,e,f"}), row, engine.CodeMismatch,
			`the manifest's output columns are "a,b,c,d,e,f"`},
		{"NaN latency", ok, []float32{90, 100, 120, nan, 0.001, 1.5}, engine.CodeInternal, "(column latency_ms)"},
		{"negative jitter", ok, []float32{90, 100, 120, 12, 0.001, -1}, engine.CodeInternal, "(column jitter_ms)"},
		{"loss above 1", ok, []float32{90, 100, 120, 12, 1.5, 1}, engine.CodeInternal, "(column packet_loss_ratio)"},
		{"crossed quantiles", ok, []float32{110, 100, 120, 12, 0.001, 1}, engine.CodeInternal, "quantiles cross (110, 100, 120)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := linkAnswer(c.m, c.out, 1_700_000_000)
			if engine.CodeOf(err) != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %s with %q", err, c.code, c.want)
			}
		})
	}
	f, err := linkAnswer(ok, row, 1_700_000_000)
	want := engine.LinkForecast{LowerMbps: 90, PointMbps: 100, UpperMbps: 120, LatencyMs: 12, LossRatio: float64(float32(0.001)),
		JitterMs: 1.5, QuantileLower: 0.1, QuantileUpper: 0.9, Horizon: 15 * time.Minute, ValidUntil: time.Unix(1_700_000_900, 0).UTC()}
	if err != nil || f != want {
		t.Fatalf("good row: %+v, %v; want %+v", f, err, want)
	}
	if _, err := linkAnswer(link([]int64{-1, 6}, nil), row, 1_700_000_000); err != nil {
		t.Fatalf("a manifest without notes columns: %v", err)
	}
}
