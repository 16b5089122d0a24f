/* Task partitioning over parallel streams (docs/partition.md).
 *
 * A task of size_bytes is cut into one chunk per usable stream, sized in proportion to the
 * stream's forecast bandwidth so that every stream would finish at the same time if the
 * forecasts held. Only + - * / and comparisons on doubles, integer arithmetic on uint64, one
 * fixed order: the same chunks in C, Python (cffi) and Go (cgo).
 */
#include "fc_internal.h"

#include <float.h>
#include <math.h>

fc_status fc_partition_params_init(fc_partition_params *params)
{
    if (params == NULL) return FC_ERR_NULL_POINTER;
    params->fec_overhead = FC_PARTITION_DEFAULT_FEC_OVERHEAD;
    params->max_streams = FC_PARTITION_MAX_STREAMS;
    return FC_OK;
}

fc_status fc_partition_params_check(const fc_partition_params *params, fc_error *err)
{
    if (params == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    /* written so that NaN fails too */
    if (!(params->fec_overhead >= 0.0 && params->fec_overhead <= FC_PARTITION_MAX_FEC_OVERHEAD))
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_PARAMS, -1);
    if (params->max_streams < 1 || params->max_streams > FC_PARTITION_MAX_STREAMS)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_PARAMS, -1);
    return FC_OK;
}

/* A finite, non-negative scalar input (min_bandwidth): the statuses of a bad sample. */
static fc_status check_scalar(double v, int32_t arg, fc_error *err)
{
    if (v >= 0.0 && v <= DBL_MAX) return FC_OK;
    if (isnan(v)) return fc__fail(err, FC_ERR_MISSING, -1, arg, -1);
    if (isinf(v)) return fc__fail(err, FC_ERR_INFINITE, -1, arg, -1);
    return fc__fail(err, FC_ERR_NEGATIVE, -1, arg, -1);
}

/* Stream i is usable when its forecast is > 0 and >= min_bandwidth. */
static int usable(double bw, double min_bw) { return bw > 0.0 && bw >= min_bw; }

fc_status fc_partition_chunks(const fc_partition_params *params,
                              const double *forecast_mbps, size_t n_streams,
                              double min_bandwidth_mbps, uint64_t size_bytes,
                              int32_t requires_fec,
                              uint64_t *out_chunk_bytes, size_t chunk_len,
                              uint8_t *out_stream_used, size_t used_len,
                              double *out_expected_seconds, fc_error *err)
{
    size_t i, n_used = 0;
    double total = 0.0, size_d, wire, seconds;
    uint64_t assigned = 0, remainder;
    fc_status st;

    if ((st = fc_partition_params_check(params, err)) != FC_OK) return st;
    if (requires_fec != 0 && requires_fec != 1)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_REQUIRES_FEC, -1);
    if (n_streams == 0) return fc__fail(err, FC_ERR_LENGTH, -1, FC_PARTITION_ARG_FORECAST, -1);
    if (n_streams > params->max_streams)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_FORECAST, -1);
    if (forecast_mbps == NULL)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_FORECAST, -1);
    if (out_chunk_bytes == NULL && chunk_len != 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_CHUNKS, -1);
    if (out_stream_used == NULL && used_len != 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_USED, -1);
    if (out_expected_seconds == NULL)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_EXPECTED, -1);
    if (chunk_len < n_streams)
        return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, FC_PARTITION_ARG_CHUNKS, -1);
    if (used_len < n_streams)
        return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, FC_PARTITION_ARG_USED, -1);
    if ((st = check_scalar(min_bandwidth_mbps, FC_PARTITION_ARG_MIN_BANDWIDTH, err)) != FC_OK)
        return st;
    if (size_bytes == 0) return fc__fail(err, FC_ERR_EMPTY, -1, FC_PARTITION_ARG_SIZE, -1);
    if (size_bytes > FC_PARTITION_MAX_BYTES)
        return fc__fail(err, FC_ERR_RANGE, -1, FC_PARTITION_ARG_SIZE, -1);

    /* Validate every forecast before writing anything, then one running sum in stream order. */
    for (i = 0; i < n_streams; i++) {
        double v = forecast_mbps[i];
        if (v >= 0.0 && v <= DBL_MAX) continue;
        if (isnan(v))
            return fc__fail(err, FC_ERR_MISSING, (int64_t)i, FC_PARTITION_ARG_FORECAST, -1);
        if (isinf(v))
            return fc__fail(err, FC_ERR_INFINITE, (int64_t)i, FC_PARTITION_ARG_FORECAST, -1);
        return fc__fail(err, FC_ERR_NEGATIVE, (int64_t)i, FC_PARTITION_ARG_FORECAST, -1);
    }
    for (i = 0; i < n_streams; i++) {
        if (!usable(forecast_mbps[i], min_bandwidth_mbps)) continue;
        total = total + forecast_mbps[i];
        n_used++;
    }
    if (n_used == 0) return fc__fail(err, FC_ERR_EMPTY, -1, FC_PARTITION_ARG_FORECAST, -1);
    if (!(total <= DBL_MAX)) return fc__fail(err, FC_ERR_RANGE, -1, FC_PARTITION_ARG_FORECAST, -1);

    /* Seconds at the summed rate: payload bits (times the FEC expansion) over bits per second.
     * size <= 2^53 and total >= 2^-1074, so only the division can overflow. */
    size_d = (double)size_bytes;
    wire = requires_fec ? 1.0 + params->fec_overhead : 1.0;
    seconds = (size_d * 8.0 * wire / 1000000.0) / total;
    if (!(seconds <= DBL_MAX))
        return fc__fail(err, FC_ERR_RANGE, -1, FC_PARTITION_ARG_EXPECTED, -1);

    /* Quota q_i = size * (bw_i / total); the floor goes to stream i (bw_i <= total, so
     * q_i <= size < 2^53 and the cast is exact truncation). */
    for (i = 0; i < n_streams; i++) {
        uint64_t base = 0;
        if (usable(forecast_mbps[i], min_bandwidth_mbps)) {
            double q = size_d * (forecast_mbps[i] / total);
            if (q > size_d) q = size_d; /* cannot happen with IEEE division; kept as a bound */
            base = (uint64_t)q;
        }
        out_chunk_bytes[i] = base;
        out_stream_used[i] = usable(forecast_mbps[i], min_bandwidth_mbps) ? 1u : 0u;
        assigned += base;
    }

    /* Largest remainder: the bytes the floors left go one each to the usable streams with the
     * largest fractional part q_i - floor(q_i), ties to the lower stream index. Rounding of q_i
     * can push the floors a byte above or below the exact ones, so the rule runs on whatever
     * is left: a deficit is handed out in that order (cycling if it exceeds n_used), a surplus
     * taken back in the reverse order (smallest fraction first, ties to the higher index) from
     * chunks above 0. Either way the chunks sum to size_bytes exactly. The used marks double as
     * the "already got one" flags (2), reset at the end. */
    while (assigned < size_bytes) {
        remainder = size_bytes - assigned;
        while (remainder > 0) {
            size_t best = n_streams;
            double best_frac = 0.0;
            for (i = 0; i < n_streams; i++) {
                double frac;
                if (out_stream_used[i] != 1u) continue;
                frac = size_d * (forecast_mbps[i] / total) - (double)out_chunk_bytes[i];
                if (best == n_streams || frac > best_frac) {
                    best_frac = frac;
                    best = i;
                }
            }
            if (best == n_streams) break; /* every usable stream got one this round */
            out_chunk_bytes[best] += 1;
            out_stream_used[best] = 2u;
            assigned += 1;
            remainder -= 1;
        }
        for (i = 0; i < n_streams; i++)
            if (out_stream_used[i] == 2u) out_stream_used[i] = 1u;
    }
    while (assigned > size_bytes) {
        size_t worst = n_streams;
        double worst_frac = 0.0;
        for (i = 0; i < n_streams; i++) {
            double frac;
            if (out_stream_used[i] != 1u || out_chunk_bytes[i] == 0) continue;
            frac = size_d * (forecast_mbps[i] / total) - (double)out_chunk_bytes[i];
            if (worst == n_streams || frac <= worst_frac) {
                worst_frac = frac;
                worst = i;
            }
        }
        out_chunk_bytes[worst] -= 1; /* assigned > size >= 1 means some chunk is above 0 */
        assigned -= 1;
    }
    *out_expected_seconds = seconds;
    return FC_OK;
}
