// Package monitor scores served models online: it joins reported actuals to the
// predictions that were served for them, keeps rolling accuracy per model, bundle version
// and slot, keeps live drift windows of what each slot's model saw, and exports both to
// Prometheus. The sidecar's ReportActual RPC and its champion, canary and shadow slots
// call it; docs/online-accuracy.md has the definitions, bounds and measured costs.
//
// # Joining
//
// Served(k, kind, entity, ts, p) records what slot k served to entity for target time ts
// (the time the actual will describe, e.g. the end of a 15-minute forecast horizon, in
// the caller's unit). Actual(kind, entity, ts, value) joins value to every slot's pending
// prediction for exactly (kind, entity, ts) and returns how many it joined; each pending
// prediction is joined once and then leaves the pending set. A second Served by the same
// slot for the same target replaces the first. Pending predictions are bounded: at most
// Config.MaxPending over all keys (the oldest evicted) and none older than
// Config.PendingTTL; both evictions are counted. Errors are *ActualError matching
// ErrInvalidActual (unknown kind, empty entity, NaN or ±Inf, negative demand, a label
// other than 0 or 1) or ErrNoPrediction.
//
// # Accuracy
//
// Accuracy(k) reads the pairs joined in the last Config.Window (by join time, at most
// Config.MaxPairs per key, the oldest dropped and counted):
//
//	Forecast  WAPE      = sum|actual - point| / sum|actual|
//	          Coverage  = share of pairs with lo <= actual <= hi
//	Capacity  Shortfall = sum(max(0, actual - capacity)) / sum(actual)   (0 without demand)
//	Flag      Precision = share of served flags labelled 1
//	          Recall    = share of pairs labelled 1 that were flagged
//
// A metric with nothing to read is NaN (and absent from the scrape).
//
// # Drift
//
// The reference is given per key by SetReference(k, ref), normally the bundle's
// b.Drifts[k.Model] (sidecar/bundle, docs/drift-report.md), when the slot starts serving
// that bundle; Forget(k) or SetReference(k, nil) drops it when the slot stops. The rows
// come from the wirer after each model call: ObserveInputTensor(k, input, rows) with the
// float32 tensor the model took (of each row the newest step, the columns the reference
// holds) and ObserveOutputTensor(k, output, rows) with what it returned; ObserveInputs and
// ObserveOutputs take rows already cut. Each binned column keeps its last
// Config.DriftLive finite values (default 4096). Drift(k) bins them into the reference's
// edges and computes PSI and binned KS with the feature core (sidecar/featurecore), so
// the live numbers equal the offline drift report's for the same values, bit for bit;
// no statistic is computed in Go. A result is cached until the window changes.
//
// # Wiring
//
//	m, _ := monitor.New(monitor.Config{})
//	registry.MustRegister(m.Collector())
//	k := monitor.Key{Model: "pba", Version: b.Manifest.BundleVersion, Slot: "champion"}
//	_ = m.SetReference(k, b.Drifts["pba"])               // slot starts serving bundle b
//	// after each call of the model:
//	_ = m.ObserveInputTensor(k, input, rows)
//	m.Served(k, monitor.Forecast, vmID, targetTS, monitor.Prediction{Point: p50, Lo: p10, Hi: p90})
//	// ReportActual(entity, timestamp, value):
//	n, err := m.Actual(monitor.Forecast, entity, timestamp, value)
//	// slot removed or bundle unloaded:
//	m.Forget(k)
//
// Keys are chosen by the wirer, never by a client, so the label set stays models ×
// versions × slots; entities are not labels.
//
// Every method is safe for concurrent use. One mutex guards the pending set and the
// pair windows (Served and Actual are O(1): 0.2 to 0.4 µs for both, no allocation);
// each drift window has its own. The package needs cgo (it links the feature core).
package monitor
