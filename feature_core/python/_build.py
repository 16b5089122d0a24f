"""cffi (API, out-of-line) build of the feature core: compiles the very C files that CMake
and cgo compile, with the same ISO C11 / no-contraction flags (docs/feature-core.md)."""

from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent  # feature_core/
SOURCES = sorted(str(p.relative_to(ROOT.parent)) for p in (ROOT / "src").glob("*.c"))

# Numeric constants are "..." so the compiler fills them in from the real header and the
# binding cannot drift from it; tests check every FC_API function is declared here.
CDEF = """
#define FC_VERSION_NUMBER ...
#define FC_MAX_CHANNELS ...
#define FC_MAX_FEATURES ...
#define FC_MAX_LENGTH ...
#define FC_STATUS_COUNT ...
#define FC_TS_MAX ...
#define FC_SCHEMA_HASH_VM ...
#define FC_SCHEMA_HASH_LINK ...
#define FC_SCHEMA_HASH_METRIC ...
#define FC_SCHEMA_VM ...
#define FC_SCHEMA_LINK ...
#define FC_SCHEMA_METRIC ...
#define FC_MAX_STAT_WINDOW ...
#define FC_PLACE_RESOURCES ...
#define FC_PLACE_VM_INFO ...
#define FC_PLACE_HOST_INFO ...
#define FC_PLACE_FACTORS ...
#define FC_PLACE_COLUMNS ...
#define FC_PLACE_HASH ...
#define FC_DRIFT_VERSION ...
#define FC_DRIFT_MAX_BINS ...
#define FC_DRIFT_DEFAULT_BINS ...
#define FC_DRIFT_ARG_VALUES ...
#define FC_DRIFT_ARG_EDGES ...
#define FC_DRIFT_ARG_REF ...
#define FC_DRIFT_ARG_LIVE ...
static const double FC_DRIFT_DEFAULT_EPSILON;
static const double FC_DRIFT_MIN_EPSILON;
#define FC_PARTITION_VERSION ...
#define FC_PARTITION_MAX_STREAMS ...
#define FC_PARTITION_MAX_BYTES ...
#define FC_PARTITION_ARG_FORECAST ...
#define FC_PARTITION_ARG_MIN_BANDWIDTH ...
#define FC_PARTITION_ARG_SIZE ...
#define FC_PARTITION_ARG_REQUIRES_FEC ...
#define FC_PARTITION_ARG_PARAMS ...
#define FC_PARTITION_ARG_CHUNKS ...
#define FC_PARTITION_ARG_USED ...
#define FC_PARTITION_ARG_EXPECTED ...
static const double FC_PARTITION_DEFAULT_FEC_OVERHEAD;
static const double FC_PARTITION_MAX_FEC_OVERHEAD;

typedef int... fc_status;
typedef int... fc_schema_id;

typedef struct fc_error {
    fc_status status;
    int64_t index;
    int32_t channel;
    int32_t feature;
} fc_error;

typedef struct fc_params {
    int32_t schema;
    uint32_t seq_len;
    uint32_t stat_window;
    int64_t step_seconds;
    uint32_t fill_limit;
    double center[...];
    double scale[...];
    ...;
} fc_params;

unsigned fc_version_number(void);
const char *fc_version_string(void);
const char *fc_status_name(fc_status status);
const char *fc_status_message(fc_status status);

const char *fc_schema_name(fc_schema_id schema);
size_t fc_schema_channels(fc_schema_id schema);
size_t fc_schema_features(fc_schema_id schema);
const char *fc_channel_name(fc_schema_id schema, size_t channel);
const char *fc_feature_name(fc_schema_id schema, size_t feature);
fc_status fc_schema_hash(fc_schema_id schema, uint64_t *hash);

fc_status fc_params_init(fc_params *params, fc_schema_id schema);
fc_status fc_params_check(const fc_params *params, fc_error *err);
size_t fc_window_input_len(const fc_params *params);
size_t fc_window_output_len(const fc_params *params);
size_t fc_windows_count(const fc_params *params, size_t n_samples, size_t stride);

fc_status fc_window(const fc_params *params, const int64_t *ts, size_t ts_len,
                    const double *values, size_t values_len,
                    float *out, size_t out_len, fc_error *err);
fc_status fc_windows(const fc_params *params, const int64_t *ts, size_t ts_len,
                     const double *values, size_t values_len, size_t stride,
                     float *out, size_t out_len, size_t *n_windows, fc_error *err);
fc_status fc_grid(const fc_params *params, const int64_t *ts, size_t ts_len,
                  int64_t *t0, size_t *n_bins, fc_error *err);
fc_status fc_resample(const fc_params *params, int64_t t0, size_t n_bins,
                      const int64_t *ts, size_t ts_len, const double *values, size_t values_len,
                      double *out, size_t out_len, uint32_t *counts, size_t counts_len,
                      fc_error *err);

typedef struct fc_place_params {
    int64_t step_seconds;
    uint32_t history;
    ...;
} fc_place_params;

fc_status fc_place_params_init(fc_place_params *params);
fc_status fc_place_params_check(const fc_place_params *params, fc_error *err);
const char *fc_place_factor_name(size_t factor);
const char *fc_place_resource_name(size_t resource);
const char *fc_place_vm_info_name(size_t column);
const char *fc_place_host_info_name(size_t column);
const char *fc_place_column_name(size_t column);
size_t fc_place_factor_count(void);
fc_status fc_place_hash(uint64_t *hash);
size_t fc_place_output_len(size_t n_hosts);
fc_status fc_place_factors(const fc_place_params *params,
                           const double *vm_request, size_t vm_request_len,
                           const double *vm_history, size_t vm_history_len,
                           const double *vm_info, size_t vm_info_len,
                           size_t n_hosts,
                           const double *host_capacity, size_t host_capacity_len,
                           const double *host_allocated, size_t host_allocated_len,
                           const double *host_usage, size_t host_usage_len,
                           const double *host_info, size_t host_info_len,
                           float *out, size_t out_len, fc_error *err);

fc_status fc_drift_ln(double x, double *out);
fc_status fc_drift_quantile_edges(const double *sample, size_t n, size_t n_bins,
                                  double *scratch, size_t scratch_len,
                                  double *edges, size_t edges_len, size_t *n_edges,
                                  fc_error *err);
fc_status fc_drift_histogram(const double *values, size_t n,
                             const double *edges, size_t n_edges,
                             double *counts, size_t counts_len, fc_error *err);
fc_status fc_drift_psi(const double *ref_counts, const double *live_counts,
                       size_t n_bins, double epsilon, double *out, fc_error *err);
fc_status fc_drift_ks(const double *ref_counts, const double *live_counts,
                      size_t n_bins, double *out, fc_error *err);

typedef struct fc_partition_params {
    double fec_overhead;
    uint32_t max_streams;
    ...;
} fc_partition_params;

fc_status fc_partition_params_init(fc_partition_params *params);
fc_status fc_partition_params_check(const fc_partition_params *params, fc_error *err);
fc_status fc_partition_chunks(const fc_partition_params *params,
                              const double *forecast_mbps, size_t n_streams,
                              double min_bandwidth_mbps, uint64_t size_bytes,
                              int32_t requires_fec,
                              uint64_t *out_chunk_bytes, size_t chunk_len,
                              uint8_t *out_stream_used, size_t used_len,
                              double *out_expected_seconds, fc_error *err);
"""

# The same flags as CMake; -std=c11 (not gnu11) is what keeps GCC from fusing a*b+c.
CFLAGS = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden"]

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "dwcp_ml.feature_core._native",
    '#include "feature_core.h"',
    sources=SOURCES,
    include_dirs=[str((ROOT / "include").relative_to(ROOT.parent)),
                  str((ROOT / "src").relative_to(ROOT.parent))],
    extra_compile_args=CFLAGS,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
