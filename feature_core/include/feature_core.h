/*
 * feature_core.h — the one place a DWCP model feature is computed.
 *
 * Python (cffi, training) and Go (cgo, serving) call these same functions, so a
 * feature has the same bits everywhere. Rules that make that hold (docs/feature-core.md):
 * ISO C11 without FMA contraction or fast-math, only + - * / and sqrt, every reduction
 * in one fixed order here, double inputs and float32 outputs rounded once.
 *
 * API conventions (after zstd and BLAKE3): every call returns an fc_status; buffers are
 * owned by the caller and passed with explicit lengths; nothing is allocated and there
 * is no global state, so every function is safe to call from any thread. An optional
 * fc_error receives where the first bad input was found.
 *
 * Placement factors (fc_place_*): docs/placement-contract.md is the interface shared with
 * the ITP simulator; docs/placement-factors.md defines every factor. Drift statistics
 * (fc_drift_*): docs/drift.md. Task partitioning (fc_partition_*): docs/partition.md.
 * Tree ensembles (fc_trees_*): docs/feature-core.md "Tree ensembles".
 */
#ifndef DWCP_FEATURE_CORE_H
#define DWCP_FEATURE_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FC_API
#elif defined(__GNUC__)
#define FC_API __attribute__((visibility("default")))
#else
#define FC_API
#endif

/* ---- version ----------------------------------------------------------------- */

#define FC_VERSION_MAJOR 1
#define FC_VERSION_MINOR 1
#define FC_VERSION_PATCH 0
#define FC_VERSION_NUMBER (FC_VERSION_MAJOR * 10000 + FC_VERSION_MINOR * 100 + FC_VERSION_PATCH)
#define FC_VERSION_STRING "1.1.0"

/* Version of the library actually linked; compare with FC_VERSION_NUMBER to catch a
 * binding built against another header. */
FC_API unsigned fc_version_number(void);
FC_API const char *fc_version_string(void);

/* ---- status ------------------------------------------------------------------ */

typedef enum fc_status {
    FC_OK = 0,
    FC_ERR_NULL_POINTER = 1,   /* a required pointer is NULL while its length is not 0 */
    FC_ERR_UNKNOWN_SCHEMA = 2, /* schema id is not one of fc_schema_id */
    FC_ERR_BAD_PARAMS = 3,     /* fc_params out of range (see fc_params) */
    FC_ERR_LENGTH = 4,         /* input lengths disagree or are too short */
    FC_ERR_OUTPUT_SIZE = 5,    /* output buffer smaller than required */
    FC_ERR_MISSING = 6,        /* a value is NaN: a missing sample inside a window */
    FC_ERR_INFINITE = 7,       /* a value is +Inf or -Inf */
    FC_ERR_NEGATIVE = 8,       /* a value is below 0 on a channel that cannot be negative */
    FC_ERR_TIME_ORDER = 9,     /* timestamps not strictly increasing */
    FC_ERR_TIME_GAP = 10,      /* timestamps not exactly step_seconds apart */
    FC_ERR_RANGE = 11,         /* a result does not fit float32 (check normalisation) */
    FC_ERR_TIME_RANGE = 12,    /* timestamp outside 1970-01-01 .. 9999-12-31 UTC */
    FC_ERR_ZERO_CAPACITY = 13, /* a host capacity is 0 (fc_place_factors) */
    FC_ERR_EDGE_ORDER = 14,    /* drift bin edges not strictly ascending, or fewer than 2 */
    FC_ERR_EMPTY = 15,         /* drift: no values to bin, or every count is 0 */
    FC_ERR_CONSTANT = 16,      /* drift: the reference sample has one distinct value */
    FC_ERR_TREE_UNSUPPORTED = 17, /* trees: a mode, aggregate, transform or size not evaluated */
    FC_ERR_TREE_SHAPE = 18     /* trees: the node/weight arrays do not describe trees */
} fc_status;

#define FC_STATUS_COUNT 19
#define FC_TS_MAX 253402300799LL /* 9999-12-31T23:59:59Z; timestamps are 0 .. FC_TS_MAX */

/* Stable upper-case name of a status ("FC_ERR_TIME_GAP"); "FC_ERR_UNKNOWN_STATUS" for
 * values outside the enum. */
FC_API const char *fc_status_name(fc_status status);
/* One actionable sentence explaining the status and how to fix the input. */
FC_API const char *fc_status_message(fc_status status);

/* Where the first bad input was found: index is a sample index (a bin index for the
 * output of fc_resample, a host index for fc_place_factors), channel a channel index (an
 * input column for fc_place_factors), feature a feature (factor) index; -1 when not
 * relevant. On error the output buffers hold unspecified values. */
typedef struct fc_error {
    fc_status status;
    int64_t index;
    int32_t channel;
    int32_t feature;
} fc_error;

/* ---- schemas ----------------------------------------------------------------- */

/* A schema is an ordered set of input channels plus the target series the statistical
 * features are computed on (the sum of some channels, in channel order). Features per
 * step: every channel, time_of_day, day_of_week, then the target's mean, std, min, max,
 * slope and EWMA over the trailing stat_window samples (definitions: docs/feature-core.md). */
typedef enum fc_schema_id {
    /* Bitbrains VM demand: cpu_pct, mem_pct, disk_read_kbs, disk_write_kbs,
     * net_rx_kbs, net_tx_kbs; target = net_rx_kbs + net_tx_kbs. */
    FC_SCHEMA_VM = 1,
    /* DWCP WAN link: bandwidth_mbps, latency_ms, packet_loss_ratio, jitter_ms;
     * target = bandwidth_mbps. */
    FC_SCHEMA_LINK = 2,
    /* Any single non-negative metric (a NAB series, a VM's CPU demand in MHz): value;
     * target = value. */
    FC_SCHEMA_METRIC = 3
} fc_schema_id;

#define FC_MAX_CHANNELS 8
#define FC_MAX_FEATURES 16
#define FC_TEMPORAL_FEATURES 2
#define FC_STAT_FEATURES 6
#define FC_MAX_LENGTH 100000      /* upper bound of seq_len and fill_limit */
#define FC_MAX_STAT_WINDOW 2048   /* upper bound of stat_window (a week of 5-min samples) */

/* 64-bit FNV-1a over "dwcp-fc/<major>;<schema name>;target=<target channels joined by
 * '+'>;f32:<feature 0>;f32:<feature 1>;..." (docs/feature-core.md). A model bundle records
 * it; a mismatch means the features a model was trained on have changed. */
#define FC_SCHEMA_HASH_VM 0x0af44209c575a0e3ULL
#define FC_SCHEMA_HASH_LINK 0xe6c9aa07d34f4e13ULL
#define FC_SCHEMA_HASH_METRIC 0xbefc309086efdf45ULL

/* Lowercase schema name ("vm", "link", "metric"), or NULL for an unknown id. */
FC_API const char *fc_schema_name(fc_schema_id schema);
/* Number of input channels and of features per step (channels + 2 + 6); 0 if unknown. */
FC_API size_t fc_schema_channels(fc_schema_id schema);
FC_API size_t fc_schema_features(fc_schema_id schema);
/* Name of channel / feature i, or NULL when i is out of range or the schema unknown. */
FC_API const char *fc_channel_name(fc_schema_id schema, size_t channel);
FC_API const char *fc_feature_name(fc_schema_id schema, size_t feature);
/* Schema hash computed from the names at run time (equals FC_SCHEMA_HASH_*). */
FC_API fc_status fc_schema_hash(fc_schema_id schema, uint64_t *hash);

/* ---- parameters -------------------------------------------------------------- */

/* Plain value struct (no pointers, so cgo and cffi can pass it as is); fill it with
 * fc_params_init, then change what differs. Every field travels in the model bundle. */
typedef struct fc_params {
    int32_t schema;          /* an fc_schema_id */
    uint32_t seq_len;        /* T: steps per window, >= 1 */
    uint32_t stat_window;    /* W: trailing samples behind the 6 statistics, 2 .. 2048 */
    int64_t step_seconds;    /* grid spacing of samples, 1 .. 86400 */
    uint32_t fill_limit;     /* fc_resample: empty bins carried forward, <= FC_MAX_LENGTH */
    double center[FC_MAX_FEATURES]; /* normalised = (feature - center) / scale */
    double scale[FC_MAX_FEATURES];  /* finite and > 0; unused entries are ignored */
} fc_params;

/* Defaults for a schema: T = 12, W = 12 (1 h of 5-minute samples), 300 s grid, fill 2
 * bins, identity normalisation (center 0, scale 1). */
FC_API fc_status fc_params_init(fc_params *params, fc_schema_id schema);
/* Checks every field; the compute calls check them too. */
FC_API fc_status fc_params_check(const fc_params *params, fc_error *err);

/* Samples one window needs: seq_len + stat_window - 1. 0 for invalid params. */
FC_API size_t fc_window_input_len(const fc_params *params);
/* Floats one window writes: seq_len * fc_schema_features. 0 for invalid params. */
FC_API size_t fc_window_output_len(const fc_params *params);
/* Windows fc_windows yields from n_samples with the given stride (0 if too short). */
FC_API size_t fc_windows_count(const fc_params *params, size_t n_samples, size_t stride);

/* ---- features ---------------------------------------------------------------- */

/* One window for serving. ts[n] (Unix seconds, UTC) and values[n * channels] (row-major,
 * one row per sample) must hold exactly fc_window_input_len samples on a regular grid;
 * writes seq_len rows of fc_schema_features floats to out (capacity out_len). */
FC_API fc_status fc_window(const fc_params *params,
                           const int64_t *ts, size_t ts_len,
                           const double *values, size_t values_len,
                           float *out, size_t out_len, fc_error *err);

/* Every window of a trace for training: window k covers samples [k*stride, k*stride +
 * fc_window_input_len). Writes fc_windows_count windows back to back (each exactly what
 * fc_window would write) and their number to *n_windows. Validates the whole trace first. */
FC_API fc_status fc_windows(const fc_params *params,
                            const int64_t *ts, size_t ts_len,
                            const double *values, size_t values_len,
                            size_t stride,
                            float *out, size_t out_len, size_t *n_windows, fc_error *err);

/* ---- resampling (raw samples -> regular grid) -------------------------------- */

/* Grid covering ts: *t0 = floor(min(ts) / step) * step and the number of bins up to
 * max(ts). ts may be in any order. */
FC_API fc_status fc_grid(const fc_params *params, const int64_t *ts, size_t ts_len,
                         int64_t *t0, size_t *n_bins, fc_error *err);

/* Averages raw samples (any order, duplicates allowed) into bins [t0 + k*step, t0 +
 * (k+1)*step), summing in input order. An empty bin repeats the previous bin's values for
 * up to fill_limit bins; after that, or before the first sample, it is missing: every
 * value is the canonical quiet NaN. counts[k] receives the samples averaged into bin k.
 * Samples outside the grid are ignored. Raw values must be finite and >= 0. */
FC_API fc_status fc_resample(const fc_params *params, int64_t t0, size_t n_bins,
                             const int64_t *ts, size_t ts_len,
                             const double *values, size_t values_len,
                             double *out, size_t out_len,
                             uint32_t *counts, size_t counts_len, fc_error *err);

/* ---- placement factors (ITP) ---------------------------------------------------- */

/* One call scores ONE VM request against n candidate hosts: row h of the output holds the
 * FC_PLACE_FACTORS float32 factors of (VM, host h), named by fc_place_factor_name and
 * defined in docs/placement-factors.md. Resources, in this order everywhere (R = 4):
 * cpu_mhz, mem_mb, disk_kbs (read + write KB/s), net_kbs (rx + tx KB/s). Histories are the
 * last H samples on the step grid, oldest first, sample-major (H rows of R values). */
#define FC_PLACE_RESOURCES 4   /* R */
#define FC_PLACE_VM_INFO 2     /* vm_info columns: group_size, peers */
#define FC_PLACE_HOST_INFO 13  /* host_info columns (fc_place_host_info_name) */
#define FC_PLACE_FACTORS 154   /* F: factors per (VM, host) row */
#define FC_PLACE_COLUMNS 35    /* input columns fc_error.channel names (fc_place_column_name) */

/* 64-bit FNV-1a over "dwcp-fc/<major>;place;resources=<r0>+<r1>+..;vm_info=<c0>+..;
 * host_info=<c0>+..;f32:<factor 0>;f32:<factor 1>;..." (docs/placement-factors.md). A
 * placement model's bundle records it; fc_place_hash recomputes it from the name tables. */
#define FC_PLACE_HASH 0xb674e4b315aefd5dULL

/* Plain value struct (no pointers, for cgo and cffi); fill it with fc_place_params_init. */
typedef struct fc_place_params {
    int64_t step_seconds; /* spacing of the history samples, 1 .. 86400 (trends are per hour) */
    uint32_t history;     /* H: history samples per resource, 2 .. FC_MAX_STAT_WINDOW */
} fc_place_params;

/* Defaults: H = 12 samples of 300 s (the last hour). */
FC_API fc_status fc_place_params_init(fc_place_params *params);
/* Checks every field (FC_ERR_BAD_PARAMS); fc_place_factors checks them too. */
FC_API fc_status fc_place_params_check(const fc_place_params *params, fc_error *err);

/* Name of factor f ("vm_request_cpu", ...), resource r ("cpu_mhz"), vm_info / host_info
 * column c, or input column c as fc_error.channel reports it ("host_usage.mem_mb"); NULL
 * when out of range. */
FC_API const char *fc_place_factor_name(size_t factor);
FC_API const char *fc_place_resource_name(size_t resource);
FC_API const char *fc_place_vm_info_name(size_t column);
FC_API const char *fc_place_host_info_name(size_t column);
FC_API const char *fc_place_column_name(size_t column);
/* FC_PLACE_FACTORS, for bindings that read it at run time. */
FC_API size_t fc_place_factor_count(void);
/* Placement hash computed from the name tables at run time (equals FC_PLACE_HASH). */
FC_API fc_status fc_place_hash(uint64_t *hash);
/* Floats fc_place_factors writes for n_hosts hosts: n_hosts * FC_PLACE_FACTORS (0 on
 * overflow). */
FC_API size_t fc_place_output_len(size_t n_hosts);

/* Factors of one VM against n_hosts candidate hosts (R = FC_PLACE_RESOURCES, H =
 * params->history), every array row-major with exactly this many doubles:
 *   vm_request R (reserved capacity the VM asks for), vm_history H*R (its observed demand),
 *   vm_info FC_PLACE_VM_INFO, host_capacity n*R (> 0), host_allocated n*R (requests of the
 *   resident VMs), host_usage n*H*R (their summed observed demand), host_info
 *   n*FC_PLACE_HOST_INFO.
 * Writes n_hosts rows of FC_PLACE_FACTORS floats to out (capacity out_len). Every input is
 * validated first, VM arrays then host by host: NaN -> FC_ERR_MISSING, +-Inf ->
 * FC_ERR_INFINITE, < 0 -> FC_ERR_NEGATIVE, a capacity of 0 -> FC_ERR_ZERO_CAPACITY; fc_error
 * gives the host (index, -1 for VM inputs), the input column (channel, FC_PLACE_COLUMNS
 * codes; the array's first column for FC_ERR_LENGTH / FC_ERR_NULL_POINTER) and, for
 * FC_ERR_RANGE (a factor beyond float32), the factor (feature). n_hosts = 0 is valid. */
FC_API fc_status fc_place_factors(const fc_place_params *params,
                                  const double *vm_request, size_t vm_request_len,
                                  const double *vm_history, size_t vm_history_len,
                                  const double *vm_info, size_t vm_info_len,
                                  size_t n_hosts,
                                  const double *host_capacity, size_t host_capacity_len,
                                  const double *host_allocated, size_t host_allocated_len,
                                  const double *host_usage, size_t host_usage_len,
                                  const double *host_info, size_t host_info_len,
                                  float *out, size_t out_len, fc_error *err);

/* ---- drift statistics (docs/drift.md) ------------------------------------------ */

/* The reference distribution of one feature (or model output) is B bins given by B + 1
 * finite, strictly ascending edges e[0] < e[1] < ... < e[B], plus the counts of a training
 * sample in them. Bin j holds e[j] <= x < e[j+1]; bin 0 also takes every x below e[1]
 * (so values below e[0] too) and bin B-1 every x >= e[B-1] (so values above e[B] too):
 * only the interior edges e[1..B-1] decide a bin, e[0] and e[B] record the reference
 * range. Counts are doubles (exact integers up to 2^53; weights are allowed), finite and
 * >= 0, not all 0.
 *
 * fc_error of a drift call: index is the position of the bad element, channel names the
 * array (FC_DRIFT_ARG_*), feature is -1. NaN is never counted silently: a NaN value,
 * edge or count is FC_ERR_MISSING, +-Inf FC_ERR_INFINITE.
 *
 * FC_DRIFT_VERSION numbers the definitions below (bin rule, quantile rule, ln
 * approximation, sum orders); a bundle's reference distribution records it, and it changes
 * whenever any statistic could change a bit. */
#define FC_DRIFT_VERSION 1
#define FC_DRIFT_MAX_BINS 1024      /* upper bound of B */
#define FC_DRIFT_DEFAULT_BINS 10    /* deciles */
#define FC_DRIFT_DEFAULT_EPSILON (1e-4) /* proportion floor of fc_drift_psi */
#define FC_DRIFT_MIN_EPSILON (1e-300) /* smallest floor (q / p stays finite) */
#define FC_DRIFT_ARG_VALUES 0       /* fc_error.channel: values / reference sample */
#define FC_DRIFT_ARG_EDGES 1        /* fc_error.channel: edges */
#define FC_DRIFT_ARG_REF 2          /* fc_error.channel: reference counts */
#define FC_DRIFT_ARG_LIVE 3         /* fc_error.channel: live counts */

/* Natural logarithm with only + - * / (no libm), the same bits on every platform: fdlibm's
 * log algorithm (Go's math.Log too) with the exponent taken by exact scaling, x = 2^k * m,
 * m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f), ln m = f - (f^2/2 - s * (f^2/2 +
 * R(s^2))) with fdlibm's degree-7 minimax R, ln x = k * LN2_HI - ((... - k * LN2_LO) - f)
 * (Cody-Waite split of ln 2). Error: within 1 ulp of the exact ln(x); feature_core/tests/
 * test_drift.c measures it against libm's log on 1.8e6 points from 2^-1074 to DBL_MAX
 * (around 1, at every power of two, random bit patterns): max 1 ulp, about 2 % of the
 * points differ from glibc's log in the last bit. x must be finite and > 0: NaN ->
 * FC_ERR_MISSING, +-Inf -> FC_ERR_INFINITE, x < 0 -> FC_ERR_NEGATIVE, x = 0 (either
 * sign) -> FC_ERR_RANGE (ln 0 is -Inf). */
FC_API fc_status fc_drift_ln(double x, double *out);

/* Quantile edges of a reference sample (n values, any order), the same bits in every
 * binding: the sample is copied into scratch (scratch_len >= n; -0.0 becomes +0.0) and
 * sorted there (heapsort, ascending), then edge k (k = 0..n_bins) is the order statistic
 * s[floor(k * (n - 1) / n_bins)] in integer arithmetic (the "lower" quantile: edge 0 is
 * the minimum, edge n_bins the maximum, no interpolation). An edge equal to the one kept
 * before it is dropped, so ties collapse into one edge and *n_edges (<= n_bins + 1) edges
 * are written, strictly ascending. edges_len >= n_bins + 1 (else FC_ERR_OUTPUT_SIZE);
 * n_bins 1..FC_DRIFT_MAX_BINS (else FC_ERR_BAD_PARAMS); n = 0 -> FC_ERR_EMPTY; NaN / Inf
 * values -> FC_ERR_MISSING / FC_ERR_INFINITE (channel FC_DRIFT_ARG_VALUES); a sample with
 * one distinct value has no bins -> FC_ERR_CONSTANT (give edges by hand). */
FC_API fc_status fc_drift_quantile_edges(const double *sample, size_t n, size_t n_bins,
                                         double *scratch, size_t scratch_len,
                                         double *edges, size_t edges_len, size_t *n_edges,
                                         fc_error *err);

/* Counts of n values in the n_edges - 1 bins of edges (rule above; binary search over the
 * interior edges, comparisons only). Writes n_edges - 1 counts (counts_len must be at
 * least that, else FC_ERR_OUTPUT_SIZE; a NULL buffer is FC_ERR_NULL_POINTER only with a
 * non-zero length, as everywhere in the core). Edges: at least 2, at most FC_DRIFT_MAX_BINS + 1
 * (else FC_ERR_EDGE_ORDER / FC_ERR_BAD_PARAMS), finite (FC_ERR_MISSING / FC_ERR_INFINITE)
 * and strictly ascending (FC_ERR_EDGE_ORDER, index = the first edge not above its
 * predecessor). Values: n >= 1 (else FC_ERR_EMPTY), finite; a NaN value is FC_ERR_MISSING
 * (drop missing samples first: the core never skips one silently). */
FC_API fc_status fc_drift_histogram(const double *values, size_t n,
                                    const double *edges, size_t n_edges,
                                    double *counts, size_t counts_len, fc_error *err);

/* Population Stability Index of live counts against reference counts over the same n_bins
 * bins: p_j = max(ref_j / sum(ref), epsilon), q_j = max(live_j / sum(live), epsilon),
 * PSI = sum_j (q_j - p_j) * ln(q_j / p_j) with ln = fc_drift_ln; sums run in bin order
 * (one running sum). PSI >= 0 (every term is); 0 for identical proportions. epsilon
 * FC_DRIFT_MIN_EPSILON <= epsilon < 1 (FC_DRIFT_DEFAULT_EPSILON is the usual choice),
 * else FC_ERR_BAD_PARAMS (NaN too). Counts:
 * n_bins 1..FC_DRIFT_MAX_BINS (0 -> FC_ERR_LENGTH, more -> FC_ERR_BAD_PARAMS), finite,
 * >= 0 (FC_ERR_NEGATIVE), not all 0 (FC_ERR_EMPTY, index -1), total <= DBL_MAX
 * (FC_ERR_RANGE, index -1). Checks ref before live. */
FC_API fc_status fc_drift_psi(const double *ref_counts, const double *live_counts,
                              size_t n_bins, double epsilon, double *out, fc_error *err);

/* Kolmogorov-Smirnov-type statistic on the binned distributions: D = max_j |F_ref(j) -
 * F_live(j)| with F(j) = (c_0 + ... + c_j) / sum(c) (running sums in bin order), so it is
 * the KS distance of the two samples only at the interior bin edges: for two histograms
 * over the same edges it is <= the exact two-sample KS statistic of the samples behind
 * them. 0 <= D <= 1 (the last F is exactly 1). Counts as for fc_drift_psi. */
FC_API fc_status fc_drift_ks(const double *ref_counts, const double *live_counts,
                             size_t n_bins, double *out, fc_error *err);

/* ---- task partitioning over parallel streams (docs/partition.md) --------------- */

/* One task of size_bytes is cut into one chunk per usable stream so that every stream would
 * finish at the same time if its bandwidth forecast held: chunk_i proportional to
 * forecast_i. A stream is usable when its forecast is > 0 and >= min_bandwidth_mbps.
 *
 * FC_PARTITION_VERSION numbers the rule below (usability, quota, remainder rule, time
 * formula); it changes whenever any chunk or time could change a bit.
 *
 * fc_error of fc_partition_chunks: index is the stream for a bad forecast (else -1),
 * channel names the argument (FC_PARTITION_ARG_*), feature is -1. */
#define FC_PARTITION_VERSION 1
#define FC_PARTITION_MAX_STREAMS 1024 /* upper bound of n_streams and of max_streams */
#define FC_PARTITION_MAX_BYTES 9007199254740992ULL /* 2^53: every size is exact in a double */
#define FC_PARTITION_DEFAULT_FEC_OVERHEAD (0.0) /* no FEC modelled unless the code says so */
#define FC_PARTITION_MAX_FEC_OVERHEAD (8.0)     /* a rate-1/9 code */
#define FC_PARTITION_ARG_FORECAST 0       /* fc_error.channel: forecast_mbps / n_streams */
#define FC_PARTITION_ARG_MIN_BANDWIDTH 1  /* min_bandwidth_mbps */
#define FC_PARTITION_ARG_SIZE 2           /* size_bytes */
#define FC_PARTITION_ARG_REQUIRES_FEC 3   /* requires_fec */
#define FC_PARTITION_ARG_PARAMS 4         /* fc_partition_params */
#define FC_PARTITION_ARG_CHUNKS 5         /* out_chunk_bytes */
#define FC_PARTITION_ARG_USED 6           /* out_stream_used */
#define FC_PARTITION_ARG_EXPECTED 7       /* out_expected_seconds */

/* Plain value struct (no pointers, for cgo and cffi); fill it with fc_partition_params_init. */
typedef struct fc_partition_params {
    /* Extra wire bytes per payload byte of a task that requires FEC (0.25 for a code that
     * sends 5 packets per 4 of data): 0 .. FC_PARTITION_MAX_FEC_OVERHEAD. It scales every
     * stream alike, so it changes the expected time, never the chunks. */
    double fec_overhead;
    uint32_t max_streams; /* most streams one call accepts, 1 .. FC_PARTITION_MAX_STREAMS */
} fc_partition_params;

/* Defaults: fec_overhead FC_PARTITION_DEFAULT_FEC_OVERHEAD, max_streams
 * FC_PARTITION_MAX_STREAMS. */
FC_API fc_status fc_partition_params_init(fc_partition_params *params);
/* Checks every field (FC_ERR_BAD_PARAMS, channel FC_PARTITION_ARG_PARAMS; NaN fails). */
FC_API fc_status fc_partition_params_check(const fc_partition_params *params, fc_error *err);

/* Chunks of one task over n_streams streams whose forecasts (Mbit/s, 10^6 bit/s) are
 * forecast_mbps[0..n_streams-1]:
 *   B = sum of the usable forecasts, one running sum in stream order;
 *   q_i = size * (forecast_i / B) for a usable stream, chunk_i = floor(q_i) (0 when unusable);
 *   the bytes left, size - sum floor(q_i), go one each to the usable streams with the
 *   largest fraction q_i - floor(q_i), ties to the lower stream index (largest remainder;
 *   if rounding of q_i left the floors a byte above size, bytes are taken back from the
 *   smallest fractions, ties to the higher index), so the chunks sum to size_bytes exactly;
 *   a usable stream gets 0 bytes only when its share is below one byte;
 *   out_stream_used[i] = 1 for a usable stream, else 0;
 *   *out_expected_seconds = size * 8 * w / 10^6 / B, w = 1 + fec_overhead when
 *   requires_fec = 1, else 1 (the common finish time if every forecast held).
 * Statuses, checked in this order: params (FC_ERR_BAD_PARAMS), requires_fec not 0 or 1
 * (FC_ERR_BAD_PARAMS), n_streams 0 (FC_ERR_LENGTH) or above max_streams
 * (FC_ERR_BAD_PARAMS), NULL pointers, chunk_len / used_len < n_streams
 * (FC_ERR_OUTPUT_SIZE), min_bandwidth_mbps NaN / +-Inf / < 0 (FC_ERR_MISSING /
 * FC_ERR_INFINITE / FC_ERR_NEGATIVE), size_bytes 0 (FC_ERR_EMPTY) or above
 * FC_PARTITION_MAX_BYTES (FC_ERR_RANGE), then every forecast in stream order (NaN, +-Inf,
 * < 0, index = the stream), no usable stream (FC_ERR_EMPTY, channel
 * FC_PARTITION_ARG_FORECAST), B or the time beyond DBL_MAX (FC_ERR_RANGE). Nothing is
 * written before every input passed. */
FC_API fc_status fc_partition_chunks(const fc_partition_params *params,
                                     const double *forecast_mbps, size_t n_streams,
                                     double min_bandwidth_mbps, uint64_t size_bytes,
                                     int32_t requires_fec,
                                     uint64_t *out_chunk_bytes, size_t chunk_len,
                                     uint8_t *out_stream_used, size_t used_len,
                                     double *out_expected_seconds, fc_error *err);

/* ---- tree ensembles (docs/feature-core.md "Tree ensembles") ------------------- */

/* An ONNX TreeEnsembleRegressor (ai.onnx.ml) evaluated with ONNX Runtime's bits: one
 * target, aggregate SUM, post_transform NONE, nodes BRANCH_LEQ or LEAF. A row goes to a
 * node's true child when x[feature] <= threshold, or when x[feature] is NaN and the node's
 * missing_value_tracks_true is 1; its score is the leaf weights summed in float32 in tree
 * order (the order in which the trees first appear in nodes_treeids), starting from 0,
 * then + the base value (0 without one). Only comparisons and float32 +.
 *
 * Memory: fc_trees_size says how many bytes an ensemble of n_nodes nodes needs (including
 * the scratch of the build); fc_trees_init builds it into the caller's buffer, which must
 * be aligned to 8 bytes and then holds no pointer (it may be copied or moved as bytes) and
 * is only read by fc_trees_score, so one ensemble serves any number of threads.
 *
 * FC_TREES_VERSION numbers the evaluation rule above and the buffer layout. */
#define FC_TREES_VERSION 1
#define FC_TREES_MAX_NODES 16777215u      /* nodes of one ensemble */
#define FC_TREES_MAX_TREE_NODES 65535u    /* nodes of one tree */
#define FC_TREES_MAX_FEATURE 65534        /* largest feature id (input column) */

/* nodes_modes, as numbers (bindings map ONNX's strings; an unknown string is
 * FC_TREE_MODE_OTHER). Only BRANCH_LEQ and LEAF are evaluated. */
typedef enum fc_tree_mode {
    FC_TREE_BRANCH_LEQ = 0,
    FC_TREE_BRANCH_LT = 1,
    FC_TREE_BRANCH_GTE = 2,
    FC_TREE_BRANCH_GT = 3,
    FC_TREE_BRANCH_EQ = 4,
    FC_TREE_BRANCH_NEQ = 5,
    FC_TREE_BRANCH_MEMBER = 6,
    FC_TREE_LEAF = 7,
    FC_TREE_MODE_OTHER = 8
} fc_tree_mode;

/* aggregate_function and post_transform, as numbers (FC_TREES_*_OTHER for any other
 * string). Only FC_TREES_SUM and FC_TREES_NONE are evaluated. */
typedef enum fc_trees_aggregate {
    FC_TREES_SUM = 0,
    FC_TREES_AVERAGE = 1,
    FC_TREES_MIN = 2,
    FC_TREES_MAX = 3,
    FC_TREES_AGGREGATE_OTHER = 4
} fc_trees_aggregate;

typedef enum fc_trees_post_transform {
    FC_TREES_NONE = 0,
    FC_TREES_SOFTMAX = 1,
    FC_TREES_LOGISTIC = 2,
    FC_TREES_SOFTMAX_ZERO = 3,
    FC_TREES_PROBIT = 4,
    FC_TREES_POST_OTHER = 5
} fc_trees_post_transform;

/* fc_error.channel of fc_trees_init: the attribute a bad value is in (index = its
 * position in that array, -1 for a scalar). */
#define FC_TREES_ARG_NODES 0      /* the nodes_* arrays (index = node) */
#define FC_TREES_ARG_WEIGHTS 1    /* the target_* arrays (index = weight) */
#define FC_TREES_ARG_BASE 2       /* base_values */
#define FC_TREES_ARG_MODEL 3      /* n_targets, aggregate_function, post_transform */
#define FC_TREES_ARG_BUFFER 4     /* buf / buf_len */
#define FC_TREES_ARG_ROWS 5       /* fc_trees_score: rows / n_cols */
#define FC_TREES_ARG_OUT 6        /* fc_trees_score: out */

/* Kernels of fc_trees_score: every one gives the same bits; they differ in speed.
 * BRANCHY walks one row through every tree with branches (fastest when rows repeat, so
 * branches are predictable); INTERLEAVED walks 16 rows at once through one tree without
 * data-dependent branches per node (fastest on distinct rows) when the model reads at
 * most FC_TREES_INTERLEAVE_MAX_COLS columns (else it is BRANCHY); AUTO is INTERLEAVED for
 * 16 rows or more, else BRANCHY. */
#define FC_TREES_KERNEL_AUTO 0
#define FC_TREES_KERNEL_BRANCHY 1
#define FC_TREES_KERNEL_INTERLEAVED 2
#define FC_TREES_INTERLEAVE_MAX_COLS 512

typedef struct fc_trees fc_trees; /* opaque: the caller's buffer after fc_trees_init */

/* Bytes fc_trees_init needs for n_nodes nodes (1 .. FC_TREES_MAX_NODES, else
 * FC_ERR_TREE_UNSUPPORTED; 0 -> FC_ERR_EMPTY). */
FC_API fc_status fc_trees_size(size_t n_nodes, size_t *bytes);

/* Builds the ensemble from the TreeEnsembleRegressor attributes (the nodes_* arrays of
 * n_nodes entries, nodes_missing_value_tracks_true may be NULL for all 0; the target_*
 * arrays of n_weights entries; n_base base_values) into buf (buf_len bytes, 8-aligned) and
 * sets *out to it. Statuses, in this order: NULL pointers; n_targets != 1, aggregate !=
 * SUM, post_transform != NONE (FC_ERR_TREE_UNSUPPORTED, channel FC_TREES_ARG_MODEL);
 * n_base > 1 (FC_ERR_LENGTH, FC_TREES_ARG_BASE); n_nodes 0 (FC_ERR_EMPTY) or above
 * FC_TREES_MAX_NODES (FC_ERR_TREE_UNSUPPORTED); buf_len below fc_trees_size
 * (FC_ERR_OUTPUT_SIZE) or buf not 8-aligned (FC_ERR_BAD_PARAMS, FC_TREES_ARG_BUFFER);
 * then node by node: a mode other than BRANCH_LEQ / LEAF (FC_ERR_TREE_UNSUPPORTED), a
 * branch's feature id < 0 (FC_ERR_TREE_SHAPE) or above FC_TREES_MAX_FEATURE
 * (FC_ERR_TREE_UNSUPPORTED), missing_value_tracks_true not 0 / 1 (FC_ERR_TREE_SHAPE); a tree
 * above FC_TREES_MAX_TREE_NODES nodes (FC_ERR_TREE_UNSUPPORTED); FC_ERR_TREE_SHAPE for a
 * tree id that reappears after another tree, a (tree, node) id twice, a child id not in
 * its tree, a node reached twice or never from its tree's root (its first node); weights:
 * target id not 0, (tree, node) not a leaf, a leaf with no weight or more than one
 * (FC_ERR_TREE_SHAPE, FC_TREES_ARG_WEIGHTS; a leaf without weight has index = its node,
 * channel FC_TREES_ARG_NODES). */
FC_API fc_status fc_trees_init(size_t n_nodes,
                               const int64_t *nodes_treeids, const int64_t *nodes_nodeids,
                               const int64_t *nodes_featureids, const int32_t *nodes_modes,
                               const float *nodes_values, const int64_t *nodes_truenodeids,
                               const int64_t *nodes_falsenodeids,
                               const int64_t *nodes_missing_value_tracks_true,
                               size_t n_weights,
                               const int64_t *target_treeids, const int64_t *target_nodeids,
                               const int64_t *target_ids, const float *target_weights,
                               const float *base_values, size_t n_base,
                               int64_t n_targets, int32_t aggregate, int32_t post_transform,
                               void *buf, size_t buf_len, fc_trees **out, fc_error *err);

/* Trees, packed nodes, and the columns a row must have (the largest feature id + 1) of a
 * built ensemble (any pointer may be NULL); FC_ERR_BAD_PARAMS if trees is not one. */
FC_API fc_status fc_trees_info(const fc_trees *trees, size_t *n_trees, size_t *n_nodes,
                               size_t *n_cols);

/* Scores n_rows rows of n_cols float32 (row-major, rows[r * n_cols + c]) into out[0 ..
 * n_rows-1] with the rule above. Statuses: trees NULL or not built (FC_ERR_NULL_POINTER /
 * FC_ERR_BAD_PARAMS), rows / out NULL with n_rows > 0 (FC_ERR_NULL_POINTER), n_cols below
 * fc_trees_info's n_cols (FC_ERR_LENGTH, FC_TREES_ARG_ROWS), out_len < n_rows
 * (FC_ERR_OUTPUT_SIZE), kernel not an FC_TREES_KERNEL_* (FC_ERR_BAD_PARAMS). Any float is
 * a valid input (NaN, +-Inf: as the rule says). n_rows = 0 is valid. */
FC_API fc_status fc_trees_score(const fc_trees *trees, const float *rows, size_t n_rows,
                                size_t n_cols, int32_t kernel, float *out, size_t out_len,
                                fc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DWCP_FEATURE_CORE_H */
