package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Window is the window of (ref, p.Schema) the typed calls read, with what it holds: the
// feature core resamples the entity's samples onto p's grid ending at the bin of its
// newest sample (as Series does) and Have counts the newest bins the core did not leave
// missing, at most window. With values, Series holds those Have bins. An entity without
// samples has Have 0 and a zero End.
func (s *Store) Window(ref engine.EntityRef, p featurecore.Params, window int, values bool) (engine.Window, error) {
	const op = "windows"
	k := key{kind: ref.Kind, id: ref.ID, schema: p.Schema.Name()}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[k]
	if e == nil || e.n() == 0 {
		return engine.Window{Entity: ref, Need: window}, nil // nothing held: nothing of the window
	}
	end, t0, out, err := e.resample(op, k, p, window)
	if err != nil {
		return engine.Window{}, err
	}
	return cut(ref, end, t0, p.StepSeconds, window, e.ch, out, values), nil
}

// HostWindow is the placement history of ref (schema host: a host's usage or a VM's
// demand) as Hosts resamples it, one resource at a time on schema metric's rule with
// fill limit fill, but ending at the entity's own newest bin: the h bins the placement
// model would read of it, and how many of them the core did not leave missing.
func (s *Store) HostWindow(ref engine.EntityRef, h int, step int64, fill int, values bool) (engine.Window, error) {
	const op = "windows"
	k := key{kind: ref.Kind, id: ref.ID, schema: engine.SchemaHost}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[k]
	if e == nil || e.n() == 0 {
		return engine.Window{Entity: ref, Need: h}, nil // nothing held: nothing of the window
	}
	if step <= 0 || h <= 0 {
		return engine.Window{}, engine.Errorf(engine.CodeInternal, op, "", "grid of %d s and history %d", step, h)
	}
	p := featurecore.DefaultParams(featurecore.SchemaMetric)
	p.StepSeconds, p.FillLimit = step, fill
	end := e.maxTs - e.maxTs%step
	t0 := max(end-int64(h-1+fill)*step, e.minTs-e.minTs%step)
	nb := int((end-t0)/step) + 1
	col, one := make([]float64, e.n()), make([]float64, nb)
	counts := make([]uint32, nb)
	out := make([]float64, nb*e.ch)
	for r := range e.ch {
		for j := e.start; j < e.end; j++ {
			col[j-e.start] = e.vals[j*e.ch+r]
		}
		if err := p.Resample(t0, nb, e.ts[e.start:e.end], col, one, counts); err != nil {
			return engine.Window{}, engine.Errorf(engine.CodeInternal, op, "", "%s %s: %w", k, engine.ResourceNames[r], err)
		}
		for j, v := range one {
			out[j*e.ch+r] = v
		}
	}
	return cut(ref, end, t0, step, h, e.ch, out, values), nil
}

// cut is the window of the last want bins of a resampled grid of bins from t0: Have is
// the count of the newest bins without a missing (NaN) value; Series only when values
// and Have > 0 (as the wire gives it).
func cut(ref engine.EntityRef, end, t0, step int64, want, ch int, out []float64, values bool) engine.Window {
	nb := len(out) / ch
	have := 0
	for have < min(want, nb) {
		row := out[(nb-1-have)*ch : (nb-have)*ch]
		missing := false
		for _, v := range row {
			missing = missing || math.IsNaN(v)
		}
		if missing {
			break
		}
		have++
	}
	w := engine.Window{Entity: ref, End: time.Unix(end, 0).UTC(), Have: have, Need: want}
	if values && have > 0 {
		first := nb - have
		ts := make([]int64, have)
		for i := range ts {
			ts[i] = t0 + int64(first+i)*step
		}
		w.Series = engine.Series{Timestamps: ts, Values: out[first*ch:], Entity: ref.ID}
	}
	return w
}

// WindowOf is the window of the held entity e that family's model of src reads.
func WindowOf(ctx context.Context, st *Store, src Source, family string, e engine.EntityRef, values bool) (engine.Window, error) {
	p, info, err := src.WindowParams(ctx, family)
	if err != nil {
		return engine.Window{}, err
	}
	if family == FamilyPlacement {
		return st.HostWindow(e, info.WindowSamples, info.StepSeconds, HostFillLimit, values)
	}
	return st.Window(e, p, info.WindowSamples, values)
}

// RawWindowOf is the window of raw samples given whole: they go into an empty store with
// st's needs as Observe would put them (the same validity and lateness rules), and the
// window is cut from it; nothing is held.
func RawWindowOf(ctx context.Context, st *Store, src Source, family string, b engine.Samples, values bool) (engine.Window, error) {
	tmp := New(Config{MaxEntities: 1, MaxSamples: st.cfg.MaxSamples})
	tmp.needs.Store(st.needs.Load())
	if _, err := tmp.Observe(ctx, []engine.Samples{b}); err != nil {
		return engine.Window{}, err
	}
	return WindowOf(ctx, tmp, src, family, b.Entity, values)
}

// WindowsFor answers req from st with src's models (engine.Windower): req.Observe into
// st, then every entity's window, then every raw batch's. An error names the entity or
// batch it is about.
func WindowsFor(ctx context.Context, st *Store, src Source, req engine.WindowRequest) (engine.WindowsResult, error) {
	var res engine.WindowsResult
	if len(req.Observe) > 0 {
		var err error
		if res.Observed, err = st.Observe(ctx, req.Observe); err != nil {
			return res, err
		}
	}
	out := make([]engine.Window, 0, len(req.Entities)+len(req.Raw))
	for i, e := range req.Entities {
		w, err := WindowOf(ctx, st, src, req.Family, e, req.Values)
		if err != nil {
			return res, ItemErr(err, len(req.Entities)+len(req.Raw), "entity", i)
		}
		out = append(out, w)
	}
	for i, b := range req.Raw {
		w, err := RawWindowOf(ctx, st, src, req.Family, b, req.Values)
		if err != nil {
			return res, ItemErr(err, len(req.Entities)+len(req.Raw), "raw batch", i)
		}
		out = append(out, w)
	}
	res.Windows = out
	return res, nil
}

// ItemErr prefixes an engine error's message with the item it is about, in a request of
// more than one.
func ItemErr(err error, n int, what string, i int) error {
	e, ok := err.(*engine.Error)
	if !ok || n < 2 {
		return err
	}
	c := *e
	c.Msg = fmt.Sprintf("%s %d: %s", what, i, e.Msg)
	return &c
}
