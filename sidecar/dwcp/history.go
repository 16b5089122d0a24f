package dwcp

import (
	"math"
	"time"
)

// DefaultFillLimit is the number of empty grid bins a history fills by repeating the
// previous bin before it starts over: the fill_limit of every model of the default bundle
// (engine.ModelInfo does not carry it).
const DefaultFillLimit = 2

// grid is one entity's recent samples on a model's step grid, as a window wants them:
// timestamps exactly step apart, the newest last, at most keep samples.
//
// A sample goes into the bin floor(t / step) * step, as fc_resample bins a trace. A
// second sample in the newest bin replaces it (the newest value wins: the adapters never
// average, because the feature core owns every reduction; with one sample per step this is
// fc_resample's grid bit for bit). An empty bin is filled by repeating the previous bin,
// for up to fill bins, as fc_resample fills; a longer gap starts the history over (the
// window would span missing data). A sample older than the newest bin is refused.
type grid struct {
	step     int64
	fill     int
	keep     int
	channels int
	ts       []int64
	vals     []float64 // channels values per sample, sample-major
}

func newGrid(step int64, fill, keep, channels int) *grid {
	return &grid{step: step, fill: fill, keep: keep, channels: channels}
}

// bin is the grid bin of t: t rounded down to a multiple of the step.
func (g *grid) bin(t time.Time) int64 {
	u := t.Unix()
	b := u / g.step * g.step
	if u < 0 && b != u {
		b -= g.step
	}
	return b
}

// add puts one sample (channels values) into the history. It reports whether the history
// started over because of a gap longer than the fill limit. The values must be checked
// by the caller.
func (g *grid) add(t time.Time, v []float64) (restarted bool, err error) {
	b := g.bin(t)
	n := len(g.ts)
	if n > 0 {
		last := g.ts[n-1]
		switch {
		case b < last:
			return false, ErrTimeOrder
		case b == last:
			copy(g.vals[(n-1)*g.channels:], v)
			return false, nil
		}
		missing := (b-last)/g.step - 1
		if missing > int64(g.fill) {
			g.ts, g.vals = g.ts[:0], g.vals[:0]
			restarted = true
		} else {
			prev := g.vals[(n-1)*g.channels : n*g.channels]
			for k := int64(1); k <= missing; k++ {
				g.ts = append(g.ts, last+k*g.step)
				g.vals = append(g.vals, prev...)
			}
		}
	}
	g.ts = append(g.ts, b)
	g.vals = append(g.vals, v...)
	if extra := len(g.ts) - g.keep; extra > 0 && len(g.ts) >= 2*g.keep {
		g.ts = append(g.ts[:0], g.ts[extra:]...)
		g.vals = append(g.vals[:0], g.vals[extra*g.channels:]...)
	}
	return restarted, nil
}

// len is the number of samples a window can use now (at most keep).
func (g *grid) len() int { return min(len(g.ts), g.keep) }

// full reports whether the history holds a whole window.
func (g *grid) full() bool { return len(g.ts) >= g.keep }

// window returns copies of the newest keep timestamps and the values of channel c.
func (g *grid) window(c int) ([]int64, []float64) {
	n := g.len()
	first := len(g.ts) - n
	ts := append([]int64(nil), g.ts[first:]...)
	vals := make([]float64, n)
	for i := range n {
		vals[i] = g.vals[(first+i)*g.channels+c]
	}
	return ts, vals
}

// windowAll returns copies of the newest keep timestamps and all their values.
func (g *grid) windowAll() ([]int64, []float64) {
	n := g.len()
	first := len(g.ts) - n
	return append([]int64(nil), g.ts[first:]...), append([]float64(nil), g.vals[first*g.channels:]...)
}

// finite reports whether v is neither NaN nor ±Inf.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkValue refuses a NaN, ±Inf or negative value of field (every channel of the models'
// schemas is a rate, a percentage or a gauge: the feature core refuses negatives too).
func checkValue(op, field string, v float64) error {
	switch {
	case !finite(v):
		return inputErr(op, field, v, ErrNotFinite)
	case v < 0:
		return inputErr(op, field, v, ErrNegative)
	}
	return nil
}
