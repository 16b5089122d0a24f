/* Drift statistics of a live window against a reference distribution (docs/drift.md).
 *
 * Every result is a fixed sequence of IEEE double operations (+ - * / and comparisons, no
 * libm), so Python (cffi) and Go (cgo) get the same bits; the logarithm PSI needs is
 * fc_drift_ln, a fixed polynomial instead of libm's log (whose last bit differs between
 * libcs, and Go's amd64 math.Log is wrong for subnormals).
 */
#include "fc_internal.h"

#include <float.h>
#include <math.h>

/* ---- logarithm ------------------------------------------------------------------ */

/* fdlibm's e_log.c algorithm (also Go's portable math.Log), with the exponent split done by exact
 * scaling instead of bit twiddling: x = 2^k * m, m in [sqrt(2)/2, sqrt(2)), f = m - 1
 * (exact by Sterbenz), s = f / (2 + f), and
 *   ln m = f - (hfsq - s * (hfsq + R(s^2))),  hfsq = f^2 / 2,
 * R a minimax polynomial for 2 s^2 / 3 + 2 s^4 / 5 + ... (|error| < 2^-58.45 on the
 * range). The leading term f is exact, so the rounding of s only reaches the small
 * correction term: the result is within 1 ulp (measured: docs/drift.md). */
static const double LN2_HI = 6.93147180369123816490e-01; /* 0x3fe62e42fee00000 */
static const double LN2_LO = 1.90821492927058770002e-10; /* 0x3dea39ef35793c76 */
static const double LG1 = 6.666666666666735130e-01;     /* 0x3fe5555555555593 */
static const double LG2 = 3.999999999940941908e-01;     /* 0x3fd999999997fa04 */
static const double LG3 = 2.857142874366239149e-01;     /* 0x3fd2492494229359 */
static const double LG4 = 2.222219843214978396e-01;     /* 0x3fcc71c51d8e78af */
static const double LG5 = 1.818357216161805012e-01;     /* 0x3fc7466496cb03de */
static const double LG6 = 1.531383769920937332e-01;     /* 0x3fc39a09d078c69f */
static const double LG7 = 1.479819860511658591e-01;     /* 0x3fc2f112df3e5244 */
static const double SQRT2 = 1.41421356237309504880;     /* 0x3ff6a09e667f3bcd */
static const double SQRT1_2 = 0.70710678118654752440;   /* 0x3fe6a09e667f3bcd, SQRT2 / 2 */
static const double TWO64 = 18446744073709551616.0;     /* 2^64 */

/* x finite and > 0 (callers check: an infinite x would never leave the first loop). */
static double ln_positive(double x)
{
    int k = 0;
    double f, s, z, w, t1, t2, r, hfsq, dk;
    /* Scaling by powers of two is exact here: every intermediate stays a normal double
     * (or, for a subnormal x, grows without rounding). */
    while (x >= SQRT2 * TWO64) {
        x = x / TWO64;
        k += 64;
    }
    while (x < SQRT1_2 / TWO64) {
        x = x * TWO64;
        k -= 64;
    }
    while (x >= SQRT2) {
        x = x / 2.0;
        k += 1;
    }
    while (x < SQRT1_2) {
        x = x * 2.0;
        k -= 1;
    }
    f = x - 1.0;
    s = f / (2.0 + f);
    z = s * s;
    w = z * z;
    t1 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    t2 = w * (LG2 + w * (LG4 + w * LG6));
    r = t1 + t2;
    hfsq = 0.5 * f * f;
    dk = (double)k; /* |k| <= 1075, so dk * LN2_HI is exact (LN2_HI has 32 zero bits) */
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
}

fc_status fc_drift_ln(double x, double *out)
{
    if (out == NULL) return FC_ERR_NULL_POINTER;
    if (isnan(x)) return FC_ERR_MISSING;
    if (isinf(x)) return FC_ERR_INFINITE;
    if (x < 0.0) return FC_ERR_NEGATIVE;
    if (x == 0.0) return FC_ERR_RANGE;
    *out = ln_positive(x);
    return FC_OK;
}

/* ---- checks ---------------------------------------------------------------------- */

/* Every value finite (counts: also >= 0); the first bad one fails with its position. */
static fc_status check_finite(const double *v, size_t n, int32_t arg, int nonnegative,
                              fc_error *err)
{
    size_t i;
    for (i = 0; i < n; i++) {
        double x = v[i];
        if (x >= -DBL_MAX && x <= DBL_MAX) {
            if (nonnegative && x < 0.0)
                return fc__fail(err, FC_ERR_NEGATIVE, (int64_t)i, arg, -1);
            continue;
        }
        if (isnan(x)) return fc__fail(err, FC_ERR_MISSING, (int64_t)i, arg, -1);
        return fc__fail(err, FC_ERR_INFINITE, (int64_t)i, arg, -1);
    }
    return FC_OK;
}

/* Two count arrays of n_bins and their totals (each summed in bin order). */
static fc_status check_counts(const double *ref, const double *live, size_t n_bins,
                              double *ref_total, double *live_total, fc_error *err)
{
    const double *arrays[2];
    double *totals[2];
    int a;
    size_t j;
    if (n_bins == 0) return fc__fail(err, FC_ERR_LENGTH, -1, -1, -1);
    if (ref == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_REF, -1);
    if (live == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_LIVE, -1);
    if (n_bins > FC_DRIFT_MAX_BINS) return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    arrays[0] = ref;
    arrays[1] = live;
    totals[0] = ref_total;
    totals[1] = live_total;
    for (a = 0; a < 2; a++) {
        int32_t arg = a == 0 ? FC_DRIFT_ARG_REF : FC_DRIFT_ARG_LIVE;
        double total = 0.0;
        fc_status st = check_finite(arrays[a], n_bins, arg, 1, err);
        if (st != FC_OK) return st;
        for (j = 0; j < n_bins; j++) total = total + arrays[a][j];
        if (total == 0.0) return fc__fail(err, FC_ERR_EMPTY, -1, arg, -1);
        if (total > DBL_MAX) return fc__fail(err, FC_ERR_RANGE, -1, arg, -1);
        *totals[a] = total;
    }
    return FC_OK;
}

static fc_status check_edges(const double *edges, size_t n_edges, fc_error *err)
{
    size_t i;
    fc_status st;
    if (edges == NULL && n_edges != 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_EDGES, -1);
    if (n_edges < 2) return fc__fail(err, FC_ERR_EDGE_ORDER, -1, FC_DRIFT_ARG_EDGES, -1);
    if (n_edges > (size_t)FC_DRIFT_MAX_BINS + 1)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, FC_DRIFT_ARG_EDGES, -1);
    st = check_finite(edges, n_edges, FC_DRIFT_ARG_EDGES, 0, err);
    if (st != FC_OK) return st;
    for (i = 1; i < n_edges; i++) {
        if (!(edges[i] > edges[i - 1]))
            return fc__fail(err, FC_ERR_EDGE_ORDER, (int64_t)i, FC_DRIFT_ARG_EDGES, -1);
    }
    return FC_OK;
}

/* ---- bins ------------------------------------------------------------------------ */

/* Heapsort, ascending: in place, no recursion, no allocation. */
static void sift_down(double *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        double t;
        if (child >= n) return;
        if (child + 1 < n && a[child + 1] > a[child]) child++;
        if (!(a[child] > a[root])) return;
        t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void sort_ascending(double *a, size_t n)
{
    size_t i;
    if (n < 2) return;
    for (i = n / 2; i-- > 0;) sift_down(a, i, n);
    for (i = n - 1; i > 0; i--) {
        double t = a[0];
        a[0] = a[i];
        a[i] = t;
        sift_down(a, 0, i);
    }
}

fc_status fc_drift_quantile_edges(const double *sample, size_t n, size_t n_bins,
                                  double *scratch, size_t scratch_len,
                                  double *edges, size_t edges_len, size_t *n_edges,
                                  fc_error *err)
{
    size_t i, k, kept;
    fc_status st;
    if (n_edges == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    *n_edges = 0;
    if (sample == NULL && n != 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_VALUES, -1);
    if (n_bins < 1 || n_bins > FC_DRIFT_MAX_BINS)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    if (n == 0) return fc__fail(err, FC_ERR_EMPTY, -1, FC_DRIFT_ARG_VALUES, -1);
    /* as everywhere in the core, NULL is an error only with a non-zero length: a NULL
     * buffer of length 0 is too small (FC_ERR_OUTPUT_SIZE) */
    if ((scratch == NULL && scratch_len != 0) || (edges == NULL && edges_len != 0))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (scratch_len < n || edges_len < n_bins + 1)
        return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    if ((uint64_t)(n - 1) > UINT64_MAX / (uint64_t)n_bins)
        return fc__fail(err, FC_ERR_LENGTH, -1, FC_DRIFT_ARG_VALUES, -1);
    st = check_finite(sample, n, FC_DRIFT_ARG_VALUES, 0, err);
    if (st != FC_OK) return st;
    for (i = 0; i < n; i++) scratch[i] = sample[i] + 0.0; /* -0.0 + 0.0 is +0.0 */
    sort_ascending(scratch, n);
    kept = 0;
    for (k = 0; k <= n_bins; k++) {
        uint64_t rank = (uint64_t)k * (uint64_t)(n - 1) / (uint64_t)n_bins;
        double e = scratch[rank];
        if (kept > 0 && e == edges[kept - 1]) continue;
        edges[kept++] = e;
    }
    if (kept < 2) return fc__fail(err, FC_ERR_CONSTANT, -1, FC_DRIFT_ARG_VALUES, -1);
    *n_edges = kept;
    return FC_OK;
}

fc_status fc_drift_histogram(const double *values, size_t n,
                             const double *edges, size_t n_edges,
                             double *counts, size_t counts_len, fc_error *err)
{
    size_t i, j, n_bins;
    fc_status st = check_edges(edges, n_edges, err);
    if (st != FC_OK) return st;
    n_bins = n_edges - 1;
    if (values == NULL && n != 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_DRIFT_ARG_VALUES, -1);
    if (counts == NULL && counts_len != 0) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (counts_len < n_bins) return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    if (n == 0) return fc__fail(err, FC_ERR_EMPTY, -1, FC_DRIFT_ARG_VALUES, -1);
    st = check_finite(values, n, FC_DRIFT_ARG_VALUES, 0, err);
    if (st != FC_OK) return st;
    for (j = 0; j < n_bins; j++) counts[j] = 0.0;
    for (i = 0; i < n; i++) {
        /* bin = number of interior edges e[1..B-1] <= x: lo..hi brackets it */
        size_t lo = 0, hi = n_bins - 1;
        double x = values[i];
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2; /* 1..B-1 */
            if (edges[mid] <= x)
                lo = mid;
            else
                hi = mid - 1;
        }
        counts[lo] = counts[lo] + 1.0;
    }
    return FC_OK;
}

/* ---- statistics -------------------------------------------------------------------- */

fc_status fc_drift_psi(const double *ref_counts, const double *live_counts, size_t n_bins,
                       double epsilon, double *out, fc_error *err)
{
    double ref_total = 0.0, live_total = 0.0, psi = 0.0;
    size_t j;
    fc_status st;
    if (out == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    /* the floor keeps q / p within [epsilon, 1 / epsilon]: finite, so ln is defined */
    if (!(epsilon >= FC_DRIFT_MIN_EPSILON && epsilon < 1.0))
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    st = check_counts(ref_counts, live_counts, n_bins, &ref_total, &live_total, err);
    if (st != FC_OK) return st;
    for (j = 0; j < n_bins; j++) {
        double p = ref_counts[j] / ref_total;
        double q = live_counts[j] / live_total;
        if (p < epsilon) p = epsilon;
        if (q < epsilon) q = epsilon;
        psi = psi + (q - p) * ln_positive(q / p);
    }
    *out = psi;
    return FC_OK;
}

fc_status fc_drift_ks(const double *ref_counts, const double *live_counts, size_t n_bins,
                      double *out, fc_error *err)
{
    double ref_total = 0.0, live_total = 0.0, ref_cum = 0.0, live_cum = 0.0, d = 0.0;
    size_t j;
    fc_status st;
    if (out == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    st = check_counts(ref_counts, live_counts, n_bins, &ref_total, &live_total, err);
    if (st != FC_OK) return st;
    for (j = 0; j < n_bins; j++) {
        double gap;
        ref_cum = ref_cum + ref_counts[j];
        live_cum = live_cum + live_counts[j];
        gap = ref_cum / ref_total - live_cum / live_total;
        if (gap < 0.0) gap = -gap;
        if (gap > d) d = gap;
    }
    *out = d;
    return FC_OK;
}
