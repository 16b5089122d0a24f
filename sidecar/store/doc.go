// Package store is the sidecar's online feature store: per-entity ring buffers of raw
// samples fed by Observe, from which the typed calls and PlaceVM answer by entity id.
//
// An entity (a VM, host or link) holds, per schema, its raw samples exactly as they
// arrived (timestamps and channel values, in arrival order). An answer hands them to the
// feature core's resampler (fc_resample) on the served model's grid and passes the last
// WindowSamples bins to the engine, so out-of-order, duplicate and late samples get the
// core's policy and no feature is computed in Go: the answer is bit for bit the one the
// engine gives for the full series resampled by the core (the golden replay test checks
// it sample by sample).
//
// What is kept: the samples of the last Need.Bins bins (the longest window of the schema
// plus its fill limit, the bins fc_resample may carry forward into the window) before the
// entity's newest bin. An older sample can change no answer and is dropped on arrival and
// counted as late. Memory is bounded: at most Config.MaxSamples samples per entity and
// Config.MaxEntities entities (a new entity beyond it is refused with CodeStoreFull, gRPC
// ResourceExhausted), and entities not observed for Config.TTL are evicted.
//
// The store snapshots to a versioned file (WriteSnapshot, atomic: temp file + rename)
// and restores from it (ReadSnapshot); a corrupt or foreign snapshot is refused whole
// with an error matching ErrSnapshot, leaving the store as it was. docs/online-store.md
// is the user's guide.
package store
