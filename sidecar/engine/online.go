package engine

import (
	"context"
	"strconv"
)

// EntityKind is what an observed entity is; its samples live under (kind, id, schema).
type EntityKind int

const (
	EntityVM   EntityKind = iota + 1 // a virtual machine
	EntityHost                       // a hypervisor host (placement state)
	EntityLink                       // a network link between two nodes
)

var entityKindNames = [...]string{"", "vm", "host", "link"}

func (k EntityKind) String() string {
	if k <= 0 || int(k) >= len(entityKindNames) {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return entityKindNames[k]
}

// ParseEntityKind reads "vm", "host" or "link".
func ParseEntityKind(s string) (EntityKind, bool) {
	for k, name := range entityKindNames {
		if k > 0 && name == s {
			return EntityKind(k), true
		}
	}
	return 0, false
}

// EntityRef names one observed entity.
type EntityRef struct {
	Kind EntityKind
	ID   string
}

// Schemas of observed samples: the feature core's ("vm", "link", "metric") and the
// placement usage of a host, SchemaHost, whose channels are ResourceNames.
const SchemaHost = "host"

// Samples is one entity's raw samples as a collector reports them: Unix-second
// timestamps in any order (duplicates allowed) and per timestamp one value per channel of
// Schema, row-major. Host, for an EntityHost, replaces the host's placement state (its
// usage history comes from its SchemaHost samples); nil keeps the last one.
type Samples struct {
	Entity     EntityRef
	Schema     string
	Timestamps []int64
	Values     []float64
	Host       *HostInfo
}

// HostInfo is a host's placement state other than its usage history: HostState without
// ID and Usage.
type HostInfo struct {
	Domain      string
	Capacity    Resources
	Allocated   Resources
	VMCount     int
	NICMbps     float64
	FailureRate float64
	Cost        float64
	Maintenance bool
}

// ObserveResult counts what an Observe call did with its samples.
type ObserveResult struct {
	Accepted int // held in the entity's buffer
	// Late: older than the oldest bin any served window of the schema reads (it could
	// change no answer), dropped.
	Late int
	// Invalid: NaN, ±Inf, negative value or a timestamp outside 1970 .. 9999, dropped (the
	// feature core would refuse the window holding it).
	Invalid int
	// EntityFull: the entity already holds its maximum of samples inside the window span
	// (a collector reporting far faster than the step), dropped.
	EntityFull int
	HostInfos  int // host states replaced
	Created    int // entities new to the store
}

// Add sums two results.
func (r *ObserveResult) Add(o ObserveResult) {
	r.Accepted += o.Accepted
	r.Late += o.Late
	r.Invalid += o.Invalid
	r.EntityFull += o.EntityFull
	r.HostInfos += o.HostInfos
	r.Created += o.Created
}

// HeldPlacementRequest is a PlacementRequest whose hosts are named, not carried: their
// state is what the sidecar holds from Observe (HostInfo and the usage history of the
// last H bins ending at the newest bin observed among them).
type HeldPlacementRequest struct {
	VM         VMRequest
	HostIDs    []string // every host of the cluster, in cluster order
	Overcommit Resources
	Domains    int
}

// Online is the online feature store's API: entities are observed sample by sample, and
// the typed calls and PlaceVM answer from what is held. sidecar/store implements it
// in-process; sidecar/client over the sidecar. The answers equal, to the bit, the Engine's
// typed calls on the same samples resampled by the feature core.
type Online interface {
	Observe(ctx context.Context, batch []Samples) (ObserveResult, error)
	ForecastBandwidthEntity(ctx context.Context, e EntityRef) (BandwidthForecast, error)
	AnomalyScoreEntity(ctx context.Context, e EntityRef) (AnomalyResult, error)
	RecommendCapacityEntity(ctx context.Context, e EntityRef) (CapacityRecommendation, error)
	ForecastLinkEntity(ctx context.Context, e EntityRef) (LinkForecast, error)
	PlaceVMHeld(ctx context.Context, req HeldPlacementRequest) (Placement, error)
}
