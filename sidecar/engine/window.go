package engine

import (
	"context"
	"time"
)

// WindowRequest asks for the windows a family's model reads (engine.Windower): of
// entities the online store holds (Entities) and of raw samples given whole and not held
// (Raw: each batch is resampled as if observed into an empty store). Family is the
// manifest family ("pba", "anomaly", "scaling", "link" on their schemas; "itp" on schema
// host, the placement history). Values asks for the windows' bins; without it only End,
// Have and Need come back. Route names the entity the sidecar routes the request as
// (whose slot's model sets the grid); "" = each entity's own id (Raw: the champion).
// Observe, if any, goes into the store first, exactly as an Observe call would put it:
// one round trip for an adapter that hands over a sample and reads its window back.
type WindowRequest struct {
	Family   string
	Entities []EntityRef
	Raw      []Samples
	Values   bool
	Route    string
	Observe  []Samples
}

// WindowsResult is a Windows answer: the windows, Entities' then Raw's, and what the
// store did with the request's Observe samples.
type WindowsResult struct {
	Windows  []Window
	Observed ObserveResult
}

// Window is one entity's window on a model's grid as the feature core resampled it
// (fc_resample: binning, out-of-order and duplicate samples, fill limit) from the raw
// samples: the bins the model would read now.
//
// Have counts the window's newest bins without a gap, at most Need: bins the core left
// missing (a gap longer than the fill limit, or before the entity's first sample) end the
// count. The window is ready when Have = Need; Series then is exactly the series the
// typed call by entity reads. Series (with Values) holds those Have bins, oldest first,
// row-major on the schema's channels, Entity the entity's id.
type Window struct {
	Entity EntityRef
	End    time.Time // the grid bin of the newest sample: the window's last bin (UTC)
	Have   int
	Need   int // the model's WindowSamples
	Series Series
}

// Ready reports whether the window holds all the bins the model reads.
func (w Window) Ready() bool { return w.Need > 0 && w.Have >= w.Need }

// Windower observes the request's Observe samples, then returns the windows of
// WindowRequest, in order: Entities' then Raw's. An entity without samples (never
// observed, or evicted) has Have 0 and a zero End; a malformed raw or Observe batch is
// CodeInvalidInput and a full store CodeStoreFull, as Observe refuses them (the Observe
// batches before it stay applied). sidecar/store implements it in-process, sidecar/client
// over the sidecar (RPC Windows).
type Windower interface {
	Windows(ctx context.Context, req WindowRequest) (WindowsResult, error)
}

// Forgetter drops entities from the online store: every schema's samples of each (kind,
// id) and a host's state, as if evicted. It returns how many buffers went; an entity the
// store does not hold is no error. For the adapters' Forget: a target or stream that is
// gone and may come back must not resume its old history.
type Forgetter interface {
	Forget(ctx context.Context, entities []EntityRef) (int, error)
}
