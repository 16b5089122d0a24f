package engine

import (
	"context"
	"strconv"
	"time"
)

// ForecastSource is where PartitionTask takes each stream's bandwidth forecast from.
type ForecastSource int

const (
	// ForecastLastValue (the default): the stream's last observed bandwidth_mbps sample.
	// The partition evaluation (docs/partition.md) found it finishes tasks sooner than the
	// link model's forecast in every cell, so it is what an unset source means.
	ForecastLastValue ForecastSource = iota
	// ForecastLinkModel: the bundle's link model point forecast (ForecastLink's PointMbps).
	ForecastLinkModel
)

var forecastSourceNames = [...]string{"last_value", "link_model"}

func (f ForecastSource) String() string {
	if f < 0 || int(f) >= len(forecastSourceNames) {
		return "forecast(" + strconv.Itoa(int(f)) + ")"
	}
	return forecastSourceNames[f]
}

// ParseForecastSource reads "last_value" (or "") and "link_model".
func ParseForecastSource(s string) (ForecastSource, bool) {
	if s == "" {
		return ForecastLastValue, true
	}
	for i, name := range forecastSourceNames {
		if name == s {
			return ForecastSource(i), true
		}
	}
	return 0, false
}

// Task is DWCP's transfer task (upstream Task{ID, Size, Priority, Deadline, RequiresFEC,
// MinBandwidth}). Priority and Deadline are carried for the caller; the chunk rule does
// not read them (a deadline the expected time misses is the caller's decision).
type Task struct {
	ID               string
	SizeBytes        uint64
	Priority         int
	Deadline         time.Time // zero = none
	RequiresFEC      bool
	MinBandwidthMbps float64 // a stream whose forecast is below it gets no bytes
}

// StreamState is one candidate stream: its id and either its link's raw samples (Series
// of schema link, on the model's step grid) or, with Series empty, the id of a link entity
// the sidecar's online store holds (LinkEntity; answered by the sidecar only).
type StreamState struct {
	ID         string
	Series     Series
	LinkEntity string
}

// PartitionRequest asks PartitionTask to cut Task over Streams. FECOverhead is the extra
// wire bytes per payload byte when the task requires FEC (0 .. 8; it changes the expected
// time, never the chunks).
type PartitionRequest struct {
	Task        Task
	Streams     []StreamState
	Forecast    ForecastSource
	FECOverhead float64
}

// TaskPartition is the answer (upstream TaskPartitionDecision). StreamIDs and ChunkBytes
// list the usable streams only, in request order (ChunkBytes sum to Task.SizeBytes);
// ForecastMbps is the forecast each got. ExpectedSeconds is the common finish time if
// every forecast held (featurecore.PartitionChunks). Confidence is in [0, 1]:
//
//	link_model: the used streams' forecasts summed, lower quantile over point,
//	            sum(LowerMbps) / sum(PointMbps) (a narrow interval is near 1)
//	last_value: 1 - the spread of each used stream's window, sum over used streams of
//	            (max - min) of bandwidth_mbps over the samples given, divided
//	            by the sum of their maxima, clipped to [0, 1]
//
// Model names the link model when the forecast came from it (zero otherwise).
type TaskPartition struct {
	TaskID          string
	StreamIDs       []string
	ChunkBytes      []uint64
	ForecastMbps    []float64
	ExpectedSeconds float64
	Confidence      float64
	Forecast        ForecastSource
	Model           ModelRef
}

// Partitioner cuts DWCP tasks into per-stream chunks (docs/partition.md). sidecar/runtime
// implements it in-process, sidecar/client over the sidecar.
//
// ReportOutcome records how long a stream of a partitioned task took: the engine keeps
// the decision of the last tasks it cut and the seconds reported per stream (it does not
// feed the monitor); a task or stream it did not cut is CodeNotFound, seconds NaN, ±Inf
// or negative CodeInvalidInput.
type Partitioner interface {
	PartitionTask(ctx context.Context, req PartitionRequest) (TaskPartition, error)
	ReportOutcome(ctx context.Context, taskID, streamID string, seconds float64) error
}
