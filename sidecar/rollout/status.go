package rollout

import "time"

// Status is what the sidecar serves: its slots, the canary weight and the Controller's
// state (the rollout part of the Versions answer).
type Status struct {
	Slots    []SlotInfo // champion first, then canary, shadow, previous when set
	WeightBP int        // canary weight, basis points
	State    State
}

// SlotInfo is the bundle of one slot.
type SlotInfo struct {
	Slot      Slot
	Bundle    string // bundle_version
	BundleDir string
	Signed    bool // model.sig verified with a trusted key
	LoadedAt  time.Time
}
