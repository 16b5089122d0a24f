package dwcp

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// OnlineStore is where every adapter keeps its histories: the engine's online feature
// store. Observe hands it each sample as DWCP reports it; Windows reads back the window a
// model needs, resampled by the feature core (binning, late, duplicate and out-of-order
// samples, the fill limit: fc_resample's rule, the same bits as training), with how many
// of its bins are held; Forget drops the samples of what is gone. In-process that is a
// *store.Online over the *runtime.Engine, over a dwcp-sidecar the *client.Client; both
// implement the adapters' interfaces.
type OnlineStore interface {
	Versioner
	Observe(ctx context.Context, batch []engine.Samples) (engine.ObserveResult, error)
	engine.Windower
	engine.Forgetter
}

// forget drops entities from the store.
func forget(ctx context.Context, st OnlineStore, op string, entities ...engine.EntityRef) error {
	if len(entities) == 0 {
		return nil
	}
	if _, err := st.Forget(ctx, entities); err != nil {
		return engineErr(op, err)
	}
	return nil
}

// Schemas of the samples the adapters observe (the feature core's, and the store's host
// schema for placement histories).
const (
	schemaMetric = "metric"
	schemaLink   = "link"
)

// observe hands one sample of each entity (values row i for entities[i], all at t) to
// the store and maps what it did not hold to an *InputError of field.
func observe(ctx context.Context, st OnlineStore, op, field string, t time.Time, schema string,
	entities []engine.EntityRef, values ...[]float64) error {
	batch := samples(t, schema, entities, values)
	res, err := st.Observe(ctx, batch)
	if err != nil {
		return engineErr(op, err)
	}
	return held(op, field, t, res, len(batch))
}

// observeWindows is observe and windows in one call (one round trip to a sidecar): the
// samples are held, then the windows are cut, values included.
func observeWindows(ctx context.Context, st OnlineStore, op, field string, t time.Time, schema string,
	entities []engine.EntityRef, values [][]float64, family, route string) ([]engine.Window, error) {
	batch := samples(t, schema, entities, values)
	res, err := st.Windows(ctx, engine.WindowRequest{Family: family, Entities: entities, Values: true, Route: route, Observe: batch})
	if err != nil {
		return nil, engineErr(op, err)
	}
	if err := held(op, field, t, res.Observed, len(batch)); err != nil {
		return nil, err
	}
	return checkWindows(op, res.Windows, len(entities))
}

// samples is one sample of each entity at t, values row i for entities[i].
func samples(t time.Time, schema string, entities []engine.EntityRef, values [][]float64) []engine.Samples {
	batch := make([]engine.Samples, len(entities))
	for i, e := range entities {
		batch[i] = engine.Samples{Entity: e, Schema: schema, Timestamps: []int64{t.Unix()}, Values: values[i]}
	}
	return batch
}

// held maps what the store did not hold of n samples to an *InputError of field.
func held(op, field string, t time.Time, res engine.ObserveResult, n int) error {
	ts := t.UTC().Format(time.RFC3339)
	switch {
	case res.Accepted == n:
		return nil
	case res.Late > 0:
		return inputErr(op, field+".Timestamp", ts, ErrTimeOrder)
	case res.Invalid > 0:
		return inputErr(op, field+".Timestamp", ts, ErrTimeRange)
	case res.EntityFull > 0:
		return inputErr(op, field, ts, ErrEntityFull)
	}
	return fmt.Errorf("dwcp: %s: the store held %d of %d samples: %w", op, res.Accepted, n, engine.ErrInternal)
}

// windows reads the windows of family's model for entities from the store, with their
// bins when values.
func windows(ctx context.Context, st OnlineStore, op, family, route string, values bool, entities ...engine.EntityRef) ([]engine.Window, error) {
	res, err := st.Windows(ctx, engine.WindowRequest{Family: family, Entities: entities, Values: values, Route: route})
	if err != nil {
		return nil, engineErr(op, err)
	}
	return checkWindows(op, res.Windows, len(entities))
}

// checkWindows refuses an answer without one window per entity.
func checkWindows(op string, ws []engine.Window, n int) ([]engine.Window, error) {
	if len(ws) != n {
		return nil, fmt.Errorf("dwcp: %s: %d windows for %d entities: %w", op, len(ws), n, engine.ErrInternal)
	}
	return ws, nil
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
