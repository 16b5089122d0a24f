package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// maxSlack is how far beyond the window an offline series may reach (the runtime's
// default -max-series-slack): the offline path passes the full series up to it.
const maxSlack = 288

// family is one typed call as the replay drives it: online (by entity) and offline (the
// engine's call on a series).
type family struct {
	name    string
	schema  string
	channel int // -1: every vm channel; otherwise the vm channel fed as schema metric
	online  func(context.Context, *store.Online, engine.EntityRef) (any, error)
	offline func(context.Context, *runtime.Engine, engine.Series) (any, error)
}

var families = []family{
	{store.FamilyBandwidth, "vm", -1,
		func(ctx context.Context, o *store.Online, e engine.EntityRef) (any, error) {
			return o.ForecastBandwidthEntity(ctx, e)
		},
		func(ctx context.Context, g *runtime.Engine, s engine.Series) (any, error) {
			return g.ForecastBandwidth(ctx, s)
		}},
	{store.FamilyAnomaly, "metric", 0,
		func(ctx context.Context, o *store.Online, e engine.EntityRef) (any, error) {
			return o.AnomalyScoreEntity(ctx, e)
		},
		func(ctx context.Context, g *runtime.Engine, s engine.Series) (any, error) {
			return g.AnomalyScore(ctx, s)
		}},
	{store.FamilyCapacity, "metric", 0,
		func(ctx context.Context, o *store.Online, e engine.EntityRef) (any, error) {
			return o.RecommendCapacityEntity(ctx, e)
		},
		func(ctx context.Context, g *runtime.Engine, s engine.Series) (any, error) {
			return g.RecommendCapacity(ctx, s)
		}},
}

// sameAnswer compares two answers (or errors) bit for bit: %+v prints every float64 with
// the shortest digits that round-trip (so equal text is equal bits, -0 included); errors
// must have the same engine code and feature core status.
func sameAnswer(a any, aerr error, b any, berr error) string {
	if (aerr == nil) != (berr == nil) {
		return fmt.Sprintf("online %v / %v, offline %v / %v", a, aerr, b, berr)
	}
	if aerr != nil {
		var fa, fb *featurecore.Error
		if engine.CodeOf(aerr) != engine.CodeOf(berr) || errors.As(aerr, &fa) != errors.As(berr, &fb) ||
			(fa != nil && fa.Status != fb.Status) {
			return fmt.Sprintf("online error %v, offline error %v", aerr, berr)
		}
		return ""
	}
	if x, y := fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b); x != y {
		return fmt.Sprintf("online %s, offline %s", x, y)
	}
	return ""
}

// sameRow compares two feature rows (and their errors) bit for bit.
func sameRow(a []float32, aerr error, b []float32, berr error) string {
	if (aerr == nil) != (berr == nil) || (aerr != nil && !errors.Is(aerr, errStatus(berr))) {
		return fmt.Sprintf("online window error %v, offline %v", aerr, berr)
	}
	if aerr != nil {
		return ""
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return fmt.Sprintf("feature %d: online %x, offline %x", i, math.Float32bits(a[i]), math.Float32bits(b[i]))
		}
	}
	return ""
}

func errStatus(err error) error {
	var fe *featurecore.Error
	if errors.As(err, &fe) {
		return fe.Status.Err()
	}
	return err
}

// replayCounts are what a replay compared.
type replayCounts struct {
	samples, windows, answers, answerErrors int
	rows                                    map[int64][]float32 // the online window last seen ending at each bin
}

// replay feeds samples one at a time, in the given (arrival) order, to an Online store
// as entity ref of fam.schema, and after each one compares the online window and answer
// with the offline path: the feature core resampling every sample received so far (in
// arrival order, over their whole grid), then the same window function and the engine's
// typed call on that full series (its last WindowSamples + maxSlack bins).
func replay(t *testing.T, ctx context.Context, eng *runtime.Engine, on *store.Online, fam family, ref engine.EntityRef,
	ts []int64, vals []float64, answers bool) replayCounts {
	t.Helper()
	p, info, err := eng.WindowParams(ctx, fam.name)
	if err != nil {
		t.Fatal(err)
	}
	ch := p.Schema.NumChannels()
	win := info.WindowSamples
	onRow, offRow := make([]float32, p.WindowOutputLen()), make([]float32, p.WindowOutputLen())
	c := replayCounts{rows: map[int64][]float32{}}
	var grid []float64
	var counts []uint32
	for i := range ts {
		res, err := on.Observe(ctx, []engine.Samples{{Entity: ref, Schema: fam.schema,
			Timestamps: ts[i : i+1], Values: vals[i*ch : (i+1)*ch]}})
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		c.samples += res.Accepted + res.Late
		// Offline: resample every sample so far over its whole grid.
		t0, nb, err := p.Grid(ts[:i+1])
		if err != nil {
			t.Fatal(err)
		}
		grid = append(grid[:0], make([]float64, nb*ch)...)
		counts = append(counts[:0], make([]uint32, nb)...)
		if err := p.Resample(t0, nb, ts[:i+1], vals[:(i+1)*ch], grid, counts); err != nil {
			t.Fatal(err)
		}
		first := max(nb-win-maxSlack, 0)
		off := engine.Series{Entity: ref.ID, Values: grid[first*ch:]}
		for k := first; k < nb; k++ {
			off.Timestamps = append(off.Timestamps, t0+int64(k)*p.StepSeconds)
		}
		online, err := store.SeriesFor(ctx, on.Store, on.Source, fam.name, ref)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if nb >= win {
			w := nb - win - first
			oerr := p.Window(online.Timestamps, online.Values, onRow)
			ferr := p.Window(off.Timestamps[w:], off.Values[w*ch:], offRow)
			if d := sameRow(onRow, oerr, offRow, ferr); d != "" {
				t.Fatalf("%s %s, sample %d (t=%d): %s", fam.name, ref.ID, i, ts[i], d)
			}
			if oerr == nil {
				c.rows[online.Timestamps[len(online.Timestamps)-1]] = append([]float32(nil), onRow...)
			}
			c.windows++
		}
		if answers {
			a, aerr := fam.online(ctx, on, ref)
			b, berr := fam.offline(ctx, eng, off)
			if d := sameAnswer(a, aerr, b, berr); d != "" {
				t.Fatalf("%s %s, sample %d (t=%d): %s", fam.name, ref.ID, i, ts[i], d)
			}
			c.answers++
			if aerr != nil {
				c.answerErrors++
			}
		}
	}
	return c
}

// TestGoldenReplay feeds whole synthetic traces (the default SyntheticConfig VMs: 7 days,
// jittered, dropped and repeated samples) sample by sample and requires every online
// window and every answer of every typed model to equal the offline batch path bit for
// bit. VM 0 answers through every model after every sample; the other VMs compare every
// PBA window.
func TestGoldenReplay(t *testing.T) {
	ctx := context.Background()
	eng := goldenEngine(t)
	trs := traces(t)
	for v, tr := range trs {
		for _, fam := range families {
			if v > 0 && fam.name != store.FamilyBandwidth {
				continue
			}
			t.Run(fmt.Sprintf("vm%d/%s", v, fam.name), func(t *testing.T) {
				on := store.NewOnline(ctx, store.New(store.Config{}), eng)
				vals := tr.values
				if fam.channel >= 0 {
					vals = tr.column(fam.channel)
				}
				c := replay(t, ctx, eng, on, fam, engine.EntityRef{Kind: engine.EntityVM, ID: fmt.Sprintf("vm%d", v)},
					tr.ts, vals, v == 0)
				if c.windows == 0 || (v == 0 && c.answers-c.answerErrors == 0) {
					t.Fatalf("compared nothing: %+v", c)
				}
				batched := trainingWindows(t, ctx, eng, fam.name, tr.ts, vals, c.rows)
				t.Logf("%d windows equal to fc_windows over the whole trace (the training path)", batched)
				t.Logf("%d samples, %d windows, %d answers (%d errors, the same on both paths) bit-identical", c.samples, c.windows, c.answers, c.answerErrors)
			})
		}
	}
}

// TestReplayDisorder replays three days of a VM whose collector reorders, repeats with
// other values and resends old samples: every online window and answer still equals the
// core's resampling of everything received (the late ones the store dropped could change
// no window).
func TestReplayDisorder(t *testing.T) {
	ctx := context.Background()
	eng := goldenEngine(t)
	tr := traces(t)[1]
	n := 3 * 288
	rng := rand.New(rand.NewPCG(7, 11))
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			ch := 6
			src := tr.values
			if fam.channel >= 0 {
				ch, src = 1, tr.column(fam.channel)
			}
			var ts []int64
			var vals []float64
			add := func(t int64, row []float64) { ts, vals = append(ts, t), append(vals, row...) }
			for i := 0; i < n; i++ {
				row := src[i*ch : (i+1)*ch]
				switch r := rng.IntN(100); {
				case r < 10 && i+1 < n: // the next sample first
					add(tr.ts[i+1], src[(i+1)*ch:(i+2)*ch])
					add(tr.ts[i], row)
					i++
				case r < 15: // repeated 30 s later with other values
					add(tr.ts[i], row)
					other := make([]float64, ch)
					for c := range other {
						other[c] = row[c] * 1.25
					}
					add(tr.ts[i]+30, other)
				case r < 18 && i > 100: // an old sample resent: 6 h (inside the anomaly span) or 2.1 days (outside every span)
					add(tr.ts[i], row)
					back := 72
					if r == 17 && i > 600 {
						back = 600
					}
					add(tr.ts[i-back], src[(i-back)*ch:(i-back+1)*ch])
				default:
					add(tr.ts[i], row)
				}
			}
			on := store.NewOnline(ctx, store.New(store.Config{}), eng)
			c := replay(t, ctx, eng, on, fam, engine.EntityRef{Kind: engine.EntityVM, ID: "vm1"}, ts, vals, true)
			st := on.Store.Stats()
			t.Logf("%d samples (%d dropped late), %d windows, %d answers (%d errors) bit-identical", c.samples, st.Late, c.windows, c.answers, c.answerErrors)
			if c.answers-c.answerErrors == 0 {
				t.Fatalf("compared no successful answer: %+v", c)
			}
		})
	}
}

// trainingWindows computes every window of the whole trace as training does (fc_resample
// once, split at missing bins, fc_windows with stride 1 over each complete run) and
// requires each to equal the online window that ended at the same bin (every bin a
// sample arrived in); returns how many.
func trainingWindows(t *testing.T, ctx context.Context, eng *runtime.Engine, family string, ts []int64, vals []float64,
	online map[int64][]float32) int {
	t.Helper()
	p, _, err := eng.WindowParams(ctx, family)
	if err != nil {
		t.Fatal(err)
	}
	ch, win, out := p.Schema.NumChannels(), p.WindowInputLen(), p.WindowOutputLen()
	t0, nb, err := p.Grid(ts)
	if err != nil {
		t.Fatal(err)
	}
	grid := make([]float64, nb*ch)
	if err := p.Resample(t0, nb, ts, vals, grid, make([]uint32, nb)); err != nil {
		t.Fatal(err)
	}
	gts := make([]int64, nb)
	for k := range gts {
		gts[k] = t0 + int64(k)*p.StepSeconds
	}
	n := 0
	for a := 0; a < nb; {
		b := a
		for b < nb && !math.IsNaN(grid[b*ch]) {
			b++
		}
		if count := p.WindowsCount(b-a, 1); count > 0 {
			rows := make([]float32, count*out)
			if _, err := p.Windows(gts[a:b], grid[a*ch:b*ch], 1, rows); err != nil {
				t.Fatal(err)
			}
			for w := range count {
				end := gts[a+w+win-1]
				row, ok := online[end]
				if !ok {
					continue // no sample arrived in that bin (a dropped one, filled): no answer ended there
				}
				if d := sameRow(row, nil, rows[w*out:(w+1)*out], nil); d != "" {
					t.Fatalf("window ending at %d: online vs fc_windows: %s", end, d)
				}
				n++
			}
		}
		a = b + 1
	}
	if n == 0 {
		t.Fatal("no window compared with fc_windows")
	}
	return n
}
