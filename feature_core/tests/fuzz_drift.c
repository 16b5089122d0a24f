/*
 * fuzz_drift.c — libFuzzer target over the drift statistics (fc_drift_*, docs/drift.md).
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *         -Ifeature_core/include feature_core/tests/fuzz_drift.c feature_core/src/(all .c) -lm
 *   (feature_core/tests/fuzz.sh builds and runs it beside fuzz_api and fuzz_place)
 *
 * The input bytes are decoded (missing bytes read as 0, so every input is valid) into a
 * sample, a bin count, live values, hand-made edges, two count arrays and an epsilon, each
 * value either from a table of awkward doubles (signed zeros, subnormals, DBL_MAX, NaN,
 * +-Inf) or raw bits. Buffers are allocated exactly, so ASan sees any write past them.
 * Invariants:
 *
 *   - fc_drift_ln terminates for every double, fails exactly for NaN, +-Inf, x < 0 and
 *     x = 0, and is otherwise finite with the sign of x - 1;
 *   - quantile edges: on FC_OK 2 .. n_bins + 1 strictly ascending edges, each a value of
 *     the sample (never -0.0), the first the minimum and the last the maximum;
 *   - histogram: on FC_OK the counts are whole numbers summing to the number of values,
 *     and each value is in the bin the rule gives (checked by a linear scan);
 *   - PSI is finite and >= 0, KS in [0, 1]; both are 0 for a count array against itself;
 *   - every failure fills fc_error with the same status, an index inside the array it
 *     names (or -1) and feature -1.
 *
 * An invariant failure prints what broke and aborts, so libFuzzer saves the input.
 */
#include "feature_core.h"
#include "fuzz_common.h"

#include <float.h>
#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_N 300

static double any_double(rd *r)
{
    static const double table[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 4.9406564584124654e-324, DBL_MIN, DBL_MAX,
        -DBL_MAX, 1e300, -1e300, 0.1, 3.0, 1e-4, 0.75, 1.5, 1.4142135623730951, 0.7071067811865476,
    };
    uint8_t sel = u8(r);
    if (sel < 20) return table[sel];
    if (sel < 24) return NAN;
    if (sel == 24) return INFINITY;
    if (sel == 25) return -INFINITY;
    if (sel < 128) return (double)(int8_t)u8(r); /* small integers: ties */
    return from_dbits(u64(r));
}

static void check_err(fc_status st, const fc_error *e, size_t array_len)
{
    if (st == FC_OK) return;
    REQUIRE(st > FC_OK && st < FC_STATUS_COUNT);
    REQUIRE(e->status == st);
    REQUIRE(e->feature == -1);
    REQUIRE(e->channel >= -1 && e->channel <= FC_DRIFT_ARG_LIVE);
    REQUIRE(e->index == -1 || (e->index >= 0 && (size_t)e->index < array_len));
}

static void fuzz_ln(double x)
{
    double y = 0.0;
    fc_status st = fc_drift_ln(x, &y);
    if (isnan(x)) {
        REQUIRE(st == FC_ERR_MISSING);
    } else if (isinf(x)) {
        REQUIRE(st == FC_ERR_INFINITE);
    } else if (x < 0.0) {
        REQUIRE(st == FC_ERR_NEGATIVE);
    } else if (x == 0.0) {
        REQUIRE(st == FC_ERR_RANGE);
    } else {
        REQUIRE(st == FC_OK && isfinite(y));
        REQUIRE((x > 1.0) == (y > 0.0) && (x < 1.0) == (y < 0.0) && (x == 1.0) == (y == 0.0));
        REQUIRE(fabs(y - log(x)) <= 4.5e-16 * fabs(log(x))); /* 2 ulp of libm's log */
    }
}

static void fuzz_edges(const double *sample, size_t n, size_t n_bins)
{
    size_t cap = n_bins + 1, n_edges = 99, i, k;
    double *scratch = malloc((n ? n : 1) * sizeof *scratch);
    double *edges = malloc(cap * sizeof *edges);
    fc_error e = {FC_OK, -1, -1, -1};
    fc_status st;
    REQUIRE(scratch != NULL && edges != NULL);
    st = fc_drift_quantile_edges(sample, n, n_bins, scratch, n, edges, cap, &n_edges, &e);
    check_err(st, &e, n);
    if (st == FC_OK) {
        double lo = sample[0] + 0.0, hi = sample[0] + 0.0;
        for (i = 1; i < n; i++) {
            if (sample[i] < lo) lo = sample[i];
            if (sample[i] > hi) hi = sample[i];
        }
        REQUIRE(n_edges >= 2 && n_edges <= cap);
        REQUIRE(edges[0] == lo && edges[n_edges - 1] == hi);
        for (k = 0; k < n_edges; k++) {
            int found = 0;
            REQUIRE(!(edges[k] == 0.0 && signbit(edges[k])));
            if (k > 0) REQUIRE(edges[k] > edges[k - 1]);
            for (i = 0; i < n && !found; i++) found = sample[i] == edges[k];
            REQUIRE(found);
        }
    } else {
        REQUIRE(n_edges == 0);
    }
    free(scratch);
    free(edges);
}

static void fuzz_histogram(const double *values, size_t n, const double *edges, size_t n_edges)
{
    size_t n_bins = n_edges > 1 ? n_edges - 1 : 0, i, j;
    double *counts = malloc((n_bins ? n_bins : 1) * sizeof *counts);
    double total = 0.0;
    fc_error e = {FC_OK, -1, -1, -1};
    fc_status st;
    REQUIRE(counts != NULL);
    st = fc_drift_histogram(values, n, edges, n_edges, counts, n_bins, &e);
    check_err(st, &e, e.channel == FC_DRIFT_ARG_EDGES ? n_edges : n);
    if (st == FC_OK) {
        for (j = 0; j < n_bins; j++) {
            REQUIRE(counts[j] >= 0.0 && counts[j] == floor(counts[j]));
            total = total + counts[j];
        }
        REQUIRE(total == (double)n);
        /* the rule by a linear scan: bin = the last interior edge <= x (edges ascend) */
        for (i = 0; i < n; i++) {
            size_t b = 0;
            for (j = 1; j < n_bins; j++)
                if (edges[j] <= values[i]) b = j;
            counts[b] = counts[b] - 1.0;
        }
        for (j = 0; j < n_bins; j++) REQUIRE(counts[j] == 0.0);
    }
    free(counts);
}

static void fuzz_stats(const double *ref, const double *live, size_t n_bins, double epsilon)
{
    double psi = -1.0, ks = -1.0;
    fc_error e = {FC_OK, -1, -1, -1};
    fc_status st = fc_drift_psi(ref, live, n_bins, epsilon, &psi, &e);
    check_err(st, &e, n_bins);
    if (st == FC_OK) REQUIRE(isfinite(psi) && psi >= 0.0);
    st = fc_drift_ks(ref, live, n_bins, &ks, &e);
    check_err(st, &e, n_bins);
    if (st == FC_OK) {
        REQUIRE(ks >= 0.0 && ks <= 1.0);
        REQUIRE(fc_drift_ks(ref, ref, n_bins, &ks, &e) == FC_OK && ks == 0.0);
        if (epsilon >= FC_DRIFT_MIN_EPSILON && epsilon < 1.0)
            REQUIRE(fc_drift_psi(live, live, n_bins, epsilon, &psi, &e) == FC_OK && psi == 0.0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    size_t n = u8(&r) % (MAX_N + 1), n_bins = (size_t)(u32(&r) % 1100), m, k, n_edges;
    double *sample = malloc((n ? n : 1) * sizeof *sample);
    double *live, *edges, *ref, *cur;
    REQUIRE(sample != NULL);
    fuzz_ln(any_double(&r));
    fuzz_ln(from_dbits(u64(&r)));
    for (k = 0; k < n; k++) sample[k] = any_double(&r);
    fuzz_edges(sample, n, n_bins);

    /* live values into quantile edges of the sample when it has some, else fuzzed edges */
    m = u8(&r) % (MAX_N + 1);
    live = malloc((m ? m : 1) * sizeof *live);
    REQUIRE(live != NULL);
    for (k = 0; k < m; k++) live[k] = any_double(&r);
    n_edges = u8(&r) % 40;
    edges = malloc((n_edges ? n_edges : 1) * sizeof *edges);
    REQUIRE(edges != NULL);
    if (u8(&r) & 1) {
        double acc = any_double(&r);
        for (k = 0; k < n_edges; k++) {
            edges[k] = acc;
            acc = acc + fabs(any_double(&r)); /* mostly ascending, sometimes not */
        }
    } else {
        for (k = 0; k < n_edges; k++) edges[k] = any_double(&r);
    }
    fuzz_histogram(live, m, edges, n_edges);

    /* two count arrays of the same bins */
    k = u8(&r) % 64;
    ref = malloc((k ? k : 1) * sizeof *ref);
    cur = malloc((k ? k : 1) * sizeof *cur);
    REQUIRE(ref != NULL && cur != NULL);
    {
        size_t j;
        for (j = 0; j < k; j++) {
            ref[j] = fabs(any_double(&r));
            cur[j] = fabs(any_double(&r));
        }
        if (u8(&r) == 7 && k > 0) ref[u8(&r) % k] = -1.0;
    }
    fuzz_stats(ref, cur, k, (u8(&r) & 1) ? any_double(&r) : FC_DRIFT_DEFAULT_EPSILON);

    free(sample);
    free(live);
    free(edges);
    free(ref);
    free(cur);
    return 0;
}
