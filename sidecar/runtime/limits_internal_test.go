package runtime

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

func internalWith(t *testing.T, err error, want string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != engine.CodeInternal || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want Internal containing %q", err, want)
	}
}

func TestCapacityUnits(t *testing.T) {
	good := map[string]float64{"headroom": 1.2, "unit_mhz": 1000, "min_units": 1}
	cases := []struct {
		name string
		q    float64
		t    map[string]float64
		want string
	}{
		{"empty thresholds", 5000, map[string]float64{}, "bundle thresholds give NaN capacity units"},
		{"unit_mhz 0", 5000, map[string]float64{"headroom": 1.2, "unit_mhz": 0, "min_units": 1}, "+Inf capacity units"},
		{"overflow", 1e30, good, "capacity units"},
		{"NaN forecast", math.NaN(), good, "the forecast is NaN"},
		{"Inf forecast", math.Inf(1), good, "the forecast is +Inf"},
		{"negative unit", 5000, map[string]float64{"headroom": 1.2, "unit_mhz": -1000, "min_units": -3}, "capacity units"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := capacityUnits("scaling", c.q, c.t)
			internalWith(t, err, c.want)
		})
	}
	if u, capacity, err := capacityUnits("scaling", 5000, good); err != nil || u != 6 || capacity != 6000 {
		t.Fatalf("good thresholds: %d units, %g MHz, %v", u, capacity, err)
	}
}

func TestAnomalyAnswer(t *testing.T) {
	for _, c := range []struct{ score, threshold float64 }{{math.NaN(), 0.5}, {0.1, math.Inf(1)}, {math.Inf(-1), 0}} {
		_, err := anomalyAnswer("anomaly", c.score, c.threshold)
		internalWith(t, err, "bundle thresholds give no answer")
	}
	if a, err := anomalyAnswer("anomaly", 0.6, 0.5); err != nil || !a {
		t.Fatalf("0.6 >= 0.5: %v %v", a, err)
	}
}

func TestForecastCheck(t *testing.T) {
	ok := []float32{1, 2, 3}
	cases := []struct {
		name    string
		out     []float32
		horizon float64
		want    string
	}{
		{"horizon 0 (missing threshold)", ok, 0, "horizon_seconds 0"},
		{"negative horizon", ok, -300, "horizon_seconds -300"},
		{"NaN horizon", ok, math.NaN(), "horizon_seconds NaN"},
		{"huge horizon", ok, 1e30, "horizon_seconds 1e+30"},
		{"NaN output", []float32{1, float32(math.NaN()), 3}, 300, "the forecast is"},
		{"Inf output", []float32{float32(math.Inf(1)), 2, 3}, 300, "the forecast is"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { internalWith(t, forecastCheck("pba", c.out, c.horizon), c.want) })
	}
	if err := forecastCheck("pba", ok, 300); err != nil {
		t.Fatal(err)
	}
}
