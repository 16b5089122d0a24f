/* Resampling raw samples onto the regular grid the window features require. */
#include "fc_internal.h"

#include <math.h>
#include <string.h>

/* The one NaN the core writes (0x7ff8000000000000); 0.0/0.0 is negative on x86. */
static double canonical_nan(void)
{
    const uint64_t bits = 0x7ff8000000000000ULL;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

fc_status fc_grid(const fc_params *params, const int64_t *ts, size_t ts_len,
                  int64_t *t0, size_t *n_bins, fc_error *err)
{
    const fc_schema_def *s = NULL;
    int64_t lo, hi, step;
    size_t i;
    fc_status st = fc__check_params(params, &s, err);
    if (st != FC_OK) return st;
    if (t0 == NULL || n_bins == NULL || (ts == NULL && ts_len > 0))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (ts_len == 0) return fc__fail(err, FC_ERR_LENGTH, -1, -1, -1);
    lo = hi = ts[0];
    for (i = 0; i < ts_len; i++) {
        if (ts[i] < 0 || ts[i] > FC_TS_MAX)
            return fc__fail(err, FC_ERR_TIME_RANGE, (int64_t)i, -1, -1);
        if (ts[i] < lo) lo = ts[i];
        if (ts[i] > hi) hi = ts[i];
    }
    step = params->step_seconds;
    *t0 = lo / step * step;
    *n_bins = (size_t)((hi - *t0) / step) + 1;
    return FC_OK;
}

fc_status fc_resample(const fc_params *params, int64_t t0, size_t n_bins,
                      const int64_t *ts, size_t ts_len,
                      const double *values, size_t values_len,
                      double *out, size_t out_len,
                      uint32_t *counts, size_t counts_len, fc_error *err)
{
    const fc_schema_def *s = NULL;
    size_t C, i, b, c, last_seen = 0;
    int seen = 0;
    int64_t step;
    fc_status st = fc__check_params(params, &s, err);
    if (st != FC_OK) return st;
    C = s->n_channels;
    step = params->step_seconds;
    if ((ts == NULL && ts_len > 0) || (values == NULL && values_len > 0) ||
        (out == NULL && out_len > 0) || (counts == NULL && counts_len > 0))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (t0 < 0 || t0 > FC_TS_MAX) return fc__fail(err, FC_ERR_TIME_RANGE, -1, -1, -1);
    if (ts_len > SIZE_MAX / C || values_len != ts_len * C)
        return fc__fail(err, FC_ERR_LENGTH, -1, -1, -1);
    if (n_bins > SIZE_MAX / C || out_len < n_bins * C || counts_len < n_bins)
        return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    for (i = 0; i < ts_len; i++) {
        st = fc__check_sample(ts[i], values + i * C, C, i, err);
        if (st != FC_OK) return st;
    }

    for (b = 0; b < n_bins; b++) {
        counts[b] = 0;
        for (c = 0; c < C; c++) out[b * C + c] = 0.0;
    }
    /* Sums in input order, so the result does not depend on a sort done elsewhere. */
    for (i = 0; i < ts_len; i++) {
        uint64_t bin;
        if (ts[i] < t0) continue;
        bin = (uint64_t)((ts[i] - t0) / step);
        if (bin >= n_bins) continue;
        if (counts[bin] == UINT32_MAX) return fc__fail(err, FC_ERR_LENGTH, (int64_t)i, -1, -1);
        counts[bin]++;
        for (c = 0; c < C; c++) out[bin * C + c] = out[bin * C + c] + values[i * C + c];
    }
    for (b = 0; b < n_bins; b++) {
        double *row = out + b * C;
        if (counts[b] > 0) {
            for (c = 0; c < C; c++) {
                row[c] = row[c] / (double)counts[b];
                if (isinf(row[c])) return fc__fail(err, FC_ERR_RANGE, (int64_t)b, (int32_t)c, -1);
            }
            seen = 1;
            last_seen = b;
        } else if (seen && b - last_seen <= params->fill_limit) {
            memcpy(row, row - C, C * sizeof(double)); /* carry the last observation forward */
        } else {
            for (c = 0; c < C; c++) row[c] = canonical_nan();
        }
    }
    return FC_OK;
}
