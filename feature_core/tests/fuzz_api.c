/*
 * fuzz_api.c — libFuzzer target over the window, resampling and naming API of the feature
 * core (the placement factors have their own target, fuzz_place.c).
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *         -Ifeature_core/include feature_core/tests/fuzz_api.c feature_core/src/(all .c) -lm
 *   (feature_core/tests/fuzz.sh builds and runs it)
 *
 * The input bytes are decoded (missing bytes read as 0, so every input is valid) into
 * fc_params (schema ids including invalid ones, seq_len, stat_window, step_seconds,
 * fill_limit, a few center/scale entries), timestamps (on a grid, then perturbed: out of
 * order, duplicates, gaps, negative, milliseconds, extremes) and values (NaN, +-Inf,
 * negative, huge, tiny, subnormal, raw bit patterns), lengths that may disagree, NULL
 * pointers, strides and output capacities. Every public function is called; invariants:
 *
 *   - every status is a valid fc_status, and fc_error agrees with it and is in bounds;
 *   - input validation follows the documented policy: the first bad sample is reported,
 *     its timestamp first (outside 0..FC_TS_MAX -> TIME_RANGE, not increasing ->
 *     TIME_ORDER, not step apart -> TIME_GAP), then its channels in order (NaN -> MISSING,
 *     +-Inf -> INFINITE, < 0 -> NEGATIVE);
 *   - on FC_OK every float written is finite and nothing past the output is written;
 *   - fc_windows: n_windows == fc_windows_count, and every window is bit-identical to
 *     fc_window on the same samples (an FC_ERR_RANGE names the same step and feature);
 *   - fc_grid: t0 is on the step grid and the bins cover exactly min..max;
 *   - fc_resample: counts are the samples per bin, one-sample bins are copied exactly,
 *     empty bins carry the previous bin for at most fill_limit bins, else are the
 *     canonical NaN 0x7ff8000000000000;
 *   - names, hashes and status strings are consistent for any id.
 *
 * An invariant failure prints what broke and aborts, so libFuzzer saves the input.
 *
 * -DFC_FUZZ_STATS prints a histogram of the statuses each call returned (harness tuning).
 */
#include "feature_core.h"
#include "fuzz_common.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SAMPLES 48
#define MAX_BINS 8192

#ifdef FC_FUZZ_STATS
/* -DFC_FUZZ_STATS: histogram of statuses per call, printed at exit (harness tuning). */
static unsigned long stats[4][FC_STATUS_COUNT];
static const char *const stat_calls[4] = {"fc_windows", "fc_window", "fc_grid", "fc_resample"};
static void print_stats(void)
{
    int c, s;
    for (c = 0; c < 4; c++) {
        fprintf(stderr, "%-12s", stat_calls[c]);
        for (s = 0; s < FC_STATUS_COUNT; s++)
            if (stats[c][s]) fprintf(stderr, " %s=%lu", fc_status_name((fc_status)s) + 3, stats[c][s]);
        fprintf(stderr, "\n");
    }
}
static int stats_registered;
#define STAT(call, st)                                                                     \
    do {                                                                                   \
        if (!stats_registered) stats_registered = !atexit(print_stats);                     \
        if ((unsigned)(st) < FC_STATUS_COUNT) stats[call][st]++;                            \
    } while (0)
#else
#define STAT(call, st) ((void)0)
#endif

static int64_t to_i64(uint64_t u)
{
    int64_t x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* A double that is often interesting: specials, boundaries, small values, raw bits. */
static double any_double(rd *r)
{
    static const double table[] = {
        0.0, -0.0, 1.0, 0.5, 2.0, 100.0, 1e-300, 4.9406564584124654e-324, DBL_MIN,
        DBL_MIN / 2, 1e-45, 1.4e-45, FLT_MIN, 1e30, 1e15, 3.4028234663852886e38,
        3.4028235677973366e38, 3.5e38, 1e39, 1e300, DBL_MAX, -1.0, -1e-300, -DBL_MAX,
        -4.9406564584124654e-324, 0.1, 0.3, 86400.0, 1e-6, 123456.789, 7.0, 1e308,
    };
    uint8_t sel = u8(r);
    if (sel < 32) return table[sel];
    if (sel < 36) return NAN;
    if (sel == 36) return -NAN;
    if (sel == 37) return INFINITY;
    if (sel == 38) return -INFINITY;
    if (sel == 39) return from_dbits(0x7ff0000000000001ULL); /* signalling NaN */
    if (sel < 200) return (double)(sel - 40) * 0.25 + (double)u8(r) / 256.0;
    return from_dbits(u64(r));
}

static const fc_status all_status[] = {
    FC_OK, FC_ERR_NULL_POINTER, FC_ERR_UNKNOWN_SCHEMA, FC_ERR_BAD_PARAMS, FC_ERR_LENGTH,
    FC_ERR_OUTPUT_SIZE, FC_ERR_MISSING, FC_ERR_INFINITE, FC_ERR_NEGATIVE, FC_ERR_TIME_ORDER,
    FC_ERR_TIME_GAP, FC_ERR_RANGE, FC_ERR_TIME_RANGE, FC_ERR_ZERO_CAPACITY, FC_ERR_EDGE_ORDER,
    FC_ERR_EMPTY, FC_ERR_CONSTANT, FC_ERR_TREE_UNSUPPORTED, FC_ERR_TREE_SHAPE,
};

static int valid_status(fc_status s)
{
    size_t i;
    for (i = 0; i < sizeof all_status / sizeof all_status[0]; i++)
        if (all_status[i] == s) return 1;
    return 0;
}

/* fc_error must agree with the status and stay within the inputs. */
static void check_err(fc_status st, const fc_error *e, int64_t max_index, size_t C, size_t F)
{
    REQUIRE(valid_status(st));
    if (st == FC_OK) return;
    if (e->status != st || e->index < -1 || e->index >= max_index || e->channel < -1 ||
        (e->channel >= 0 && (size_t)e->channel >= C) || e->feature < -1 ||
        (e->feature >= 0 && (size_t)e->feature >= F))
        fprintf(stderr,
                "fuzz_api: status %s, fc_error {%s, index %" PRId64 ", channel %d, feature %d}, "
                "bounds: index < %" PRId64 ", channel < %zu, feature < %zu\n",
                fc_status_name(st), fc_status_name(e->status), e->index, (int)e->channel,
                (int)e->feature, max_index, C, F);
    REQUIRE(e->status == st);
    REQUIRE(e->index >= -1 && e->index < max_index);
    REQUIRE(e->channel >= -1 && (e->channel < 0 || (size_t)e->channel < C));
    REQUIRE(e->feature >= -1 && (e->feature < 0 || (size_t)e->feature < F));
}

static void reset_err(fc_error *e)
{
    e->status = (fc_status)77;
    e->index = 777;
    e->channel = 777;
    e->feature = 777;
}

/* Documented validation of a sample run (window inputs): first bad sample, timestamp
 * first, then channels. Returns the status and sets *idx / *ch. */
static fc_status ref_samples(const int64_t *ts, size_t n, const double *v, size_t C,
                             int64_t step, int ordered, int64_t *idx, int32_t *ch)
{
    size_t i, c;
    *ch = -1;
    for (i = 0; i < n; i++) {
        *idx = (int64_t)i;
        if (ts[i] < 0 || ts[i] > FC_TS_MAX) return FC_ERR_TIME_RANGE;
        if (ordered && i > 0) {
            if (ts[i] <= ts[i - 1]) return FC_ERR_TIME_ORDER;
            if (ts[i] - ts[i - 1] != step) return FC_ERR_TIME_GAP;
        }
        for (c = 0; c < C; c++) {
            double x = v[i * C + c];
            *ch = (int32_t)c;
            if (isnan(x)) return FC_ERR_MISSING;
            if (isinf(x)) return FC_ERR_INFINITE;
            if (x < 0.0) return FC_ERR_NEGATIVE;
        }
        *ch = -1;
    }
    *idx = -1;
    return FC_OK;
}

static int is_sample_status(fc_status s)
{
    return s == FC_ERR_MISSING || s == FC_ERR_INFINITE || s == FC_ERR_NEGATIVE ||
           s == FC_ERR_TIME_ORDER || s == FC_ERR_TIME_GAP || s == FC_ERR_TIME_RANGE;
}

/* A core status about samples must be what the documented policy says; a status past
 * validation (OK, RANGE, OUTPUT_SIZE) means the samples were all valid. */
static void check_validation(fc_status st, const fc_error *e, const int64_t *ts, size_t n,
                             const double *v, size_t C, int64_t step, int ordered)
{
    int64_t idx;
    int32_t ch;
    fc_status want = ref_samples(ts, n, v, C, step, ordered, &idx, &ch);
    if (is_sample_status(st)) {
        if (st != want || e->index != idx || e->channel != ch) {
            fprintf(stderr,
                    "fuzz_api: core says %s at %" PRId64 "/%d, documented policy says %s at "
                    "%" PRId64 "/%d\n",
                    fc_status_name(st), e->index, (int)e->channel, fc_status_name(want), idx,
                    (int)ch);
            fail("validation differs from the documented policy", __FILE__, __LINE__);
        }
        REQUIRE(e->feature == -1);
    } else if (st == FC_OK || st == FC_ERR_RANGE || st == FC_ERR_OUTPUT_SIZE) {
        if (want != FC_OK) {
            fprintf(stderr, "fuzz_api: core says %s but sample %" PRId64 " is %s\n",
                    fc_status_name(st), idx, fc_status_name(want));
            fail("bad sample not reported", __FILE__, __LINE__);
        }
    }
}

/* ---- names, hashes, status strings --------------------------------------------- */

static void fuzz_names(int32_t schema_raw, rd *r)
{
    fc_schema_id schema = (fc_schema_id)schema_raw;
    const char *name = fc_schema_name(schema);
    size_t C = fc_schema_channels(schema), F = fc_schema_features(schema), i;
    uint64_t h = 0;
    fc_status st = fc_schema_hash(schema, &h);
    size_t probe = (size_t)u64(r);
    fc_status s = (fc_status)(int)u32(r);
    const char *sn = fc_status_name(s), *sm = fc_status_message(s);

    REQUIRE(sn != NULL && sm != NULL && strlen(sn) > 0 && strlen(sm) > 0);
    REQUIRE(valid_status(s) == (strcmp(sn, "FC_ERR_UNKNOWN_STATUS") != 0));
    REQUIRE(fc_schema_hash(schema, NULL) == FC_ERR_NULL_POINTER);
    if (name == NULL) {
        REQUIRE(C == 0 && F == 0);
        REQUIRE(st == FC_ERR_UNKNOWN_SCHEMA);
        REQUIRE(fc_channel_name(schema, 0) == NULL && fc_feature_name(schema, 0) == NULL);
        REQUIRE(fc_feature_name(schema, probe) == NULL);
        return;
    }
    REQUIRE(schema == FC_SCHEMA_VM || schema == FC_SCHEMA_LINK || schema == FC_SCHEMA_METRIC);
    REQUIRE(C >= 1 && C <= FC_MAX_CHANNELS);
    REQUIRE(F == C + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES && F <= FC_MAX_FEATURES);
    REQUIRE(st == FC_OK);
    REQUIRE(h == (schema == FC_SCHEMA_VM     ? FC_SCHEMA_HASH_VM
                  : schema == FC_SCHEMA_LINK ? FC_SCHEMA_HASH_LINK
                                             : FC_SCHEMA_HASH_METRIC));
    for (i = 0; i < F + 2; i++) {
        const char *fn = fc_feature_name(schema, i), *cn = fc_channel_name(schema, i);
        REQUIRE((fn != NULL) == (i < F));
        REQUIRE((cn != NULL) == (i < C));
        if (cn != NULL) REQUIRE(strcmp(cn, fn) == 0);
    }
    REQUIRE((fc_feature_name(schema, probe) != NULL) == (probe < F));
    REQUIRE((fc_channel_name(schema, probe) != NULL) == (probe < C));
}

/* ---- the fuzz target ------------------------------------------------------------ */

typedef struct input {
    fc_params p;
    fc_status pstatus;
    size_t C, F; /* of the schema, or of VM when unknown (for buffer shapes) */
    size_t n;
    int64_t *ts;
    size_t ts_len;
    double *v;
    size_t v_len;
    int null_ts, null_v, null_out, null_err;
} input;

static int32_t pick_schema(rd *r)
{
    static const int32_t ids[] = {1, 2, 1, 2, 1, 2, 1, 2, 0, 3, -1, INT32_MIN, INT32_MAX, 255};
    return ids[u8(r) % (sizeof ids / sizeof ids[0])];
}

static void decode_params(rd *r, fc_params *p)
{
    uint8_t b;
    int k, nk;
    static const int64_t steps[] = {1, 60, 300, 3600, 86400, 7, 900};
    p->schema = pick_schema(r);
    b = u8(r);
    if (b < 220) p->seq_len = 1u + b % 6u;
    else {
        static const uint32_t t[] = {0, FC_MAX_LENGTH, FC_MAX_LENGTH + 1, UINT32_MAX};
        p->seq_len = b < 252 ? t[b % 4] : u32(r);
    }
    b = u8(r);
    if (b < 220) p->stat_window = 2u + b % 7u;
    else {
        static const uint32_t t[] = {0, 1, FC_MAX_STAT_WINDOW, FC_MAX_STAT_WINDOW + 1,
                                     FC_MAX_LENGTH, UINT32_MAX, FC_MAX_STAT_WINDOW - 1, 1000};
        p->stat_window = b < 250 ? t[b % 8] : u32(r);
    }
    b = u8(r);
    if (b < 220) p->step_seconds = steps[b % 7];
    else {
        static const int64_t t[] = {0, -1, 86401, INT64_MIN, INT64_MAX, -300};
        p->step_seconds = b < 250 ? t[b % 6] : to_i64(u64(r));
    }
    b = u8(r);
    if (b < 220) p->fill_limit = b % 4u;
    else {
        static const uint32_t t[] = {FC_MAX_LENGTH, FC_MAX_LENGTH + 1, UINT32_MAX};
        p->fill_limit = b < 250 ? t[b % 3] : u32(r);
    }
    nk = u8(r) % 5;
    for (k = 0; k < nk; k++) {
        uint8_t which = u8(r);
        size_t f = which % FC_MAX_FEATURES;
        double x = any_double(r);
        if (which & 0x80) {
            p->scale[f] = x;
        } else {
            p->center[f] = x;
        }
    }
}

/* a + b with two's complement wrap-around (no signed overflow in the harness) */
static int64_t add_wrap(int64_t a, int64_t b)
{
    return to_i64((uint64_t)a + (uint64_t)b);
}

static int64_t special_ts(rd *r, int64_t base)
{
    static const int64_t t[] = {-1, -300, INT64_MIN, INT64_MAX, FC_TS_MAX, FC_TS_MAX + 1, 0,
                                1700000000000LL, 1};
    uint8_t b = u8(r);
    if (b < 9) return t[b];
    if (b < 200) return add_wrap(base, (int64_t)b - 100);
    return to_i64(u64(r));
}

static void decode_samples(rd *r, input *in)
{
    static const int64_t starts[] = {0, 1704067200, 1700000000, FC_TS_MAX - 3000,
                                     86400 * 4, 1364691600, -600, 1700000000000LL};
    int64_t start, step = in->p.step_seconds;
    size_t i, c, n, k, nk;
    uint8_t b, mode;
    double scale;
    static const double scales[] = {1.0, 1e-30, 1e30, 1e300, 1e-300, 3e38, 1e15, 0.0};

    if (step < 1 || step > 86400) step = 300;
    n = u8(r);
    if (n >= 254) {
        /* a long trace: stat windows up to FC_MAX_STAT_WINDOW, runs longer than the core's
         * target buffer (2 * FC_MAX_STAT_WINDOW samples) */
        n = (size_t)FC_MAX_STAT_WINDOW + (size_t)u8(r) * 12u;
    } else {
        n = n % MAX_SAMPLES;
    }
    in->n = n;
    b = u8(r);
    start = b < 240 ? starts[b % 8] : to_i64(u64(r));
    in->ts = malloc((n ? n : 1) * sizeof *in->ts);
    for (i = 0; i < n; i++) {
        /* start + i * step without signed overflow (wraps, implementation-defined) */
        in->ts[i] = to_i64((uint64_t)start + (uint64_t)i * (uint64_t)step);
    }
    nk = u8(r) % 5;
    for (k = 0; k < nk && n > 0; k++) {
        size_t at = u8(r) % n;
        uint8_t kind = u8(r) % 8;
        switch (kind) {
        case 0: in->ts[at] = add_wrap(in->ts[at], 1); break;
        case 1: in->ts[at] = add_wrap(in->ts[at], -1); break;
        case 2:
            if (at > 0) {
                int64_t t = in->ts[at];
                in->ts[at] = in->ts[at - 1];
                in->ts[at - 1] = t;
            }
            break;
        case 3:
            if (at > 0) in->ts[at] = in->ts[at - 1];
            break;
        case 4: in->ts[at] = add_wrap(in->ts[at], step); break;
        default: in->ts[at] = special_ts(r, in->ts[at]); break;
        }
    }

    in->C = in->C ? in->C : 6;
    mode = u8(r);
    scale = scales[mode % 8];
    in->v_len = n * in->C;
    b = u8(r);
    if (b >= 230) {
        static const int d[] = {-1, 1, -6, 6, -4, 4};
        long long vl = (long long)in->v_len + d[b % 6];
        if (vl < 0) vl = 0;
        in->v_len = (size_t)vl;
    }
    in->v = malloc((in->v_len ? in->v_len : 1) * sizeof *in->v);
    for (i = 0; i < in->v_len; i++) {
        c = i % in->C;
        if (mode < 192) {
            in->v[i] = scale * (double)((i / in->C * 7 + c * 3 + mode) % 13);
            if (mode & 1) in->v[i] = in->v[i] + (double)(i / in->C) * 0.5; /* ramp */
        } else {
            in->v[i] = any_double(r);
        }
    }
    nk = u8(r) % 4;
    for (k = 0; k < nk && in->v_len > 0; k++) {
        size_t at = (size_t)u8(r) * 7 % in->v_len;
        in->v[at] = any_double(r);
    }
    in->ts_len = n;
    b = u8(r);
    in->null_ts = b == 250;
    in->null_v = b == 251;
    in->null_out = b == 252;
    in->null_err = b >= 253;
}

static void fuzz_window_calls(rd *r, input *in)
{
    const fc_params *p = &in->p;
    size_t C = in->C, F = C + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES;
    size_t need = fc_window_input_len(p), per = fc_window_output_len(p);
    size_t stride, cap, olen, count, k, i;
    float *out, *one;
    fc_error e, e1;
    fc_status st, st1;
    uint8_t b;
    const int64_t *ts = in->null_ts ? NULL : in->ts;
    const double *v = in->null_v ? NULL : in->v;
    const int ordered = 1;

    REQUIRE((need == 0) == (in->pstatus != FC_OK));
    REQUIRE((per == 0) == (in->pstatus != FC_OK));
    if (in->pstatus == FC_OK) {
        REQUIRE(need == (size_t)p->seq_len + p->stat_window - 1);
        REQUIRE(per == (size_t)p->seq_len * F);
    }

    b = u8(r);
    stride = b < 220 ? 1u + b % 7u : (b < 240 ? 0 : (b < 250 ? 1000 : SIZE_MAX));
    count = fc_windows_count(p, in->ts_len, stride);
    if (in->pstatus != FC_OK || stride == 0 || in->ts_len < need) REQUIRE(count == 0);
    else REQUIRE(count == (in->ts_len - need) / stride + 1);

    /* Output capacity: exact, or a little off; never more than allocated. */
    cap = per * count;
    if (per == 0 || count > ((size_t)1 << 21) / per) cap = 0;
    b = u8(r);
    olen = cap;
    if (b >= 240 && olen > 0) olen -= 1;
    else if (b >= 230) olen = 0;
    out = malloc((cap + 4) * sizeof *out);
    for (i = 0; i < cap + 4; i++) out[i] = -77.0f;

    /* fc_windows */
    {
        size_t nw = 12345;
        reset_err(&e);
        st = fc_windows(p, ts, in->ts_len, v, in->v_len, stride, in->null_out ? NULL : out,
                        in->null_out ? (olen ? olen : 1) : olen, &nw,
                        in->null_err ? NULL : &e);
        REQUIRE(valid_status(st));
        STAT(0, st);
        if (!in->null_err) {
            check_err(st, &e, (int64_t)in->ts_len, C, F);
            if (in->pstatus != FC_OK) REQUIRE(st == in->pstatus);
            if (st != FC_OK && ts != NULL && v != NULL && in->v_len == in->ts_len * C)
                check_validation(st, &e, in->ts, in->ts_len, in->v, C, p->step_seconds, ordered);
        }
        if (st == FC_OK) {
            REQUIRE(nw == count);
            REQUIRE(!in->null_out || count == 0);
            for (i = 0; i < nw * per; i++) REQUIRE(isfinite(out[i]));
            for (i = nw * per; i < cap + 4; i++) REQUIRE(fbits(out[i]) == fbits(-77.0f));
            if (!in->null_err)
                check_validation(st, &e, in->ts, in->ts_len, in->v, C, p->step_seconds, ordered);
            /* every window equals fc_window on its slice */
            one = malloc((per ? per : 1) * sizeof *one);
            for (k = 0; k < nw; k++) {
                /* the first 8, the last 4 and every (nw/8)-th window */
                size_t off = k * stride, every = nw / 8 > 1 ? nw / 8 : 1;
                if (!(k < 8 || k + 4 >= nw || k % every == 0)) continue;
                reset_err(&e1);
                st1 = fc_window(p, in->ts + off, need, in->v + off * C, need * C, one, per, &e1);
                REQUIRE(st1 == FC_OK);
                REQUIRE(memcmp(one, out + k * per, per * sizeof(float)) == 0);
            }
            free(one);
        } else if (st == FC_ERR_RANGE && !in->null_err) {
            /* the first window computing that step fails on it the same way */
            int64_t gi = e.index;
            size_t W = p->stat_window, T = p->seq_len;
            REQUIRE(gi >= (int64_t)W - 1 && e.feature >= 0 && e.channel == -1);
            one = malloc((per ? per : 1) * sizeof *one);
            for (k = 0; k * stride + W - 1 <= (size_t)gi; k++) {
                size_t off = k * stride;
                if ((size_t)gi <= off + W - 1 + T - 1) {
                    reset_err(&e1);
                    st1 = fc_window(p, in->ts + off, need, in->v + off * C, need * C, one, per,
                                    &e1);
                    REQUIRE(st1 == FC_ERR_RANGE);
                    REQUIRE(e1.index == gi - (int64_t)off && e1.feature == e.feature);
                    break;
                }
                if (stride > (size_t)gi) break;
            }
            free(one);
        }
    }

    /* fc_window on the first fc_window_input_len samples (or on everything) */
    {
        size_t n1 = (u8(r) & 1) && need > 0 && need <= in->ts_len ? need : in->ts_len;
        size_t v1 = n1 == in->ts_len ? in->v_len : n1 * C;
        size_t cap1 = per <= 100000 ? per : 0, ol1 = cap1;
        float *o1 = malloc((cap1 + 4) * sizeof *o1);
        if (v1 > in->v_len) v1 = in->v_len;
        if (u8(r) >= 240 && ol1 > 0) ol1--;
        for (i = 0; i < cap1 + 4; i++) o1[i] = -77.0f;
        reset_err(&e1);
        st1 = fc_window(p, ts, n1, v, v1, in->null_out ? NULL : o1,
                        in->null_out ? (ol1 ? ol1 : 1) : ol1, in->null_err ? NULL : &e1);
        REQUIRE(valid_status(st1));
        STAT(1, st1);
        if (!in->null_err) {
            check_err(st1, &e1, (int64_t)n1, C, F);
            if (in->pstatus != FC_OK) REQUIRE(st1 == in->pstatus);
            if (st1 != FC_OK && ts != NULL && v != NULL && v1 == n1 * C && n1 == need)
                check_validation(st1, &e1, in->ts, n1, in->v, C, p->step_seconds, ordered);
        }
        if (in->pstatus == FC_OK && ts != NULL && v != NULL && n1 != need)
            REQUIRE(st1 == FC_ERR_LENGTH);
        if (st1 == FC_OK) {
            REQUIRE(n1 == need && v1 == need * C && !in->null_out);
            for (i = 0; i < per; i++) REQUIRE(isfinite(o1[i]));
            for (i = per; i < cap1 + 4; i++) REQUIRE(fbits(o1[i]) == fbits(-77.0f));
        }
        /* one window of exactly the right length: fc_windows says the same */
        if (n1 == need && need > 0 && !in->null_out && !in->null_err && ol1 == per && ts && v) {
            size_t nw = 0;
            float *o2 = malloc((per ? per : 1) * sizeof *o2);
            reset_err(&e);
            st = fc_windows(p, in->ts, n1, in->v, v1, 1 + (size_t)u8(r), o2, per, &nw, &e);
            REQUIRE(st == st1);
            if (st != FC_OK)
                REQUIRE(e.index == e1.index && e.channel == e1.channel &&
                        e.feature == e1.feature);
            else
                REQUIRE(nw == 1 && memcmp(o1, o2, per * sizeof(float)) == 0);
            free(o2);
        }
        free(o1);
    }
    free(out);
}

static void fuzz_grid_resample(rd *r, input *in)
{
    const fc_params *p = &in->p;
    size_t C = in->C, i, c, b, cap, ccap;
    int64_t t0 = -5;
    size_t n_bins = 12345, nb;
    fc_error e;
    fc_status st;
    const int64_t *ts = in->null_ts ? NULL : in->ts;
    const double *v = in->null_v ? NULL : in->v;
    double *out;
    uint32_t *counts;
    uint8_t sel;

    /* fc_grid */
    reset_err(&e);
    st = fc_grid(p, ts, in->ts_len, &t0, &n_bins, in->null_err ? NULL : &e);
    REQUIRE(valid_status(st));
    STAT(2, st);
    if (!in->null_err) check_err(st, &e, (int64_t)in->ts_len, 0, C + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES);
    if (in->pstatus != FC_OK) REQUIRE(st == in->pstatus);
    if (st == FC_OK) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (i = 0; i < in->ts_len; i++) {
            REQUIRE(in->ts[i] >= 0 && in->ts[i] <= FC_TS_MAX);
            if (in->ts[i] < lo) lo = in->ts[i];
            if (in->ts[i] > hi) hi = in->ts[i];
        }
        REQUIRE(in->ts_len > 0);
        REQUIRE(t0 >= 0 && t0 % p->step_seconds == 0 && t0 <= lo && lo - t0 < p->step_seconds);
        REQUIRE(n_bins == (size_t)((hi - t0) / p->step_seconds) + 1);
    } else if (st == FC_ERR_TIME_RANGE && !in->null_err) {
        int64_t idx;
        int32_t ch;
        REQUIRE(ref_samples(in->ts, in->ts_len, NULL, 0, 0, 0, &idx, &ch) == FC_ERR_TIME_RANGE);
        REQUIRE(e.index == idx);
    }

    /* fc_resample over that grid, or a fuzzed one */
    sel = u8(r);
    if (st != FC_OK || sel >= 200) {
        static const int64_t t0s[] = {0, -1, FC_TS_MAX, FC_TS_MAX + 1, 1704067200, 300, INT64_MIN};
        t0 = t0s[sel % 7];
        n_bins = sel >= 250 ? SIZE_MAX : (size_t)u8(r);
    }
    if (n_bins > MAX_BINS) {
        cap = 0;
        ccap = 0;
    } else {
        cap = n_bins * C;
        ccap = n_bins;
    }
    nb = n_bins;
    {
        uint8_t sh = u8(r);
        size_t olen = cap, clen = ccap;
        if (sh >= 245 && olen > 0) olen--;
        if (sh >= 235 && sh < 245 && clen > 0) clen--;
        out = malloc((cap + 2) * sizeof *out);
        counts = malloc((ccap + 2) * sizeof *counts);
        for (i = 0; i < cap + 2; i++) out[i] = -77.0;
        for (i = 0; i < ccap + 2; i++) counts[i] = 0xdeadbeefu;
        reset_err(&e);
        st = fc_resample(p, t0, nb, ts, in->ts_len, v, in->v_len, in->null_out ? NULL : out,
                         in->null_out ? (olen ? olen : 1) : olen, counts, clen,
                         in->null_err ? NULL : &e);
        REQUIRE(valid_status(st));
        STAT(3, st);
        if (in->pstatus != FC_OK) REQUIRE(st == in->pstatus);
        if (!in->null_err) {
            size_t bound = in->ts_len > nb ? in->ts_len : nb;
            int64_t max_index = bound > (size_t)INT64_MAX ? INT64_MAX : (int64_t)bound;
            check_err(st, &e, max_index, C, C + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES);
            if (is_sample_status(st) && ts && v && in->v_len == in->ts_len * C) {
                if (e.index >= 0) check_validation(st, &e, in->ts, in->ts_len, in->v, C, 0, 0);
                else REQUIRE(st == FC_ERR_TIME_RANGE && (t0 < 0 || t0 > FC_TS_MAX));
            }
            if (st == FC_ERR_RANGE) REQUIRE(e.index >= 0 && (size_t)e.index < nb && e.channel >= 0);
        }
        if (st == FC_OK) {
            size_t last = 0;
            int seen = 0;
            uint64_t total = 0;
            REQUIRE(!in->null_out || nb == 0);
            REQUIRE(t0 >= 0 && t0 <= FC_TS_MAX);
            /* our own bin counts, and the first sample of each bin */
            uint32_t *want = calloc(nb ? nb : 1, sizeof *want);
            size_t *first = malloc((nb ? nb : 1) * sizeof *first);
            for (i = 0; i < in->ts_len; i++) {
                uint64_t bin;
                if (in->ts[i] < t0) continue;
                bin = (uint64_t)(in->ts[i] - t0) / (uint64_t)p->step_seconds;
                if (bin >= nb) continue;
                if (want[bin]++ == 0) first[bin] = i;
            }
            for (b = 0; b < nb; b++) {
                REQUIRE(counts[b] == want[b]);
                total += want[b];
            }
            REQUIRE(total <= in->ts_len);
            for (b = 0; b < nb; b++) {
                const double *row = out + b * C;
                if (counts[b] > 0) {
                    for (c = 0; c < C; c++) REQUIRE(isfinite(row[c]) && !(row[c] < 0.0));
                    if (counts[b] == 1) {
                        i = first[b];
                        /* exact copy (a -0.0 sample becomes +0.0: sums start at +0.0) */
                        for (c = 0; c < C; c++)
                            REQUIRE(dbits(row[c]) == dbits(in->v[i * C + c]) ||
                                    (row[c] == 0.0 && in->v[i * C + c] == 0.0));
                    }
                    seen = 1;
                    last = b;
                } else if (seen && b - last <= p->fill_limit) {
                    REQUIRE(memcmp(row, row - C, C * sizeof(double)) == 0);
                } else {
                    for (c = 0; c < C; c++) REQUIRE(dbits(row[c]) == 0x7ff8000000000000ULL);
                }
            }
            free(want);
            free(first);
            for (i = nb * C; i < cap + 2; i++) REQUIRE(dbits(out[i]) == dbits(-77.0));
            for (i = nb; i < ccap + 2; i++) REQUIRE(counts[i] == 0xdeadbeefu);
        }
        free(out);
        free(counts);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r;
    input in;
    fc_error e;
    size_t f;
    r.p = data;
    r.n = size;
    memset(&in, 0, sizeof in);

    /* params: start from the documented defaults of a valid schema, then fuzz */
    fc_params_init(&in.p, FC_SCHEMA_VM);
    for (f = 0; f < FC_MAX_FEATURES; f++) {
        in.p.center[f] = 0.0;
        in.p.scale[f] = 1.0;
    }
    decode_params(&r, &in.p);
    in.C = fc_schema_channels((fc_schema_id)in.p.schema);
    in.F = fc_schema_features((fc_schema_id)in.p.schema);
    {
        fc_params q;
        fc_status si = fc_params_init(&q, (fc_schema_id)in.p.schema);
        REQUIRE(si == (in.C ? FC_OK : FC_ERR_UNKNOWN_SCHEMA));
    }
    reset_err(&e);
    in.pstatus = fc_params_check(&in.p, &e);
    REQUIRE(valid_status(in.pstatus));
    REQUIRE(fc_params_check(&in.p, NULL) == in.pstatus);
    REQUIRE(in.pstatus == FC_OK || in.pstatus == FC_ERR_UNKNOWN_SCHEMA ||
            in.pstatus == FC_ERR_BAD_PARAMS);
    if (in.pstatus != FC_OK) {
        REQUIRE(e.status == in.pstatus && e.index == -1 && e.channel == -1);
        REQUIRE(e.feature >= -1 && (e.feature < 0 || (size_t)e.feature < in.F));
        if (in.pstatus == FC_ERR_UNKNOWN_SCHEMA) REQUIRE(in.C == 0);
    }

    fuzz_names(in.p.schema, &r);
    decode_samples(&r, &in);
    if (fc_schema_channels((fc_schema_id)in.p.schema) == 0) in.C = 6; /* unknown: any shape */

    fuzz_window_calls(&r, &in);
    fuzz_grid_resample(&r, &in);

    free(in.ts);
    free(in.v);
    return 0;
}
