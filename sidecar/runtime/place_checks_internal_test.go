package runtime

import (
	"math"
	"testing"
)

// TestFirstBad: the branch-free scan finds the first value that is not finite and >= 0,
// as the per-value check does (-0.0 and the extremes of the finite range are good).
func TestFirstBad(t *testing.T) {
	neg0 := math.Copysign(0, -1)
	tiny := math.SmallestNonzeroFloat64
	cases := []struct {
		name string
		s    []float64
		want int
	}{
		{"empty", nil, -1},
		{"good", []float64{0, 1, 2.5, 1e300}, -1},
		{"-0.0", []float64{1, neg0, 3}, -1},
		{"largest and smallest", []float64{math.MaxFloat64, tiny, 0}, -1},
		{"NaN", []float64{1, 2, math.NaN(), -1}, 2},
		{"+Inf", []float64{math.Inf(1)}, 0},
		{"-Inf", []float64{0, math.Inf(-1)}, 1},
		{"negative", []float64{0, 0, 0, -1}, 3},
		{"negative subnormal", []float64{neg0, -tiny}, 1},
		{"first of several", []float64{1, -2, math.NaN(), math.Inf(1)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := -1
			for k, v := range c.s {
				if bad(v) {
					ref = k
					break
				}
			}
			if got := firstBad(c.s); got != c.want || ref != c.want {
				t.Errorf("firstBad = %d, per-value check %d, want %d", got, ref, c.want)
			}
		})
	}
}
