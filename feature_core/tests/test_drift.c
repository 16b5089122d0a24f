/*
 * test_drift.c — unit tests of the drift statistics (fc_drift_*, docs/drift.md).
 *
 * Proves the error bound the header states for fc_drift_ln against libm's log (libm is
 * used here only as the reference), and checks every documented status, the bin rule, the
 * quantile rule and the PSI / KS definitions on small hand-computed cases. Prints
 * "N passed, N failed"; exit status non-zero on a failure.
 */
#include "test_check.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* An expected status and, for an error, its fc_error position (index, channel; the drift
 * calls set feature -1). The call writes its error into e_. */
#define CHECK_ERR(call, want, index, channel)                                                \
    do {                                                                                     \
        fc_error e_ = {FC_OK, -1, -1, -1};                                                   \
        fc_status s_ = (call);                                                               \
        (void)err;                                                                           \
        check_status(s_, &e_, (want), (index), (channel), -1, #call, __LINE__);              \
    } while (0)

/* ULPs between a and b, measured in the ulp of the reference b. */
static double ulps(double a, double ref)
{
    int exp;
    double unit;
    if (a == ref) return 0.0;
    frexp(ref, &exp);
    unit = ldexp(1.0, exp - 53);
    if (ref == 0.0) unit = DBL_TRUE_MIN;
    return fabs(a - ref) / unit;
}

/* The bound the header states: within 1 ulp of log(x) (glibc's log, itself correctly
 * rounded in all but rare cases), tracked separately near 1 (|x - 1| < 1/8, where the
 * result is tiny and the ulp is relative to it) and elsewhere. */
static double worst_far = 0.0, worst_near = 0.0;
static double worst_far_x = 0.0, worst_near_x = 0.0;
static long n_points = 0, n_differ = 0;

static void ln_point(double x)
{
    double got, u;
    if (!(x > 0.0) || x > DBL_MAX) return;
    if (fc_drift_ln(x, &got) != FC_OK) {
        check(0, "fc_drift_ln failed on a positive finite input", __LINE__);
        return;
    }
    n_points++;
    u = ulps(got, log(x));
    if (u != 0.0) n_differ++;
    if (fabs(x - 1.0) < 0.125) {
        if (u > worst_near) {
            worst_near = u;
            worst_near_x = x;
        }
    } else if (u > worst_far) {
        worst_far = u;
        worst_far_x = x;
    }
}

static void test_ln_error_bound(void)
{
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    long i;
    int k;
    current = "fc_drift_ln error bound";
    /* every power of two and its neighbours, from the smallest subnormal to DBL_MAX */
    for (k = -1074; k <= 1023; k++) {
        double p = ldexp(1.0, k);
        ln_point(p);
        ln_point(nextafter(p, 0.0));
        ln_point(nextafter(p, INFINITY));
        ln_point(p * 0.75);
        ln_point(p * 1.5);
        ln_point(nextafter(p * 1.5, 0.0));
    }
    ln_point(DBL_MAX);
    ln_point(DBL_TRUE_MIN);
    ln_point(DBL_MIN);
    /* around 1: x = 1 +- i * 2^-52 and 1 +- i / 2^20 */
    for (i = 1; i <= 20000; i++) {
        ln_point(1.0 + (double)i * DBL_EPSILON);
        ln_point(1.0 - (double)i * DBL_EPSILON / 2.0);
        ln_point(1.0 + (double)i / 1048576.0);
        ln_point(1.0 - (double)i / 2097152.0);
    }
    /* a dense grid over the reduced range [0.75, 1.5) and over PSI's ratios */
    for (i = 0; i < 500000; i++) ln_point(0.75 + 0.75 * (double)i / 500000.0);
    for (i = 1; i <= 200000; i++) ln_point((double)i * 1e-4);
    /* random bit patterns: every positive finite double is equally likely per exponent */
    for (i = 0; i < 1000000; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ln_point(from_dbits(state & 0x7fffffffffffffffULL));
    }
    printf("fc_drift_ln vs log over %ld points: max %.3f ulp away from 1 (x = %a), "
           "%.3f ulp near 1 (x = %a); %ld points (%.2f %%) differ from log\n", n_points,
           worst_far, worst_far_x, worst_near, worst_near_x, n_differ,
           100.0 * (double)n_differ / (double)n_points);
    CHECK(n_points > 1700000);
    CHECK(worst_far <= 1.0);
    CHECK(worst_near <= 1.0);
}

static void test_ln_values(void)
{
    double y = -1.0;
    current = "fc_drift_ln values and statuses";
    CHECK(fc_drift_ln(1.0, &y) == FC_OK && dbits(y) == dbits(0.0));
    CHECK(fc_drift_ln(2.0, &y) == FC_OK && y == 6.93147180559945286227e-01);
    CHECK(fc_drift_ln(0.5, &y) == FC_OK && y == -6.93147180559945286227e-01);
    CHECK(fc_drift_ln(0.0, &y) == FC_ERR_RANGE);
    CHECK(fc_drift_ln(-0.0, &y) == FC_ERR_RANGE);
    CHECK(fc_drift_ln(-1.0, &y) == FC_ERR_NEGATIVE);
    CHECK(fc_drift_ln(NAN, &y) == FC_ERR_MISSING);
    CHECK(fc_drift_ln(INFINITY, &y) == FC_ERR_INFINITE);
    CHECK(fc_drift_ln(-INFINITY, &y) == FC_ERR_INFINITE);
    CHECK(fc_drift_ln(1.0, NULL) == FC_ERR_NULL_POINTER);
}

static void test_quantile_edges(void)
{
    double sample[11] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1, -0.0};
    double scratch[11], edges[11];
    double ties[8] = {0, 0, 0, 0, 0, 0, 3, 5};
    double same[4] = {2, 2, 2, 2};
    double bad[3] = {1, NAN, 2};
    double inf[3] = {1, 2, -INFINITY};
    size_t n = 99, k;
    fc_error err = {FC_OK, -1, -1, -1};
    current = "fc_drift_quantile_edges";
    /* 11 values, 10 bins: edge k is s[k] */
    CHECK(fc_drift_quantile_edges(sample, 11, 10, scratch, 11, edges, 11, &n, &err) == FC_OK);
    CHECK(n == 11);
    for (k = 0; k < 11; k++) CHECK(edges[k] == (double)k);
    CHECK(dbits(edges[0]) == 0); /* -0.0 became +0.0 */
    /* 4 bins of 11 values: ranks floor(k * 10 / 4) = 0 2 5 7 10 */
    CHECK(fc_drift_quantile_edges(sample, 11, 4, scratch, 11, edges, 5, &n, &err) == FC_OK);
    CHECK(n == 5 && edges[0] == 0 && edges[1] == 2 && edges[2] == 5 && edges[3] == 7 &&
          edges[4] == 10);
    /* ties collapse: ranks of 8 values in 4 bins: 0 1 3 5 7 -> 0 0 0 0 5 -> {0, 5} */
    CHECK(fc_drift_quantile_edges(ties, 8, 4, scratch, 8, edges, 5, &n, &err) == FC_OK);
    CHECK(n == 2 && edges[0] == 0 && edges[1] == 5);
    /* the input is not modified */
    CHECK(sample[0] == 10 && dbits(sample[10]) == dbits(-0.0));
    {
        fc_error e = {FC_OK, -1, -1, -1};
        CHECK(fc_drift_quantile_edges(same, 4, 10, scratch, 4, edges, 11, &n, &e) ==
              FC_ERR_CONSTANT);
        CHECK(e.channel == FC_DRIFT_ARG_VALUES && n == 0);
        CHECK(fc_drift_quantile_edges(bad, 3, 2, scratch, 3, edges, 3, &n, &e) ==
              FC_ERR_MISSING && e.index == 1 && e.channel == FC_DRIFT_ARG_VALUES);
        CHECK(fc_drift_quantile_edges(inf, 3, 2, scratch, 3, edges, 3, &n, &e) ==
              FC_ERR_INFINITE && e.index == 2);
    }
    CHECK_ERR(fc_drift_quantile_edges(sample, 0, 10, scratch, 11, edges, 11, &n, &e_),
              FC_ERR_EMPTY, -1, FC_DRIFT_ARG_VALUES);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 0, scratch, 11, edges, 11, &n, &e_),
              FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, FC_DRIFT_MAX_BINS + 1, scratch, 11, edges,
                                      11, &n, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 10, scratch, 10, edges, 11, &n, &e_),
              FC_ERR_OUTPUT_SIZE, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 10, scratch, 11, edges, 10, &n, &e_),
              FC_ERR_OUTPUT_SIZE, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(NULL, 11, 10, scratch, 11, edges, 11, &n, &e_),
              FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_VALUES);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 10, NULL, 11, edges, 11, &n, &e_),
              FC_ERR_NULL_POINTER, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 10, scratch, 11, edges, 11, NULL, &e_),
              FC_ERR_NULL_POINTER, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 10, NULL, 0, edges, 11, &n, &e_),
              FC_ERR_OUTPUT_SIZE, -1, -1);
    CHECK_ERR(fc_drift_quantile_edges(sample, 11, 10, scratch, 11, NULL, 0, &n, &e_),
              FC_ERR_OUTPUT_SIZE, -1, -1);
    /* err may be NULL */
    CHECK(fc_drift_quantile_edges(sample, 0, 10, scratch, 11, edges, 11, &n, NULL) ==
          FC_ERR_EMPTY);
}

static void test_histogram(void)
{
    double edges[4] = {0.0, 1.0, 2.0, 3.0};
    double values[9] = {-5.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 1e300};
    double counts[3] = {-1, -1, -1};
    double bad_edges[4] = {0.0, 1.0, 1.0, 3.0};
    double nan_edges[3] = {0.0, NAN, 3.0};
    double nan_values[2] = {1.0, NAN};
    fc_error err = {FC_OK, -1, -1, -1};
    current = "fc_drift_histogram";
    CHECK(fc_drift_histogram(values, 9, edges, 4, counts, 3, &err) == FC_OK);
    /* below e[1]: -5, 0, 0.5; [1, 2): 1, 1.5; >= e[2]: 2, 2.5, 3, 1e300 */
    CHECK(counts[0] == 3.0 && counts[1] == 2.0 && counts[2] == 4.0);
    CHECK(fc_drift_histogram(values, 9, edges, 2, counts, 1, &err) == FC_OK && counts[0] == 9);
    CHECK_ERR(fc_drift_histogram(values, 9, bad_edges, 4, counts, 3, &e_), FC_ERR_EDGE_ORDER, 2,
              FC_DRIFT_ARG_EDGES);
    CHECK_ERR(fc_drift_histogram(values, 9, edges, 1, counts, 3, &e_), FC_ERR_EDGE_ORDER, -1,
              FC_DRIFT_ARG_EDGES);
    CHECK_ERR(fc_drift_histogram(values, 9, edges, 0, counts, 3, &e_), FC_ERR_EDGE_ORDER, -1,
              FC_DRIFT_ARG_EDGES);
    CHECK_ERR(fc_drift_histogram(values, 9, nan_edges, 3, counts, 3, &e_), FC_ERR_MISSING, 1,
              FC_DRIFT_ARG_EDGES);
    CHECK_ERR(fc_drift_histogram(nan_values, 2, edges, 4, counts, 3, &e_), FC_ERR_MISSING, 1,
              FC_DRIFT_ARG_VALUES);
    CHECK_ERR(fc_drift_histogram(values, 0, edges, 4, counts, 3, &e_), FC_ERR_EMPTY, -1,
              FC_DRIFT_ARG_VALUES);
    CHECK_ERR(fc_drift_histogram(values, 9, edges, 4, counts, 2, &e_), FC_ERR_OUTPUT_SIZE, -1,
              -1);
    CHECK_ERR(fc_drift_histogram(NULL, 9, edges, 4, counts, 3, &e_), FC_ERR_NULL_POINTER, -1,
              FC_DRIFT_ARG_VALUES);
    CHECK_ERR(fc_drift_histogram(values, 9, NULL, 4, counts, 3, &e_), FC_ERR_NULL_POINTER, -1,
              FC_DRIFT_ARG_EDGES);
    CHECK_ERR(fc_drift_histogram(values, 9, edges, 4, NULL, 3, &e_), FC_ERR_NULL_POINTER, -1,
              -1);
    CHECK_ERR(fc_drift_histogram(values, 9, edges, 4, NULL, 0, &e_), FC_ERR_OUTPUT_SIZE, -1,
              -1);
}

static void test_psi_ks(void)
{
    double ref[4] = {25, 25, 25, 25};
    double live[4] = {10, 20, 30, 40};
    double empty[4] = {0, 0, 0, 0};
    double neg[4] = {1, -1, 1, 1};
    double nan_c[4] = {1, 1, NAN, 1};
    double inf_c[4] = {INFINITY, 1, 1, 1};
    double huge[2] = {DBL_MAX, DBL_MAX};
    double one[1] = {5};
    double psi = -1, ks = -1, want = 0.0, ln;
    size_t j;
    fc_error err = {FC_OK, -1, -1, -1};
    current = "fc_drift_psi / fc_drift_ks";
    CHECK(fc_drift_psi(ref, live, 4, 1e-4, &psi, &err) == FC_OK);
    for (j = 0; j < 4; j++) {
        double p = ref[j] / 100.0, q = live[j] / 100.0;
        fc_drift_ln(q / p, &ln);
        want = want + (q - p) * ln;
    }
    CHECK(dbits(psi) == dbits(want));
    CHECK(fabs(psi - 0.22821740957339182) < 1e-15); /* sum (q - p) ln(q / p) with libm */
    CHECK(fc_drift_psi(ref, ref, 4, 1e-4, &psi, &err) == FC_OK && dbits(psi) == 0);
    CHECK(fc_drift_psi(one, one, 1, 0.5, &psi, &err) == FC_OK && psi == 0.0);
    /* a live bin that is empty is floored at epsilon */
    {
        double l2[4] = {50, 50, 0, 0};
        double p = 0.25, q = 1e-4, lq, lp;
        fc_drift_ln(0.5 / 0.25, &lp);
        fc_drift_ln(q / p, &lq);
        want = 0.0;
        want = want + (0.5 - p) * lp;
        want = want + (0.5 - p) * lp;
        want = want + (q - p) * lq;
        want = want + (q - p) * lq;
        CHECK(fc_drift_psi(ref, l2, 4, 1e-4, &psi, &err) == FC_OK && dbits(psi) == dbits(want));
    }
    CHECK(fc_drift_ks(ref, live, 4, &ks, &err) == FC_OK);
    CHECK(ks == 0.25 - 0.1 + 0.25 - 0.2); /* F gaps: 0.15, 0.2, 0.15, 0 */
    CHECK(fc_drift_ks(ref, ref, 4, &ks, &err) == FC_OK && dbits(ks) == 0);
    CHECK(fc_drift_ks(ref, empty, 4, &ks, &err) == FC_ERR_EMPTY);
    CHECK_ERR(fc_drift_psi(ref, empty, 4, 1e-4, &psi, &e_), FC_ERR_EMPTY, -1, FC_DRIFT_ARG_LIVE);
    CHECK_ERR(fc_drift_psi(empty, live, 4, 1e-4, &psi, &e_), FC_ERR_EMPTY, -1, FC_DRIFT_ARG_REF);
    CHECK_ERR(fc_drift_psi(neg, live, 4, 1e-4, &psi, &e_), FC_ERR_NEGATIVE, 1, FC_DRIFT_ARG_REF);
    CHECK_ERR(fc_drift_ks(ref, nan_c, 4, &ks, &e_), FC_ERR_MISSING, 2, FC_DRIFT_ARG_LIVE);
    CHECK_ERR(fc_drift_ks(inf_c, live, 4, &ks, &e_), FC_ERR_INFINITE, 0, FC_DRIFT_ARG_REF);
    CHECK_ERR(fc_drift_ks(huge, huge, 2, &ks, &e_), FC_ERR_RANGE, -1, FC_DRIFT_ARG_REF);
    CHECK_ERR(fc_drift_psi(ref, live, 0, 1e-4, &psi, &e_), FC_ERR_LENGTH, -1, -1);
    CHECK_ERR(fc_drift_ks(ref, live, 0, &ks, &e_), FC_ERR_LENGTH, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, FC_DRIFT_MAX_BINS + 1, 1e-4, &psi, &e_), FC_ERR_BAD_PARAMS,
              -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, 0.0, &psi, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, 1.0, &psi, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, NAN, &psi, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, 5e-324, &psi, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, 0.99e-300, &psi, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, -1e-4, &psi, &e_), FC_ERR_BAD_PARAMS, -1, -1);
    {
        /* the smallest floor: an empty live bin gives a large but finite PSI */
        double l3[4] = {0, 0, 0, 7};
        CHECK(fc_drift_psi(ref, l3, 4, FC_DRIFT_MIN_EPSILON, &psi, &err) == FC_OK);
        CHECK(psi > 100.0 && psi < 1000.0);
    }
    CHECK_ERR(fc_drift_psi(NULL, live, 4, 1e-4, &psi, &e_), FC_ERR_NULL_POINTER, -1,
              FC_DRIFT_ARG_REF);
    CHECK_ERR(fc_drift_ks(ref, NULL, 4, &ks, &e_), FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_LIVE);
    CHECK_ERR(fc_drift_ks(ref, live, 4, NULL, &e_), FC_ERR_NULL_POINTER, -1, -1);
    CHECK_ERR(fc_drift_psi(ref, live, 4, 1e-4, NULL, &e_), FC_ERR_NULL_POINTER, -1, -1);
}

/* quantile edges of a sample give the sample back roughly 1/B per bin, PSI 0 against
 * itself, and the PSI of a shifted copy is positive */
static void test_round_trip(void)
{
    double sample[1000], scratch[1000], edges[11], ref[10], live[10], shifted[1000];
    double psi = 0, ks = 0;
    size_t n = 0, i;
    uint64_t s = 12345;
    fc_error err = {FC_OK, -1, -1, -1};
    current = "edges -> histogram -> psi";
    for (i = 0; i < 1000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        sample[i] = (double)(s >> 11) / 9007199254740992.0;
        shifted[i] = sample[i] + 0.1;
    }
    CHECK(fc_drift_quantile_edges(sample, 1000, 10, scratch, 1000, edges, 11, &n, &err) ==
          FC_OK && n == 11);
    CHECK(fc_drift_histogram(sample, 1000, edges, n, ref, 10, &err) == FC_OK);
    for (i = 0; i < 10; i++) CHECK(ref[i] >= 99 && ref[i] <= 101);
    CHECK(fc_drift_psi(ref, ref, 10, FC_DRIFT_DEFAULT_EPSILON, &psi, &err) == FC_OK && psi == 0);
    CHECK(fc_drift_histogram(shifted, 1000, edges, n, live, 10, &err) == FC_OK);
    CHECK(fc_drift_psi(ref, live, 10, FC_DRIFT_DEFAULT_EPSILON, &psi, &err) == FC_OK);
    CHECK(fc_drift_ks(ref, live, 10, &ks, &err) == FC_OK);
    CHECK(psi > 0.1 && ks > 0.05 && ks < 0.15);
}

int main(void)
{
    test_ln_values();
    test_ln_error_bound();
    test_quantile_edges();
    test_histogram();
    test_psi_ks();
    test_round_trip();
    return test_summary();
}
