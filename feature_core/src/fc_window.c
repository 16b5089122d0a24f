/* Window features: validation of a sample run, per-step features, window assembly. */
#include "fc_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SECONDS_PER_DAY 86400
/* Target values of a run of samples, computed once per sample and kept on the stack while
 * the windows slide over them; it holds at least one stat window plus as much again. */
#define TARGET_BUFFER (2 * FC_MAX_STAT_WINDOW)

/* Checks pointers, lengths, timestamps (on the step grid) and values of a sample run.
 * Reports the first bad sample: its timestamp first, then its channels in order. */
static fc_status check_samples(const fc_schema_def *s, const fc_params *p,
                               const int64_t *ts, size_t ts_len,
                               const double *values, size_t values_len, fc_error *err)
{
    size_t i, C = s->n_channels;
    fc_status st;
    if ((ts == NULL && ts_len > 0) || (values == NULL && values_len > 0))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (ts_len > SIZE_MAX / C || values_len != ts_len * C)
        return fc__fail(err, FC_ERR_LENGTH, -1, -1, -1);
    for (i = 0; i < ts_len; i++) {
        /* Range first: with both timestamps in 0..FC_TS_MAX the difference cannot overflow. */
        if (ts[i] < 0 || ts[i] > FC_TS_MAX)
            return fc__fail(err, FC_ERR_TIME_RANGE, (int64_t)i, -1, -1);
        if (i > 0 && ts[i] <= ts[i - 1])
            return fc__fail(err, FC_ERR_TIME_ORDER, (int64_t)i, -1, -1);
        if (i > 0 && ts[i] - ts[i - 1] != p->step_seconds)
            return fc__fail(err, FC_ERR_TIME_GAP, (int64_t)i, -1, -1);
        st = fc__check_sample(ts[i], values + i * C, C, i, err);
        if (st != FC_OK) return st;
    }
    return FC_OK;
}

/* Target series at sample k: the target channels summed in channel order. */
static double target_at(const fc_schema_def *s, const double *values, size_t k)
{
    const double *row = values + k * s->n_channels;
    double y = row[s->target_channels[0]];
    size_t t;
    for (t = 1; t < s->n_target; t++) y = y + row[s->target_channels[t]];
    return y;
}

/* Rounds one normalised feature to float32, once; refuses what float32 cannot hold. */
static int put(const fc_params *p, size_t f, double x, float *out)
{
    double z = (x - p->center[f]) / p->scale[f];
    float v = (float)z;
    if (!(v >= -FLT_MAX && v <= FLT_MAX)) return 0; /* NaN or +-Inf */
    out[f] = v;
    return 1;
}

/* Sums: the 4-lane helpers of fc_internal.h (lanes_add4, lanes_add, lanes_total). */

/* Running statistics of the target over one stat window, fed in sample order. */
typedef struct target_stats {
    lanes sum;
    double lo, hi, ewma, alpha, keep;
} target_stats;

static void stats_add(target_stats *st, size_t k, double y)
{
    if (k == 0) {
        st->lo = st->hi = st->ewma = y;
    } else {
        st->ewma = st->keep * st->ewma + st->alpha * y;
    }
    if (y < st->lo) st->lo = y;
    if (y > st->hi) st->hi = y;
}

/* Writes the features of the step ending at sample i to row; y holds the target values of
 * samples i - stat_window + 1 .. i. */
static fc_status step_features(const fc_schema_def *s, const fc_params *p,
                               const int64_t *ts, const double *values, size_t i,
                               const double *y, float *row, fc_error *err)
{
    const size_t C = s->n_channels, W = p->stat_window;
    const double n = (double)W;
    const double mid = (n - 1.0) / 2.0;
    /* sum of (k - mid)^2 over k = 0..W-1, exact in double for W <= FC_MAX_STAT_WINDOW */
    const double slope_den = ((n - 1.0) * n * (n + 1.0)) / 12.0;
    const int64_t sod = ts[i] % SECONDS_PER_DAY, days = ts[i] / SECONDS_PER_DAY;
    target_stats st = {{0.0, 0.0, 0.0, 0.0}, 0.0, 0.0, 0.0, 0.0, 0.0};
    lanes sq = {0.0, 0.0, 0.0, 0.0}, cross = {0.0, 0.0, 0.0, 0.0};
    double mean, feat[FC_MAX_FEATURES];
    size_t c, k, f;

    for (c = 0; c < C; c++) feat[c] = values[i * C + c];
    /* UTC, no daylight saving: 1970-01-01 was a Thursday, Monday is 0. */
    feat[C] = (double)sod / (double)SECONDS_PER_DAY;
    feat[C + 1] = (double)((days + 3) % 7);

    /* Pass 1: sum, min, max and EWMA (e = (1 - a) e + a y, a = 2 / (W + 1), e0 = y0). */
    st.alpha = 2.0 / (n + 1.0);
    st.keep = 1.0 - st.alpha;
    for (k = 0; k + 4 <= W; k += 4) {
        lanes_add4(&st.sum, y[k], y[k + 1], y[k + 2], y[k + 3]);
        stats_add(&st, k, y[k]);
        stats_add(&st, k + 1, y[k + 1]);
        stats_add(&st, k + 2, y[k + 2]);
        stats_add(&st, k + 3, y[k + 3]);
    }
    for (; k < W; k++) {
        lanes_add(&st.sum, k, y[k]);
        stats_add(&st, k, y[k]);
    }
    mean = lanes_total(&st.sum) / n;

    /* Pass 2 (two-pass variance, no cancellation): squared and index-weighted deviations. */
    for (k = 0; k + 4 <= W; k += 4) {
        const double d0 = y[k] - mean, d1 = y[k + 1] - mean;
        const double d2 = y[k + 2] - mean, d3 = y[k + 3] - mean;
        const double x0 = (double)k - mid;
        lanes_add4(&sq, d0 * d0, d1 * d1, d2 * d2, d3 * d3);
        lanes_add4(&cross, x0 * d0, (x0 + 1.0) * d1, (x0 + 2.0) * d2, (x0 + 3.0) * d3);
    }
    for (; k < W; k++) {
        const double d = y[k] - mean;
        lanes_add(&sq, k, d * d);
        lanes_add(&cross, k, ((double)k - mid) * d);
    }
    feat[C + 2] = mean;
    feat[C + 3] = sqrt(lanes_total(&sq) / n);
    feat[C + 4] = st.lo;
    feat[C + 5] = st.hi;
    feat[C + 6] = lanes_total(&cross) / slope_den;
    feat[C + 7] = st.ewma;

    for (f = 0; f < C + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES; f++) {
        if (!put(p, f, feat[f], row))
            return fc__fail(err, FC_ERR_RANGE, (int64_t)i, -1, (int32_t)f);
    }
    return FC_OK;
}

/* fc_windows after its parameters were checked. */
static fc_status windows_checked(const fc_schema_def *s, const fc_params *params,
                                 const int64_t *ts, size_t ts_len,
                                 const double *values, size_t values_len, size_t stride,
                                 float *out, size_t out_len, size_t *n_windows, fc_error *err)
{
    const size_t F = s->n_channels + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES;
    const size_t T = params->seq_len, W = params->stat_window, need = T + W - 1;
    const size_t per_window = T * F;
    double targets[TARGET_BUFFER];
    size_t count, w, r, base = 0, filled = 0;
    fc_status st;
    *n_windows = 0;
    if (stride == 0) return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    st = check_samples(s, params, ts, ts_len, values, values_len, err);
    if (st != FC_OK) return st;
    count = ts_len < need ? 0 : (ts_len - need) / stride + 1;
    if (count > 0 && out == NULL && out_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (count > SIZE_MAX / per_window || out_len < count * per_window)
        return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, -1, -1);

    for (w = 0; w < count; w++) {
        float *dst = out + w * per_window;
        size_t reused = 0;
        /* Overlapping windows share rows: copy them, the step math is a pure function. */
        if (w > 0 && stride < T) {
            reused = T - stride;
            memmove(dst, dst - per_window + stride * F, reused * F * sizeof(float));
        }
        for (r = reused; r < T; r++) {
            const size_t i = w * stride + W - 1 + r, first = i + 1 - W;
            if (first < base || i >= base + filled) { /* steps only move forward */
                size_t k;
                base = first;
                filled = ts_len - first < TARGET_BUFFER ? ts_len - first : TARGET_BUFFER;
                for (k = 0; k < filled; k++) targets[k] = target_at(s, values, base + k);
            }
            st = step_features(s, params, ts, values, i, targets + (first - base),
                               dst + r * F, err);
            if (st != FC_OK) return st;
        }
    }
    *n_windows = count;
    return FC_OK;
}

fc_status fc_window(const fc_params *params,
                    const int64_t *ts, size_t ts_len,
                    const double *values, size_t values_len,
                    float *out, size_t out_len, fc_error *err)
{
    const fc_schema_def *s = NULL;
    size_t n_windows;
    fc_status st = fc__check_params(params, &s, err);
    if (st != FC_OK) return st;
    if ((ts == NULL && ts_len > 0) || (values == NULL && values_len > 0))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (ts_len != (size_t)params->seq_len + params->stat_window - 1)
        return fc__fail(err, FC_ERR_LENGTH, -1, -1, -1);
    return windows_checked(s, params, ts, ts_len, values, values_len, 1, out, out_len,
                           &n_windows, err);
}

fc_status fc_windows(const fc_params *params,
                     const int64_t *ts, size_t ts_len,
                     const double *values, size_t values_len,
                     size_t stride,
                     float *out, size_t out_len, size_t *n_windows, fc_error *err)
{
    const fc_schema_def *s = NULL;
    fc_status st = fc__check_params(params, &s, err);
    if (st != FC_OK) return st;
    if (n_windows == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    return windows_checked(s, params, ts, ts_len, values, values_len, stride, out, out_len,
                           n_windows, err);
}
