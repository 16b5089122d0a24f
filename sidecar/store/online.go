package store

import (
	"context"
	"sync"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Model families the entity calls run (the manifest's family field).
const (
	FamilyBandwidth = "pba"
	FamilyAnomaly   = "anomaly"
	FamilyCapacity  = "scaling"
	FamilyPlacement = "itp"
	FamilyLink      = "link"
)

// HostFillLimit is the fill limit of host usage histories: the placement model's
// parameters carry none, so hosts get the core's default (2 bins, 10 minutes at 300 s).
var HostFillLimit = featurecore.DefaultParams(featurecore.SchemaMetric).FillLimit

// Source is what the store needs of an engine besides engine.Engine: the window
// parameters of a family's model. *runtime.Engine is one.
type Source interface {
	engine.Engine
	WindowParams(ctx context.Context, family string) (featurecore.Params, engine.ModelInfo, error)
}

// NeedsOf returns what src's models read from the store, for SetNeeds: each typed
// family's window on its schema and the placement history on schema host. Families the
// bundle lacks are skipped.
func NeedsOf(ctx context.Context, src Source) []Need {
	var needs []Need
	for _, f := range []string{FamilyBandwidth, FamilyAnomaly, FamilyCapacity, FamilyLink} {
		if p, info, err := src.WindowParams(ctx, f); err == nil {
			needs = append(needs, NeedOf(p.Schema.Name(), info.WindowSamples, p.StepSeconds, p.FillLimit))
		}
	}
	if _, info, err := src.WindowParams(ctx, FamilyPlacement); err == nil {
		needs = append(needs, NeedOf(engine.SchemaHost, info.WindowSamples, info.StepSeconds, HostFillLimit))
	}
	return needs
}

// Online answers from a Store with an in-process engine: engine.Online and
// engine.Windower for code that links the runtime. Every answer is the engine's typed call
// on the entity's held samples resampled by the feature core (Store.Series, Store.Hosts,
// Store.Window). The engine's own calls (Versions, the typed calls on a Series) pass
// through, so an Online serves the sidecar/dwcp adapters as a *client.Client does.
type Online struct {
	Store *Store
	Source
}

var (
	_ engine.Online    = (*Online)(nil)
	_ engine.Windower  = (*Online)(nil)
	_ engine.Forgetter = (*Online)(nil)
	_ engine.Engine    = (*Online)(nil)
)

// Windows returns the windows of req (engine.Windower) from the store.
func (o *Online) Windows(ctx context.Context, req engine.WindowRequest) (engine.WindowsResult, error) {
	return WindowsFor(ctx, o.Store, o.Source, req)
}

// Forget drops the entities' buffers from the store (engine.Forgetter).
func (o *Online) Forget(ctx context.Context, entities []engine.EntityRef) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, engine.Errorf(engine.CodeCanceled, "forget", "", "%w", err)
	}
	return o.Store.Forget(entities), nil
}

// PartitionTask passes to the engine's (engine.Partitioner); an engine without it is
// CodeUnavailable.
func (o *Online) PartitionTask(ctx context.Context, req engine.PartitionRequest) (engine.TaskPartition, error) {
	p, ok := o.Source.(engine.Partitioner)
	if !ok {
		return engine.TaskPartition{}, engine.Errorf(engine.CodeUnavailable, "partition task", "", "the engine does not partition tasks")
	}
	return p.PartitionTask(ctx, req)
}

// ReportOutcome passes to the engine's (engine.Partitioner).
func (o *Online) ReportOutcome(ctx context.Context, taskID, streamID string, seconds float64) error {
	p, ok := o.Source.(engine.Partitioner)
	if !ok {
		return engine.Errorf(engine.CodeUnavailable, "report outcome", "", "the engine does not partition tasks")
	}
	return p.ReportOutcome(ctx, taskID, streamID, seconds)
}

// NewOnline returns an Online over st and src and sets st's needs from src's models (call
// Refresh after a reload).
func NewOnline(ctx context.Context, st *Store, src Source) *Online {
	o := &Online{Store: st, Source: src}
	o.Refresh(ctx)
	return o
}

// Refresh sets the store's needs from the models src serves now.
func (o *Online) Refresh(ctx context.Context) { o.Store.SetNeeds(NeedsOf(ctx, o.Source)) }

// Observe adds samples to the store.
func (o *Online) Observe(ctx context.Context, batch []engine.Samples) (engine.ObserveResult, error) {
	return o.Store.Observe(ctx, batch)
}

// SeriesFor is the series a typed call of family answers e from: the entity's samples
// of the family model's schema, resampled onto its grid, its last WindowSamples bins.
func SeriesFor(ctx context.Context, st *Store, src Source, family string, e engine.EntityRef) (engine.Series, error) {
	p, info, err := src.WindowParams(ctx, family)
	if err != nil {
		return engine.Series{}, err
	}
	return st.Series(e, p, info.WindowSamples)
}

// ForecastBandwidthEntity forecasts from the entity's held samples (schema of the PBA model).
func (o *Online) ForecastBandwidthEntity(ctx context.Context, e engine.EntityRef) (engine.BandwidthForecast, error) {
	s, err := SeriesFor(ctx, o.Store, o.Source, FamilyBandwidth, e)
	if err != nil {
		return engine.BandwidthForecast{}, err
	}
	return o.Source.ForecastBandwidth(ctx, s)
}

// AnomalyScoreEntity scores the entity's held samples (schema of the anomaly model).
func (o *Online) AnomalyScoreEntity(ctx context.Context, e engine.EntityRef) (engine.AnomalyResult, error) {
	s, err := SeriesFor(ctx, o.Store, o.Source, FamilyAnomaly, e)
	if err != nil {
		return engine.AnomalyResult{}, err
	}
	return o.Source.AnomalyScore(ctx, s)
}

// RecommendCapacityEntity sizes from the entity's held samples (schema of the scaling model).
func (o *Online) RecommendCapacityEntity(ctx context.Context, e engine.EntityRef) (engine.CapacityRecommendation, error) {
	s, err := SeriesFor(ctx, o.Store, o.Source, FamilyCapacity, e)
	if err != nil {
		return engine.CapacityRecommendation{}, err
	}
	return o.Source.RecommendCapacity(ctx, s)
}

// ForecastLinkEntity forecasts a link from its held samples (schema of the link model).
func (o *Online) ForecastLinkEntity(ctx context.Context, e engine.EntityRef) (engine.LinkForecast, error) {
	s, err := SeriesFor(ctx, o.Store, o.Source, FamilyLink, e)
	if err != nil {
		return engine.LinkForecast{}, err
	}
	return o.Source.ForecastLink(ctx, s)
}

var hostsPool = sync.Pool{New: func() any { return new([]engine.HostState) }}

// PlacementFor builds the full PlacementRequest of a held one from st (what PlaceVM on
// held state runs): the hosts' state and usage from Store.Hosts on the placement model's
// history. dst, if not nil, is reused for the hosts.
func PlacementFor(ctx context.Context, st *Store, src Source, req engine.HeldPlacementRequest, dst []engine.HostState) (engine.PlacementRequest, error) {
	_, info, err := src.WindowParams(ctx, FamilyPlacement)
	if err != nil {
		return engine.PlacementRequest{}, err
	}
	if len(req.HostIDs) == 0 {
		return engine.PlacementRequest{}, engine.Errorf(engine.CodeInvalidInput, "place vm", info.Name, "no host ids")
	}
	hosts, err := st.Hosts(req.HostIDs, info.WindowSamples, info.StepSeconds, HostFillLimit, dst)
	if err != nil {
		return engine.PlacementRequest{}, err
	}
	return engine.PlacementRequest{VM: req.VM, Hosts: hosts, Overcommit: req.Overcommit, Domains: req.Domains}, nil
}

// PlaceVMHeld places a VM on the hosts' held state.
func (o *Online) PlaceVMHeld(ctx context.Context, req engine.HeldPlacementRequest) (engine.Placement, error) {
	hp := hostsPool.Get().(*[]engine.HostState)
	defer hostsPool.Put(hp)
	full, err := PlacementFor(ctx, o.Store, o.Source, req, *hp)
	if err != nil {
		return engine.Placement{}, err
	}
	*hp = full.Hosts[:0]
	return o.Source.PlaceVM(ctx, full)
}
