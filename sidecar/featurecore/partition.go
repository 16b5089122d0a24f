package featurecore

/*
#include "feature_core.h"

// The float macros, read as doubles (cgo does not evaluate them reliably; see drift.go).
static double fc_go_partition_default_fec(void) { return FC_PARTITION_DEFAULT_FEC_OVERHEAD; }
static double fc_go_partition_max_fec(void) { return FC_PARTITION_MAX_FEC_OVERHEAD; }
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// Limits of the task-partitioning rule (docs/partition.md), taken from feature_core.h.
const (
	// PartitionVersion numbers the rule (usability, quota, remainder rule, time formula);
	// it changes whenever any chunk or time could change a bit.
	PartitionVersion            = C.FC_PARTITION_VERSION
	PartitionMaxStreams         = C.FC_PARTITION_MAX_STREAMS // most streams one call takes
	PartitionMaxBytes           = C.FC_PARTITION_MAX_BYTES   // 2^53, the largest task size
	PartitionDefaultFECOverhead = 0.0                        // FC_PARTITION_DEFAULT_FEC_OVERHEAD
	PartitionMaxFECOverhead     = 8.0                        // FC_PARTITION_MAX_FEC_OVERHEAD
)

func init() {
	if d, m := float64(C.fc_go_partition_default_fec()), float64(C.fc_go_partition_max_fec()); d != PartitionDefaultFECOverhead || m != PartitionMaxFECOverhead {
		panic(fmt.Sprintf("featurecore: feature_core.h has FC_PARTITION_DEFAULT_FEC_OVERHEAD %g and "+
			"FC_PARTITION_MAX_FEC_OVERHEAD %g, the Go binding %g and %g; update partition.go",
			d, m, PartitionDefaultFECOverhead, PartitionMaxFECOverhead))
	}
}

// Names of the arguments a partition *Error's Channel points at (FC_PARTITION_ARG_* order).
var partitionArgNames = [...]string{
	C.FC_PARTITION_ARG_FORECAST:      "forecast_mbps",
	C.FC_PARTITION_ARG_MIN_BANDWIDTH: "min_bandwidth_mbps",
	C.FC_PARTITION_ARG_SIZE:          "size_bytes",
	C.FC_PARTITION_ARG_REQUIRES_FEC:  "requires_fec",
	C.FC_PARTITION_ARG_PARAMS:        "params",
	C.FC_PARTITION_ARG_CHUNKS:        "chunks",
	C.FC_PARTITION_ARG_USED:          "used",
	C.FC_PARTITION_ARG_EXPECTED:      "expected_seconds",
}

const opPartition = "partition"

// PartitionParams mirrors fc_partition_params.
type PartitionParams struct {
	// FECOverhead is the extra wire bytes per payload byte a task that requires FEC pays
	// (0.25 for 5 packets sent per 4 of data), 0..PartitionMaxFECOverhead. It scales every
	// stream alike: it changes the expected time, never the chunks.
	FECOverhead float64
	// MaxStreams is the most streams one call accepts, 1..PartitionMaxStreams.
	MaxStreams int
}

// DefaultPartitionParams returns fc_partition_params_init's values: no FEC overhead,
// PartitionMaxStreams streams.
func DefaultPartitionParams() PartitionParams {
	var cp C.fc_partition_params
	C.fc_partition_params_init(&cp)
	return PartitionParams{FECOverhead: float64(cp.fec_overhead), MaxStreams: int(cp.max_streams)}
}

func (p PartitionParams) c() (C.fc_partition_params, bool) {
	var cp C.fc_partition_params
	C.fc_partition_params_init(&cp)
	cp.fec_overhead = C.double(p.FECOverhead)
	if p.MaxStreams < 0 || p.MaxStreams > math.MaxUint32 {
		return cp, false
	}
	cp.max_streams = C.uint32_t(p.MaxStreams)
	return cp, true
}

// Partition is the cut of one task: bytes per stream (0 for an unusable one), which
// streams were usable, and the common finish time if every forecast held.
type Partition struct {
	Chunks          []uint64
	Used            []bool
	ExpectedSeconds float64
}

// PartitionChunks cuts a task of sizeBytes into one chunk per stream in proportion to the
// streams' forecast bandwidths (Mbit/s) so that all would finish together
// (fc_partition_chunks, docs/partition.md). A stream is usable when its forecast is > 0
// and >= minBandwidthMbps; the bytes the floors leave go one each to the largest
// fractional quotas (ties to the lower stream index), so the chunks sum to sizeBytes
// exactly. It allocates the result; PartitionChunksInto does not.
func PartitionChunks(p PartitionParams, forecastMbps []float64, minBandwidthMbps float64,
	sizeBytes uint64, requiresFEC bool) (Partition, error) {
	chunks := make([]uint64, len(forecastMbps))
	used := make([]uint8, len(forecastMbps))
	secs, err := PartitionChunksInto(p, forecastMbps, minBandwidthMbps, sizeBytes, requiresFEC, chunks, used)
	if err != nil {
		return Partition{}, err
	}
	out := Partition{Chunks: chunks, Used: make([]bool, len(used)), ExpectedSeconds: secs}
	for i, u := range used {
		out.Used[i] = u != 0
	}
	return out, nil
}

// PartitionChunksInto is PartitionChunks into caller-owned buffers (chunks and used must
// hold len(forecastMbps) entries; used[i] is 1 for a usable stream, else 0) and returns
// the expected seconds. Nothing is allocated unless the call fails.
//
// Errors are *Error values with Op "partition": Index is the stream of a bad forecast
// (else -1) and ChannelName the argument at fault ("forecast_mbps", "size_bytes", ...).
// A NaN forecast matches ErrMissing, ±Inf ErrInfinite, a negative one ErrNegative; no
// usable stream or sizeBytes 0 ErrEmpty; sizeBytes above PartitionMaxBytes or a sum of
// forecasts beyond float64 ErrRange; no streams ErrLength; more than MaxStreams or bad
// params ErrBadParams; short buffers ErrOutputSize.
func PartitionChunksInto(p PartitionParams, forecastMbps []float64, minBandwidthMbps float64,
	sizeBytes uint64, requiresFEC bool, chunks []uint64, used []uint8) (float64, error) {
	cp, ok := p.c()
	if !ok {
		ce := noError()
		ce.channel = C.FC_PARTITION_ARG_PARAMS
		return 0, newPartitionError(C.FC_ERR_BAD_PARAMS, &ce)
	}
	fec := C.int32_t(0)
	if requiresFEC {
		fec = 1
	}
	var chunkPtr *C.uint64_t
	if len(chunks) > 0 {
		chunkPtr = (*C.uint64_t)(unsafe.Pointer(&chunks[0]))
	}
	var usedPtr *C.uint8_t
	if len(used) > 0 {
		usedPtr = (*C.uint8_t)(unsafe.Pointer(&used[0]))
	}
	var secs C.double
	ce := noError()
	st := C.fc_partition_chunks(&cp, f64ptr(forecastMbps), C.size_t(len(forecastMbps)),
		C.double(minBandwidthMbps), C.uint64_t(sizeBytes), fec,
		chunkPtr, C.size_t(len(chunks)), usedPtr, C.size_t(len(used)), &secs, &ce)
	if st != C.FC_OK {
		return 0, newPartitionError(st, &ce)
	}
	return float64(secs), nil
}

func newPartitionError(st C.fc_status, ce *C.fc_error) error {
	return locatedError(opPartition, st, ce,
		func(i int) string { return nameAt(partitionArgNames[:], i) },
		func(int) string { return "" })
}
