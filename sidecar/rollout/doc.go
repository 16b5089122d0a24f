// Package rollout decides which bundle answers a call while a new bundle is being tried:
// the Router (champion, canary and shadow slots), the step Controller (10 -> 50 -> 100 %
// with automatic rollback) and the windowed per-slot Stats it judges by. It holds no
// engines: sidecar/server owns them and applies the Controller's transitions.
//
// Slots. The champion answers every call that does not go to the canary. The canary
// answers the share WeightBP/10000 of entities. The shadow answers nothing: the server runs
// it off the request path and only records and compares its answers.
//
// Routing is sticky per entity: Bucket(entity) = FNV-1a 64 of the entity key's bytes,
// mod 10000; an entity goes to the canary when its bucket is below the canary weight in
// basis points. The same entity always gets the same bucket, and raising the weight only
// adds buckets, so an entity on the canary at 10 % stays on it at 50 %. An empty entity
// key has no bucket and goes to the champion (a caller that names no entity is never
// part of the experiment).
//
// Steps. A canary starts at the first step of Policy.Steps (default 10, 50, 100 %) or at
// the weight its admin gave. Every Policy.Interval the Controller judges the last
// Policy.Window of both slots (Policy.Judge): the canary is rolled back when its error
// rate, p99 latency, drift (largest PSI of its inputs) or online accuracy (any loss, e.g.
// WAPE) is worse than the champion's by more than the Policy's bound. When it has held
// for Policy.Hold at a step with at least Policy.MinRequests calls in the window it is
// promoted to the next step; reaching 100 % completes the rollout: the canary becomes the
// champion (the server keeps the old champion as "previous" for a manual rollback).
// Every transition (start, promote, rollback, complete, withdraw) goes to the
// Controller's log (the last MaxTransitions) and to its OnTransition callback.
//
// Drift and accuracy come from a Signals (in the sidecar: sidecar/monitor, read per slot),
// so the Controller is tested with a fake; the clock is injected (Config.Now).
package rollout
