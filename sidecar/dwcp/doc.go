// Package dwcp adapts the dwcp-ml models to the shapes the DWCP Go code (NovaCron's
// backend/core) already declares, so a DWCP service switches to the trained models with a
// few lines. It mirrors DWCP's types; it does not import the DWCP module.
//
//   - Detector: Detect(ctx, *MetricVector) (*Anomaly, error) over the anomaly model.
//   - Scaler: Predict(current *MetricsData, horizonMinutes int) (*ResourcePrediction, error)
//     over the scaling model.
//   - Placer: PlaceVM(ctx, vm, c) (*Node, error) and PlaceVMBatch over the placement model.
//   - BandwidthPredictor: Predict(history []NetworkSample), AddSample, PredictBandwidth(ctx),
//     UpdateActual over the link model (docs/link-model.md).
//   - Partitioner: AddSample per stream, PartitionTask(ctx, *Task) (*TaskPartitionDecision,
//     error) and ReportOutcome over the engine's PartitionTask (docs/partition.md).
//
// Every adapter runs over an interface that both engines implement: the in-process online
// store over the engine (*store.Online over a *runtime.Engine, cgo) and the pure-Go
// *client.Client of a dwcp-sidecar; pick one at start-up and get the same answers, bit for
// bit, either way. The package is pure Go (builds with CGO_ENABLED=0).
//
// DWCP hands over one sample at a time, the models read windows. The adapters keep no
// history: each sample goes to the engine's online store (Observe, see OnlineStore), and
// each answer reads back the window the model needs (Windows), resampled by the feature
// core, with its last grid bin and how many of its bins are held; the typed call runs on
// that window. Field mappings, units, the store entities of each adapter and the formulas
// of Severity, Confidence and TrendDirection are in docs/dwcp-adapters.md and on each type.
package dwcp
