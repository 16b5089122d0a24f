/*
 * fuzz_place.c — libFuzzer target over the placement factors (fc_place_*).
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *         -Ifeature_core/include feature_core/tests/fuzz_place.c feature_core/src/(all .c) -lm
 *   (feature_core/tests/fuzz.sh builds and runs it beside fuzz_api)
 *
 * The input bytes are decoded (missing bytes read as 0, so every input is valid) into
 * fc_place_params (history and step_seconds including invalid ones), a number of hosts, the
 * seven input arrays (valid values at a fuzzed magnitude, then edits that plant NaN, +-Inf,
 * negative, zero, -0.0, huge, tiny, subnormal or raw bit patterns anywhere), lengths that
 * may be off by one or 0, NULL pointers and output capacities. Invariants:
 *
 *   - every status is a valid fc_status, fc_error agrees with it and is in bounds (index a
 *     host or -1, channel an input column, feature a factor);
 *   - value validation follows the documented policy: VM arrays first, then host by host
 *     (capacity, allocated, usage, info), the first bad value in order is reported with its
 *     host and column (NaN -> MISSING, +-Inf -> INFINITE, < 0 -> NEGATIVE, a capacity of
 *     0 -> ZERO_CAPACITY);
 *   - on FC_OK every factor is finite, correlations and cosines are in [-1, 1], fractions
 *     and counts in range, nothing past n_hosts * FC_PLACE_FACTORS is written, and every
 *     row is bit-identical to a call with that host alone;
 *   - FC_ERR_RANGE names a host whose single-host call fails on the same factor;
 *   - the names, the hash and fc_place_output_len are consistent.
 *
 * An invariant failure prints what broke and aborts, so libFuzzer saves the input.
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

#define NR FC_PLACE_RESOURCES
#define NF FC_PLACE_FACTORS
#define NVI FC_PLACE_VM_INFO
#define NHI FC_PLACE_HOST_INFO
#define MAX_HOSTS 48
#define MAX_HISTORY 300

static double any_double(rd *r)
{
    static const double table[] = {
        0.0, -0.0, 1.0, 0.5, 2.0, 100.0, 1e-300, 4.9406564584124654e-324, DBL_MIN,
        1e-45, FLT_MIN, 1e30, 1e15, 3.4028234663852886e38, 3.5e38, 1e39, 1e300, DBL_MAX,
        -1.0, -1e-300, -DBL_MAX, -4.9406564584124654e-324, 0.1, 7.0, 1e308, 83200.0,
        262144.0, 1250000.0, 0.25, 3.0, 12.0, 1e-30,
    };
    uint8_t sel = u8(r);
    if (sel < 32) return table[sel];
    if (sel < 36) return NAN;
    if (sel == 36) return -NAN;
    if (sel == 37) return INFINITY;
    if (sel == 38) return -INFINITY;
    if (sel == 39) return from_dbits(0x7ff0000000000001ULL);
    if (sel < 200) return (double)(sel - 40) * 0.25 + (double)u8(r) / 256.0;
    return from_dbits(u64(r));
}

static const fc_status all_status[] = {
    FC_OK, FC_ERR_NULL_POINTER, FC_ERR_UNKNOWN_SCHEMA, FC_ERR_BAD_PARAMS, FC_ERR_LENGTH,
    FC_ERR_OUTPUT_SIZE, FC_ERR_MISSING, FC_ERR_INFINITE, FC_ERR_NEGATIVE, FC_ERR_TIME_ORDER,
    FC_ERR_TIME_GAP, FC_ERR_RANGE, FC_ERR_TIME_RANGE, FC_ERR_ZERO_CAPACITY,
};

static int valid_status(fc_status s)
{
    size_t i;
    for (i = 0; i < sizeof all_status / sizeof all_status[0]; i++)
        if (all_status[i] == s) return 1;
    return 0;
}

/* Column code of each array's first column (fc_place_column_name order). */
static const int32_t col0[7] = {0, 4, 8, 10, 14, 18, 22};
static const size_t ncols[7] = {NR, NR, NVI, NR, NR, NR, NHI};

typedef struct input {
    fc_place_params p;
    int pvalid;
    size_t n, H;
    double *a[7];
    size_t len[7];  /* the lengths passed */
    size_t want[7]; /* the lengths required */
    int null_a[7];
    int null_out, null_err;
} input;

/* The documented validation, reimplemented: status, host and column of the first bad
 * value, in order. Only called when every length is right. */
static fc_status ref_values(const input *in, int64_t *host, int32_t *col)
{
    size_t k, h, i;
    static const size_t host_arrays[4] = {3, 4, 5, 6};
    for (k = 0; k < 3 + 4 * in->n; k++) {
        size_t arr, off, cnt;
        if (k < 3) {
            arr = k;
            off = 0;
            cnt = in->want[arr];
            *host = -1;
        } else {
            h = (k - 3) / 4;
            arr = host_arrays[(k - 3) % 4];
            cnt = in->want[arr] / in->n;
            off = h * cnt;
            *host = (int64_t)h;
        }
        for (i = 0; i < cnt; i++) {
            double v = in->a[arr][off + i];
            *col = col0[arr] + (int32_t)(i % ncols[arr]);
            if (isnan(v)) return FC_ERR_MISSING;
            if (isinf(v)) return FC_ERR_INFINITE;
            if (v < 0.0) return FC_ERR_NEGATIVE;
            if (arr == 3 && v == 0.0) return FC_ERR_ZERO_CAPACITY;
        }
    }
    *host = -1;
    *col = -1;
    return FC_OK;
}

static fc_status call(const input *in, size_t n, size_t host0, float *out, size_t out_len,
                      fc_error *e)
{
    /* host arrays start at host0 when n is a single-host slice */
    size_t per[7], k;
    const double *p[7];
    for (k = 0; k < 7; k++) {
        per[k] = in->n ? in->want[k] / (in->n ? in->n : 1) : 0;
        p[k] = in->null_a[k] ? NULL : in->a[k];
    }
    if (n != in->n) {
        return fc_place_factors(&in->p, p[0], in->len[0], p[1], in->len[1], p[2], in->len[2], n,
                                in->a[3] + host0 * per[3], per[3], in->a[4] + host0 * per[4], per[4],
                                in->a[5] + host0 * per[5], per[5], in->a[6] + host0 * per[6], per[6],
                                out, out_len, e);
    }
    return fc_place_factors(&in->p, p[0], in->len[0], p[1], in->len[1], p[2], in->len[2], n,
                            p[3], in->len[3], p[4], in->len[4], p[5], in->len[5], p[6], in->len[6],
                            out, out_len, e);
}

static void check_names(rd *r)
{
    size_t probe = (size_t)u64(r);
    uint64_t h = 0;
    REQUIRE(fc_place_factor_count() == NF);
    REQUIRE((fc_place_factor_name(probe) != NULL) == (probe < NF));
    REQUIRE((fc_place_column_name(probe) != NULL) == (probe < FC_PLACE_COLUMNS));
    REQUIRE((fc_place_resource_name(probe) != NULL) == (probe < NR));
    REQUIRE((fc_place_host_info_name(probe) != NULL) == (probe < NHI));
    REQUIRE((fc_place_vm_info_name(probe) != NULL) == (probe < NVI));
    REQUIRE(fc_place_output_len(probe) == (probe > SIZE_MAX / NF ? 0 : probe * NF));
    REQUIRE(fc_place_hash(&h) == FC_OK && h == FC_PLACE_HASH);
    REQUIRE(fc_place_hash(NULL) == FC_ERR_NULL_POINTER);
}

static int factor(const char *name)
{
    size_t f;
    for (f = 0; f < NF; f++)
        if (strcmp(fc_place_factor_name(f), name) == 0) return (int)f;
    fail(name, __FILE__, __LINE__);
    return -1;
}

/* Range checks of an FC_OK row. */
static void check_row(const float *row)
{
    static int init, corr0, frac0, over, dom, empty, cosine;
    size_t r;
    if (!init) {
        corr0 = factor("demand_corr_cpu");
        frac0 = factor("overload_frac_after_cpu");
        over = factor("resources_over_after");
        dom = factor("dominant_resource");
        empty = factor("host_empty");
        cosine = factor("cosine_alignment");
        init = 1;
    }
    for (r = 0; r < NF; r++) REQUIRE(isfinite(row[r]));
    for (r = 0; r < NR; r++) {
        REQUIRE(row[corr0 + (int)r] >= -1.0f && row[corr0 + (int)r] <= 1.0f);
        REQUIRE(row[frac0 + (int)r] >= 0.0f && row[frac0 + (int)r] <= 1.0f);
    }
    REQUIRE(row[cosine] >= -1.0f && row[cosine] <= 1.0f);
    REQUIRE(row[over] >= 0.0f && row[over] <= 4.0f && row[over] == floorf(row[over]));
    REQUIRE(row[dom] >= 0.0f && row[dom] <= 3.0f && row[dom] == floorf(row[dom]));
    REQUIRE(row[empty] == 0.0f || row[empty] == 1.0f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    input in;
    fc_error e, e1;
    fc_status st, st1, want;
    size_t k, i, need, cap, olen;
    float *out, one[NF];
    uint8_t b;
    double scale;
    static const double scales[] = {1.0, 1e-30, 1e30, 1e300, 1e-300, 1e-310, 1e15, 1000.0};

    memset(&in, 0, sizeof in);
    check_names(&r);

    /* params */
    fc_place_params_init(&in.p);
    b = u8(&r);
    if (b < 230) in.p.history = 2u + b % 20u;
    else {
        static const uint32_t t[] = {0, 1, FC_MAX_STAT_WINDOW + 1, UINT32_MAX, 288, MAX_HISTORY};
        in.p.history = t[b % 6];
    }
    b = u8(&r);
    if (b < 230) {
        static const int64_t t[] = {300, 60, 1, 86400, 7};
        in.p.step_seconds = t[b % 5];
    } else {
        static const int64_t t[] = {0, -1, 86401, INT64_MIN, INT64_MAX};
        in.p.step_seconds = t[b % 5];
    }
    in.pvalid = in.p.history >= 2 && in.p.history <= FC_MAX_STAT_WINDOW &&
                in.p.step_seconds >= 1 && in.p.step_seconds <= 86400;
    REQUIRE((fc_place_params_check(&in.p, NULL) == FC_OK) == in.pvalid);
    in.H = in.p.history <= MAX_HISTORY ? in.p.history : 12;
    b = u8(&r);
    in.n = b < 240 ? b % 9u : MAX_HOSTS - (b % 8u);

    /* arrays: valid values at a magnitude, then edits */
    in.want[0] = NR;
    in.want[1] = in.H * NR;
    in.want[2] = NVI;
    in.want[3] = in.n * NR;
    in.want[4] = in.n * NR;
    in.want[5] = in.n * in.H * NR;
    in.want[6] = in.n * NHI;
    scale = scales[u8(&r) % 8];
    b = u8(&r);
    for (k = 0; k < 7; k++) {
        size_t n = in.want[k];
        in.a[k] = malloc((n + 2) * sizeof(double));
        for (i = 0; i < n + 2; i++) {
            double base = (double)((i * 7 + k * 3 + b) % 13);
            if (k == 3) base = 13.0 + base * 3.0;          /* capacities > 0 */
            if (k == 2 || k == 6) in.a[k][i] = base;       /* counts, info: unscaled */
            else in.a[k][i] = (b & 1 ? base : base * 0.37 + 0.5) * scale;
        }
        if (k == 3) /* a capacity can underflow to 0 at tiny scales: keep it > 0 */
            for (i = 0; i < n; i++)
                if (!(in.a[k][i] > 0.0)) in.a[k][i] = DBL_MIN;
        in.len[k] = n;
    }
    for (k = u8(&r) % 6; k > 0; k--) {
        size_t arr = u8(&r) % 7;
        if (in.want[arr] == 0) continue;
        in.a[arr][(size_t)u8(&r) * 13 % in.want[arr]] = any_double(&r);
    }
    b = u8(&r);
    if (b >= 235) { /* one length off */
        size_t arr = b % 7;
        static const int d[] = {-1, 1, -4, 4};
        long long l = (long long)in.len[arr] + d[u8(&r) % 4];
        in.len[arr] = l < 0 ? 0 : (size_t)l;
        if (in.len[arr] > in.want[arr] + 2) in.len[arr] = in.want[arr] + 2;
    }
    b = u8(&r);
    if (b >= 245) in.null_a[b % 7] = 1;
    b = u8(&r);
    in.null_out = b == 255;
    in.null_err = b == 254;

    need = in.n * NF;
    cap = need;
    b = u8(&r);
    olen = b >= 245 && cap > 0 ? cap - 1 : (b >= 240 ? 0 : cap);
    out = malloc((cap + 4) * sizeof *out);
    for (i = 0; i < cap + 4; i++) out[i] = -77.0f;

    e.status = (fc_status)77;
    e.index = e.channel = e.feature = 777;
    st = call(&in, in.n, 0, in.null_out ? NULL : out, in.null_out ? (olen ? olen : 1) : olen,
              in.null_err ? NULL : &e);
    REQUIRE(valid_status(st));
    REQUIRE(st != FC_ERR_UNKNOWN_SCHEMA && st != FC_ERR_TIME_ORDER && st != FC_ERR_TIME_GAP &&
            st != FC_ERR_TIME_RANGE);
    if (!in.pvalid) REQUIRE(st == FC_ERR_BAD_PARAMS);
    if (!in.null_err && st != FC_OK) {
        REQUIRE(e.status == st);
        REQUIRE(e.index >= -1 && e.index < (int64_t)(in.n ? in.n : 1));
        REQUIRE(e.channel >= -1 && e.channel < FC_PLACE_COLUMNS);
        REQUIRE(e.feature >= -1 && e.feature < NF);
        REQUIRE((e.feature >= 0) == (st == FC_ERR_RANGE));
    }
    if (in.pvalid) {
        int lengths_ok = 1, nulls = 0;
        for (k = 0; k < 7; k++) {
            lengths_ok = lengths_ok && in.len[k] == in.want[k];
            nulls = nulls || (in.null_a[k] && in.len[k] > 0);
        }
        if (nulls) REQUIRE(st == FC_ERR_NULL_POINTER);
        else if (!lengths_ok) REQUIRE(st == FC_ERR_LENGTH);
        else {
            int64_t host;
            int32_t col;
            want = ref_values(&in, &host, &col);
            if (want != FC_OK) {
                if (st != want || (!in.null_err && (e.index != host || e.channel != col)))
                    fprintf(stderr, "fuzz_place: core %s at host %" PRId64 " column %d, policy %s at %" PRId64 " %d\n",
                            fc_status_name(st), e.index, (int)e.channel, fc_status_name(want), host, (int)col);
                REQUIRE(st == want);
                if (!in.null_err) REQUIRE(e.index == host && e.channel == col);
            } else if (in.null_out && in.n > 0) {
                REQUIRE(st == FC_ERR_NULL_POINTER);
            } else if (olen < need) {
                REQUIRE(st == FC_ERR_OUTPUT_SIZE);
            } else {
                REQUIRE(st == FC_OK || st == FC_ERR_RANGE);
            }
        }
    }
    if (st == FC_OK) {
        float *again = malloc((cap ? cap : 1) * sizeof *again);
        for (k = 0; k < in.n; k++) check_row(out + k * NF);
        for (i = need; i < cap + 4; i++) REQUIRE(fbits(out[i]) == fbits(-77.0f));
        REQUIRE(call(&in, in.n, 0, again, cap, NULL) == FC_OK);
        REQUIRE(memcmp(again, out, need * sizeof(float)) == 0);
        free(again);
        for (k = 0; k < in.n; k++) { /* rows are independent of the other hosts */
            if (!(k < 3 || k + 2 >= in.n)) continue;
            st1 = call(&in, 1, k, one, NF, &e1);
            REQUIRE(st1 == FC_OK);
            REQUIRE(memcmp(one, out + k * NF, sizeof one) == 0);
        }
    } else if (st == FC_ERR_RANGE && !in.null_err) {
        REQUIRE(e.index >= 0 && e.channel == -1);
        st1 = call(&in, 1, (size_t)e.index, one, NF, &e1);
        REQUIRE(st1 == FC_ERR_RANGE && e1.index == 0 && e1.feature == e.feature);
    }
    free(out);
    for (k = 0; k < 7; k++) free(in.a[k]);
    return 0;
}
