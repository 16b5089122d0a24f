package rollout

import (
	"fmt"
	"hash/fnv"
)

// Slot names a place a bundle serves from.
type Slot string

// The slots.
const (
	Champion Slot = "champion" // answers every call the canary does not
	Canary   Slot = "canary"   // answers WeightBP/10000 of the entities
	Shadow   Slot = "shadow"   // answers nothing; computed off the request path and compared
	Previous Slot = "previous" // the champion before the last completed rollout (manual rollback)
)

// Buckets is the number of routing buckets: weights are in basis points.
const Buckets = 10000

// Bucket is the routing bucket of a non-empty entity key: FNV-1a 64 of its bytes mod 10000.
// It is stable across processes, versions and machines, so an entity keeps its slot.
func Bucket(entity string) int {
	h := fnv.New64a()
	h.Write([]byte(entity))
	return int(h.Sum64() % Buckets)
}

// Router routes entities between the champion and the canary. The zero value sends
// everything to the champion. It is a value: the server swaps a whole new one in.
type Router struct {
	WeightBP int // canary weight in basis points, 0..10000
}

// NewRouter returns a Router with the canary weight weightBP, which must be 0..10000.
func NewRouter(weightBP int) (Router, error) {
	if weightBP < 0 || weightBP > Buckets {
		return Router{}, fmt.Errorf("canary weight %d basis points: must be 0 to %d", weightBP, Buckets)
	}
	return Router{WeightBP: weightBP}, nil
}

// Route returns the slot that answers entity: Canary when its bucket is below the weight,
// else Champion; an empty entity always goes to the champion.
func (r Router) Route(entity string) Slot {
	if entity == "" || r.WeightBP <= 0 {
		return Champion
	}
	if Bucket(entity) < r.WeightBP {
		return Canary
	}
	return Champion
}

func (s Slot) String() string { return string(s) }
