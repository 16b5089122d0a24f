/* Placement factors: one row of FC_PLACE_FACTORS float32 per (VM request, candidate host).
 * Definitions, units and the value of every zero denominator: docs/placement-factors.md.
 * Same rules as the window features: only + - * / and sqrt, every reduction in one fixed
 * order (4-lane sums over time, ((r0 + r1) + (r2 + r3)) over the 4 resources), each factor
 * computed in double and rounded to float32 once. */
#include "fc_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define NR FC_PLACE_RESOURCES
#define NF FC_PLACE_FACTORS
#define N_VM_INFO FC_PLACE_VM_INFO
#define N_HOST_INFO FC_PLACE_HOST_INFO

/* Mbit/s per KB/s (KB = 1000 bytes), for the NIC utilisation factors. */
#define MBPS_PER_KBS 0.008

_Static_assert(NR == 4, "the cross-resource sums are written for 4 resources");

/* ---- names ---------------------------------------------------------------------- */

static const char *const resource_names[] = {"cpu_mhz", "mem_mb", "disk_kbs", "net_kbs"};

static const char *const vm_info_names[] = {"group_size", "peers"};

static const char *const host_info_names[] = {
    "vm_count",      "group_on_host",   "group_in_domain", "group_domains",
    "group_domains_after", "peers_on_host", "peers_in_domain", "net_distance",
    "nic_mbps",      "failure_rate",    "cost",            "domain_cpu_share",
    "domain_hosts",
};

/* Input columns as fc_error.channel numbers them: each array's columns in order. */
#define COLUMNS(array) array ".cpu_mhz", array ".mem_mb", array ".disk_kbs", array ".net_kbs"
static const char *const column_names[] = {
    COLUMNS("vm_request"), COLUMNS("vm_history"), "vm_info.group_size", "vm_info.peers",
    COLUMNS("host_capacity"), COLUMNS("host_allocated"), COLUMNS("host_usage"),
    "host_info.vm_count", "host_info.group_on_host", "host_info.group_in_domain",
    "host_info.group_domains", "host_info.group_domains_after", "host_info.peers_on_host",
    "host_info.peers_in_domain", "host_info.net_distance", "host_info.nic_mbps",
    "host_info.failure_rate", "host_info.cost", "host_info.domain_cpu_share",
    "host_info.domain_hosts",
};
enum {
    COL_VM_REQUEST = 0,
    COL_VM_HISTORY = COL_VM_REQUEST + NR,
    COL_VM_INFO = COL_VM_HISTORY + NR,
    COL_HOST_CAPACITY = COL_VM_INFO + N_VM_INFO,
    COL_HOST_ALLOCATED = COL_HOST_CAPACITY + NR,
    COL_HOST_USAGE = COL_HOST_ALLOCATED + NR,
    COL_HOST_INFO = COL_HOST_USAGE + NR,
    N_COLUMNS = COL_HOST_INFO + N_HOST_INFO
};

/* Factor order. Per-resource factors take NR consecutive slots: index = base + r. */
enum {
    /* the VM, per resource */
    VM_REQUEST = 0, VM_MEAN = 4, VM_PEAK = 8, VM_STD = 12, VM_TREND = 16, VM_LAST = 20,
    VM_PEAK_TO_REQUEST = 24,
    /* the host before placement, per resource */
    HOST_CAPACITY = 28, HOST_ALLOCATED = 32, HOST_ALLOCATED_RATIO = 36, HOST_MEAN = 40,
    HOST_PEAK = 44, HOST_STD = 48, HOST_TREND = 52, HOST_LAST = 56, HOST_UTIL = 60,
    /* the host after placement, per resource */
    REQUEST_SHARE = 64, ALLOC_RATIO_AFTER = 68, MEAN_UTIL_AFTER = 72, PEAK_UTIL_AFTER = 76,
    JOINT_PEAK_UTIL_AFTER = 80, PEAK_DIVERSITY = 84, HEADROOM_AFTER = 88,
    PEAK_HEADROOM_AFTER = 92, OVERCOMMIT_AFTER = 96, OVERLOAD_FRAC_AFTER = 100,
    OVERLOAD_EXCESS_AFTER = 104, DEMAND_CORR = 108,
    /* across resources */
    ALLOC_UTIL_MEAN_AFTER = 112, ALLOC_UTIL_STD_AFTER, ALLOC_UTIL_MAX_AFTER,
    ALLOC_UTIL_MIN_AFTER, USAGE_UTIL_STD_AFTER, JOINT_PEAK_UTIL_MAX_AFTER, TETRIS_ALIGNMENT,
    COSINE_ALIGNMENT, TETRIS_USAGE_ALIGNMENT, FREE_L2_BEFORE, FREE_L2_AFTER, FREE_MIN_AFTER,
    STRANDED_AFTER, DOMINANT_SHARE, DOMINANT_RESOURCE, RESOURCES_OVER_AFTER,
    /* placement context: host_info and vm_info */
    VM_COUNT, VM_COUNT_AFTER, HOST_EMPTY, GROUP_SIZE, GROUP_ON_HOST, GROUP_IN_DOMAIN,
    GROUP_DOMAIN_FRAC, GROUP_EXPOSURE_AFTER, GROUP_DOMAINS, GROUP_DOMAINS_AFTER,
    GROUP_SPREAD_GAIN, PEERS, PEERS_ON_HOST, PEERS_IN_DOMAIN, PEERS_ON_HOST_FRAC,
    PEERS_IN_DOMAIN_FRAC, NET_DISTANCE, NET_TRAFFIC_HOPS, NIC_MBPS, NIC_UTIL_VM,
    NIC_UTIL_AFTER, FAILURE_RATE, COST, COST_PER_VM_AFTER, DOMAIN_CPU_SHARE, DOMAIN_HOSTS,
    N_FACTORS
};
_Static_assert(N_FACTORS == NF, "FC_PLACE_FACTORS must count the factor enum");
_Static_assert(N_COLUMNS == FC_PLACE_COLUMNS, "FC_PLACE_COLUMNS must count the columns");
_Static_assert(VM_COUNT == 128, "group boundaries moved");

#define PER_RESOURCE(stem) stem "_cpu", stem "_mem", stem "_disk", stem "_net"
static const char *const factor_names[] = {
    PER_RESOURCE("vm_request"), PER_RESOURCE("vm_mean"), PER_RESOURCE("vm_peak"),
    PER_RESOURCE("vm_std"), PER_RESOURCE("vm_trend"), PER_RESOURCE("vm_last"),
    PER_RESOURCE("vm_peak_to_request"),
    PER_RESOURCE("host_capacity"), PER_RESOURCE("host_allocated"),
    PER_RESOURCE("host_allocated_ratio"), PER_RESOURCE("host_mean"), PER_RESOURCE("host_peak"),
    PER_RESOURCE("host_std"), PER_RESOURCE("host_trend"), PER_RESOURCE("host_last"),
    PER_RESOURCE("host_util"),
    PER_RESOURCE("request_share"), PER_RESOURCE("alloc_ratio_after"),
    PER_RESOURCE("mean_util_after"), PER_RESOURCE("peak_util_after"),
    PER_RESOURCE("joint_peak_util_after"), PER_RESOURCE("peak_diversity"),
    PER_RESOURCE("headroom_after"), PER_RESOURCE("peak_headroom_after"),
    PER_RESOURCE("overcommit_after"), PER_RESOURCE("overload_frac_after"),
    PER_RESOURCE("overload_excess_after"), PER_RESOURCE("demand_corr"),
    "alloc_util_mean_after", "alloc_util_std_after", "alloc_util_max_after",
    "alloc_util_min_after", "usage_util_std_after", "joint_peak_util_max_after",
    "tetris_alignment", "cosine_alignment", "tetris_usage_alignment", "free_l2_before",
    "free_l2_after", "free_min_after", "stranded_after", "dominant_share",
    "dominant_resource", "resources_over_after",
    "vm_count", "vm_count_after", "host_empty", "group_size", "group_on_host",
    "group_in_domain", "group_domain_frac", "group_exposure_after", "group_domains",
    "group_domains_after", "group_spread_gain", "peers", "peers_on_host", "peers_in_domain",
    "peers_on_host_frac", "peers_in_domain_frac", "net_distance", "net_traffic_hops",
    "nic_mbps", "nic_util_vm", "nic_util_after", "failure_rate", "cost",
    "cost_per_vm_after", "domain_cpu_share", "domain_hosts",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(COUNT(factor_names) == NF, "one name per factor");
_Static_assert(COUNT(resource_names) == NR, "one name per resource");
_Static_assert(COUNT(vm_info_names) == N_VM_INFO, "one name per vm_info column");
_Static_assert(COUNT(host_info_names) == N_HOST_INFO, "one name per host_info column");
_Static_assert(COUNT(column_names) == N_COLUMNS, "one name per input column");

const char *fc_place_factor_name(size_t factor)
{
    return factor < NF ? factor_names[factor] : NULL;
}

const char *fc_place_resource_name(size_t resource)
{
    return resource < NR ? resource_names[resource] : NULL;
}

const char *fc_place_vm_info_name(size_t column)
{
    return column < N_VM_INFO ? vm_info_names[column] : NULL;
}

const char *fc_place_host_info_name(size_t column)
{
    return column < N_HOST_INFO ? host_info_names[column] : NULL;
}

const char *fc_place_column_name(size_t column)
{
    return column < N_COLUMNS ? column_names[column] : NULL;
}

size_t fc_place_factor_count(void) { return NF; }

size_t fc_place_output_len(size_t n_hosts)
{
    return n_hosts > SIZE_MAX / NF ? 0 : n_hosts * NF;
}

static uint64_t fnv1a(uint64_t h, const char *text)
{
    for (; *text != '\0'; text++) {
        h ^= (uint64_t)(unsigned char)*text;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv1a_joined(uint64_t h, const char *const *names, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (i > 0) h = fnv1a(h, "+");
        h = fnv1a(h, names[i]);
    }
    return h;
}

fc_status fc_place_hash(uint64_t *hash)
{
    static const char *const major[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t f;
    if (hash == NULL) return FC_ERR_NULL_POINTER;
    h = fnv1a(h, "dwcp-fc/");
    h = fnv1a(h, major[FC_VERSION_MAJOR % 10]);
    h = fnv1a(h, ";place;resources=");
    h = fnv1a_joined(h, resource_names, NR);
    h = fnv1a(h, ";vm_info=");
    h = fnv1a_joined(h, vm_info_names, N_VM_INFO);
    h = fnv1a(h, ";host_info=");
    h = fnv1a_joined(h, host_info_names, N_HOST_INFO);
    for (f = 0; f < NF; f++) {
        h = fnv1a(h, ";f32:");
        h = fnv1a(h, factor_names[f]);
    }
    *hash = h;
    return FC_OK;
}

/* ---- parameters ----------------------------------------------------------------- */

fc_status fc_place_params_init(fc_place_params *params)
{
    if (params == NULL) return FC_ERR_NULL_POINTER;
    memset(params, 0, sizeof *params);
    params->step_seconds = 300;
    params->history = 12;
    return FC_OK;
}

fc_status fc_place_params_check(const fc_place_params *params, fc_error *err)
{
    if (params == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (params->history < 2 || params->history > FC_MAX_STAT_WINDOW ||
        params->step_seconds < 1 || params->step_seconds > 86400)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    return FC_OK;
}

/* ---- validation ----------------------------------------------------------------- */

/* Checks n values of an array with ncol columns (column i % ncol is input column
 * col0 + i % ncol) for host (-1: a VM array). A capacity must also be > 0. One branch-free
 * scan; only a bad array is scanned again for the first bad value. */
static fc_status check_values(const double *x, size_t n, size_t ncol, int64_t host,
                              int32_t col0, int capacity, fc_error *err)
{
    size_t i;
    int ok = 1;
    if (capacity) {
        for (i = 0; i < n; i++) ok &= (x[i] > 0.0) & (x[i] <= DBL_MAX);
    } else {
        for (i = 0; i < n; i++) ok &= (x[i] >= 0.0) & (x[i] <= DBL_MAX); /* -0.0 passes */
    }
    if (ok) return FC_OK;
    for (i = 0; i < n; i++) {
        const double v = x[i];
        const int32_t col = col0 + (int32_t)(i % ncol);
        if (isnan(v)) return fc__fail(err, FC_ERR_MISSING, host, col, -1);
        if (isinf(v)) return fc__fail(err, FC_ERR_INFINITE, host, col, -1);
        if (v < 0.0) return fc__fail(err, FC_ERR_NEGATIVE, host, col, -1);
        if (capacity && v == 0.0) return fc__fail(err, FC_ERR_ZERO_CAPACITY, host, col, -1);
    }
    return FC_OK; /* not reached */
}

/* ---- statistics of one resource's history -------------------------------------- */

/* Constants of a history length: H, (H - 1) / 2, sum of (t - mid)^2 = (H - 1) H (H + 1) / 12
 * (exact in double for H <= FC_MAX_STAT_WINDOW) and hours per step. */
typedef struct hist {
    size_t n;
    double len, mid, slope_den, per_hour;
} hist;

/* A power of two p with x * p in [1, 4) for finite x > 0: the correlation's deviations are
 * scaled by it, which is exact (only the exponent changes), so the correlation keeps the
 * bits of the unscaled formula while its sums can neither overflow nor underflow. Built
 * from x's exponent bits: no libm. */
static double pow2_scale(double x)
{
    uint64_t b;
    int64_t f;
    memcpy(&b, &x, sizeof b);
    f = 2046 - (int64_t)((b >> 52) & 0x7ff);
    if (f < 1) f = 1;
    if (f > 2046) f = 2046;
    b = (uint64_t)f << 52;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* Statistics of x_t = x[t * NR], t = 0 .. H-1. A constant history (min == max) has mean =
 * that value and std, trend 0 exactly (a rounded mean must not invent a spread). */
typedef struct series {
    double mean, peak, lo, std, trend, last;
    double scale; /* pow2_scale(max |x_t - mean|), 0 for a constant history */
    double sq;    /* sum of ((x_t - mean) * scale)^2 (the VM's, for the correlation) */
    int constant;
} series;

/* The mean, peak, std, trend and last value; lo and hi from pass 1. */
static void finish_series(const hist *hs, double lo, double hi, double total, series *s)
{
    s->lo = lo;
    s->peak = hi;
    s->constant = !(lo < hi);
    s->mean = s->constant ? lo : total / hs->len;
    /* max |x_t - mean| is at the minimum or the maximum (rounding is monotonic) */
    s->scale = s->constant ? 0.0
                           : pow2_scale(hi - s->mean > s->mean - lo ? hi - s->mean : s->mean - lo);
}

/* The VM's history of one resource: two passes. */
static void vm_series(const hist *hs, const double *x, series *s)
{
    const size_t H = hs->n;
    lanes sum = {0.0, 0.0, 0.0, 0.0}, sq = {0.0, 0.0, 0.0, 0.0}, cross = {0.0, 0.0, 0.0, 0.0};
    lanes ssq = {0.0, 0.0, 0.0, 0.0};
    double lo = x[0], hi = x[0];
    size_t t;
    for (t = 0; t < H; t++) {
        const double a = x[t * NR];
        lanes_add(&sum, t, a);
        if (a < lo) lo = a;
        if (a > hi) hi = a;
    }
    finish_series(hs, lo, hi, lanes_total(&sum), s);
    s->last = x[(H - 1) * NR];
    s->std = s->trend = s->sq = 0.0;
    if (s->constant) return;
    for (t = 0; t < H; t++) {
        const double d = x[t * NR] - s->mean, e = d * s->scale;
        lanes_add(&sq, t, d * d);
        lanes_add(&cross, t, ((double)t - hs->mid) * d);
        lanes_add(&ssq, t, e * e);
    }
    s->std = sqrt(lanes_total(&sq) / hs->len);
    s->trend = (lanes_total(&cross) / hs->slope_den) * hs->per_hour;
    s->sq = lanes_total(&ssq);
}

/* The host's history h and the VM's v of one resource together. */
typedef struct joint {
    double peak;   /* max_t (h_t + v_t) */
    double over;   /* samples with h_t + v_t > capacity */
    double excess; /* sum_t max(0, h_t + v_t - capacity) */
    double corr;   /* Pearson correlation of h and v; 0 when either is constant */
} joint;

/* The host's history of one resource (its series statistics into sh) and its joint
 * statistics with the VM's (sv, history v): two passes, no division in the loops. */
static void host_series(const hist *hs, const double *h, const double *v, const series *sv,
                        double cap, series *sh, joint *j)
{
    const size_t H = hs->n;
    lanes sum = {0.0, 0.0, 0.0, 0.0}, excess = {0.0, 0.0, 0.0, 0.0};
    lanes sq = {0.0, 0.0, 0.0, 0.0}, cross = {0.0, 0.0, 0.0, 0.0};
    lanes sxy = {0.0, 0.0, 0.0, 0.0}, syy = {0.0, 0.0, 0.0, 0.0};
    double lo = h[0], hi = h[0], peak = h[0] + v[0], over = 0.0;
    size_t t;
    /* The loops are unrolled by 4 with term t in lane t mod 4 (the order of lanes_add), so
     * the lanes stay in registers. */
    /* pass 1: sum, min, max of h; peak, overload count and excess of h + v. Adding a 0.0
     * excess leaves a lane's bits unchanged, so the sum is the sum over overloaded samples. */
#define PASS1(L, T)                                                                         \
    do {                                                                                    \
        const double a_ = h[(T) * NR], s_ = a_ + v[(T) * NR];                               \
        const int hot_ = s_ > cap;                                                          \
        sum.L = sum.L + a_;                                                                 \
        excess.L = excess.L + (hot_ ? s_ - cap : 0.0);                                      \
        over = over + (hot_ ? 1.0 : 0.0);                                                   \
        if (a_ < lo) lo = a_;                                                               \
        if (a_ > hi) hi = a_;                                                               \
        if (s_ > peak) peak = s_;                                                           \
    } while (0)
    for (t = 0; t + 4 <= H; t += 4) {
        PASS1(l0, t);
        PASS1(l1, t + 1);
        PASS1(l2, t + 2);
        PASS1(l3, t + 3);
    }
    for (; t < H; t++) {
        switch (t & 3) {
        case 0: PASS1(l0, t); break;
        case 1: PASS1(l1, t); break;
        default: PASS1(l2, t); break; /* a tail has at most 3 terms */
        }
    }
#undef PASS1
    finish_series(hs, lo, hi, lanes_total(&sum), sh);
    sh->last = h[(H - 1) * NR];
    sh->std = sh->trend = sh->sq = 0.0;
    j->peak = peak;
    j->over = over;
    j->excess = lanes_total(&excess);
    j->corr = 0.0;
    if (sh->constant) return;
    /* pass 2 (two-pass variance): squared and time-weighted deviations, and the scaled
     * deviations of both histories for the correlation (ex = 0 when the VM's history is
     * constant: its correlation is then 0 and is not computed) */
#define PASS2(L, T)                                                                         \
    do {                                                                                    \
        const double d_ = h[(T) * NR] - sh->mean, ey_ = d_ * sh->scale;                     \
        const double ex_ = (v[(T) * NR] - sv->mean) * sv->scale;                            \
        sq.L = sq.L + d_ * d_;                                                              \
        cross.L = cross.L + ((double)(T) - hs->mid) * d_;                                   \
        sxy.L = sxy.L + ex_ * ey_;                                                          \
        syy.L = syy.L + ey_ * ey_;                                                          \
    } while (0)
    for (t = 0; t + 4 <= H; t += 4) {
        PASS2(l0, t);
        PASS2(l1, t + 1);
        PASS2(l2, t + 2);
        PASS2(l3, t + 3);
    }
    for (; t < H; t++) {
        switch (t & 3) {
        case 0: PASS2(l0, t); break;
        case 1: PASS2(l1, t); break;
        default: PASS2(l2, t); break;
        }
    }
#undef PASS2
    if (!sv->constant) {
        double corr = lanes_total(&sxy) / sqrt(sv->sq * lanes_total(&syy));
        if (corr > 1.0) corr = 1.0;
        if (corr < -1.0) corr = -1.0;
        j->corr = corr;
    }
    sh->std = sqrt(lanes_total(&sq) / hs->len);
    sh->trend = (lanes_total(&cross) / hs->slope_den) * hs->per_hour;
}

/* ---- one row -------------------------------------------------------------------- */

static double sum4(const double a[NR]) { return (a[0] + a[1]) + (a[2] + a[3]); }

static double max4(const double a[NR])
{
    double m = a[0];
    size_t r;
    for (r = 1; r < NR; r++)
        if (a[r] > m) m = a[r];
    return m;
}

static double min4(const double a[NR])
{
    double m = a[0];
    size_t r;
    for (r = 1; r < NR; r++)
        if (a[r] < m) m = a[r];
    return m;
}

/* Population standard deviation of 4 values (two-pass). */
static double std4(const double a[NR])
{
    const double m = sum4(a) / (double)NR;
    double d[NR];
    size_t r;
    for (r = 0; r < NR; r++) d[r] = (a[r] - m) * (a[r] - m);
    return sqrt(sum4(d) / (double)NR);
}

/* What every row shares: the VM's statistics and factors. */
typedef struct vm_ctx {
    hist hs;
    const double *request, *history, *info;
    series s[NR];
    double factors[HOST_CAPACITY]; /* factors 0 .. 27 */
} vm_ctx;

static void vm_prepare(vm_ctx *c)
{
    size_t r;
    for (r = 0; r < NR; r++) {
        series *s = &c->s[r];
        const double req = c->request[r];
        vm_series(&c->hs, c->history + r, s);
        c->factors[VM_REQUEST + r] = req;
        c->factors[VM_MEAN + r] = s->mean;
        c->factors[VM_PEAK + r] = s->peak;
        c->factors[VM_STD + r] = s->std;
        c->factors[VM_TREND + r] = s->trend;
        c->factors[VM_LAST + r] = s->last;
        c->factors[VM_PEAK_TO_REQUEST + r] = req > 0.0 ? s->peak / req : 0.0;
    }
}

/* The factors of host h, in double; x[0 .. 27] are the VM's. */
static void host_factors(const vm_ctx *c, const double *cap, const double *alloc,
                         const double *usage, const double *info, double *x)
{
    const double *vinfo = c->info;
    const series *vnet = &c->s[3];
    double u[NR], w[NR], p[NR], q[NR], fb[NR], fb_pos[NR], g[NR], qf[NR], usage_align[NR];
    double sq[NR], tmp[NR], m, nq, nf, gmin, jnet_peak = 0.0;
    size_t r, dominant = 0;
    double over_count = 0.0;

    memcpy(x, c->factors, sizeof c->factors);
    for (r = 0; r < NR; r++) {
        const double k = cap[r], a = alloc[r], req = c->request[r];
        const double after = a + req;
        const series *sv = &c->s[r];
        series sh;
        joint j;
        host_series(&c->hs, usage + r, c->history + r, sv, k, &sh, &j);
        if (r == 3) jnet_peak = j.peak;

        x[HOST_CAPACITY + r] = k;
        x[HOST_ALLOCATED + r] = a;
        x[HOST_ALLOCATED_RATIO + r] = a / k;
        x[HOST_MEAN + r] = sh.mean;
        x[HOST_PEAK + r] = sh.peak;
        x[HOST_STD + r] = sh.std;
        x[HOST_TREND + r] = sh.trend;
        x[HOST_LAST + r] = sh.last;
        x[HOST_UTIL + r] = sh.mean / k;

        q[r] = req / k;
        u[r] = after / k;
        w[r] = (sh.mean + sv->mean) / k;
        p[r] = j.peak / k;
        x[REQUEST_SHARE + r] = q[r];
        x[ALLOC_RATIO_AFTER + r] = u[r];
        x[MEAN_UTIL_AFTER + r] = w[r];
        x[PEAK_UTIL_AFTER + r] = (sh.peak + sv->peak) / k;
        x[JOINT_PEAK_UTIL_AFTER + r] = p[r];
        x[PEAK_DIVERSITY + r] = j.peak > 0.0 ? (sh.peak + sv->peak) / j.peak : 1.0;
        x[HEADROOM_AFTER + r] = k - after;
        x[PEAK_HEADROOM_AFTER + r] = k - j.peak;
        x[OVERCOMMIT_AFTER + r] = after > k ? (after - k) / k : 0.0;
        x[OVERLOAD_FRAC_AFTER + r] = j.over / c->hs.len;
        x[OVERLOAD_EXCESS_AFTER + r] = (j.excess / c->hs.len) / k;
        x[DEMAND_CORR + r] = j.corr;

        fb[r] = (k - a) / k;
        fb_pos[r] = fb[r] > 0.0 ? fb[r] : 0.0;
        g[r] = k > after ? (k - after) / k : 0.0;
        qf[r] = q[r] * fb[r];
        usage_align[r] = (sv->mean / k) * ((k - sh.mean) / k);
        if (after > k) over_count = over_count + 1.0;
        if (q[r] > q[dominant]) dominant = r;
    }

    m = sum4(u) / (double)NR;
    x[ALLOC_UTIL_MEAN_AFTER] = m;
    x[ALLOC_UTIL_STD_AFTER] = std4(u);
    x[ALLOC_UTIL_MAX_AFTER] = max4(u);
    x[ALLOC_UTIL_MIN_AFTER] = min4(u);
    x[USAGE_UTIL_STD_AFTER] = std4(w);
    x[JOINT_PEAK_UTIL_MAX_AFTER] = max4(p);
    x[TETRIS_ALIGNMENT] = sum4(qf);
    for (r = 0; r < NR; r++) sq[r] = q[r] * q[r];
    nq = sqrt(sum4(sq));
    for (r = 0; r < NR; r++) sq[r] = fb[r] * fb[r];
    nf = sqrt(sum4(sq));
    if (nq > 0.0 && nf > 0.0) {
        double cosine = (x[TETRIS_ALIGNMENT] / nq) / nf;
        if (cosine > 1.0) cosine = 1.0;
        if (cosine < -1.0) cosine = -1.0;
        x[COSINE_ALIGNMENT] = cosine;
    } else {
        x[COSINE_ALIGNMENT] = 0.0;
    }
    x[TETRIS_USAGE_ALIGNMENT] = sum4(usage_align);
    for (r = 0; r < NR; r++) sq[r] = fb_pos[r] * fb_pos[r];
    x[FREE_L2_BEFORE] = sqrt(sum4(sq));
    for (r = 0; r < NR; r++) sq[r] = g[r] * g[r];
    x[FREE_L2_AFTER] = sqrt(sum4(sq));
    gmin = min4(g);
    x[FREE_MIN_AFTER] = gmin;
    for (r = 0; r < NR; r++) tmp[r] = g[r] - gmin;
    x[STRANDED_AFTER] = sum4(tmp) / (double)NR;
    x[DOMINANT_SHARE] = q[dominant];
    x[DOMINANT_RESOURCE] = (double)dominant;
    x[RESOURCES_OVER_AFTER] = over_count;

    x[VM_COUNT] = info[0];
    x[VM_COUNT_AFTER] = info[0] + 1.0;
    x[HOST_EMPTY] = info[0] == 0.0 ? 1.0 : 0.0;
    x[GROUP_SIZE] = vinfo[0];
    x[GROUP_ON_HOST] = info[1];
    x[GROUP_IN_DOMAIN] = info[2];
    x[GROUP_DOMAIN_FRAC] = vinfo[0] > 0.0 ? info[2] / vinfo[0] : 0.0;
    x[GROUP_EXPOSURE_AFTER] = (info[2] + 1.0) / (vinfo[0] + 1.0);
    x[GROUP_DOMAINS] = info[3];
    x[GROUP_DOMAINS_AFTER] = info[4];
    x[GROUP_SPREAD_GAIN] = info[4] - info[3];
    x[PEERS] = vinfo[1];
    x[PEERS_ON_HOST] = info[5];
    x[PEERS_IN_DOMAIN] = info[6];
    x[PEERS_ON_HOST_FRAC] = vinfo[1] > 0.0 ? info[5] / vinfo[1] : 0.0;
    x[PEERS_IN_DOMAIN_FRAC] = vinfo[1] > 0.0 ? info[6] / vinfo[1] : 0.0;
    x[NET_DISTANCE] = info[7];
    x[NET_TRAFFIC_HOPS] = vnet->mean * info[7];
    x[NIC_MBPS] = info[8];
    x[NIC_UTIL_VM] = info[8] > 0.0 ? (vnet->peak * MBPS_PER_KBS) / info[8] : 0.0;
    x[NIC_UTIL_AFTER] = info[8] > 0.0 ? (jnet_peak * MBPS_PER_KBS) / info[8] : 0.0;
    x[FAILURE_RATE] = info[9];
    x[COST] = info[10];
    x[COST_PER_VM_AFTER] = info[10] / (info[0] + 1.0);
    x[DOMAIN_CPU_SHARE] = info[11];
    x[DOMAIN_HOSTS] = info[12];
}

/* ---- the call ------------------------------------------------------------------- */

fc_status fc_place_factors(const fc_place_params *params,
                           const double *vm_request, size_t vm_request_len,
                           const double *vm_history, size_t vm_history_len,
                           const double *vm_info, size_t vm_info_len,
                           size_t n_hosts,
                           const double *host_capacity, size_t host_capacity_len,
                           const double *host_allocated, size_t host_allocated_len,
                           const double *host_usage, size_t host_usage_len,
                           const double *host_info, size_t host_info_len,
                           float *out, size_t out_len, fc_error *err)
{
    vm_ctx c;
    size_t H, HR, h, f;
    fc_status st = fc_place_params_check(params, err);
    if (st != FC_OK) return st;
    H = params->history;
    HR = H * NR;

    /* pointers and lengths, array by array */
    if (vm_request == NULL && vm_request_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_VM_REQUEST, -1);
    if (vm_history == NULL && vm_history_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_VM_HISTORY, -1);
    if (vm_info == NULL && vm_info_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_VM_INFO, -1);
    if (host_capacity == NULL && host_capacity_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_HOST_CAPACITY, -1);
    if (host_allocated == NULL && host_allocated_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_HOST_ALLOCATED, -1);
    if (host_usage == NULL && host_usage_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_HOST_USAGE, -1);
    if (host_info == NULL && host_info_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, COL_HOST_INFO, -1);
    if (vm_request_len != NR) return fc__fail(err, FC_ERR_LENGTH, -1, COL_VM_REQUEST, -1);
    if (vm_history_len != HR) return fc__fail(err, FC_ERR_LENGTH, -1, COL_VM_HISTORY, -1);
    if (vm_info_len != N_VM_INFO) return fc__fail(err, FC_ERR_LENGTH, -1, COL_VM_INFO, -1);
    if (n_hosts > SIZE_MAX / HR || n_hosts > SIZE_MAX / NF)
        return fc__fail(err, FC_ERR_LENGTH, -1, COL_HOST_CAPACITY, -1);
    if (host_capacity_len != n_hosts * NR)
        return fc__fail(err, FC_ERR_LENGTH, -1, COL_HOST_CAPACITY, -1);
    if (host_allocated_len != n_hosts * NR)
        return fc__fail(err, FC_ERR_LENGTH, -1, COL_HOST_ALLOCATED, -1);
    if (host_usage_len != n_hosts * HR)
        return fc__fail(err, FC_ERR_LENGTH, -1, COL_HOST_USAGE, -1);
    if (host_info_len != n_hosts * N_HOST_INFO)
        return fc__fail(err, FC_ERR_LENGTH, -1, COL_HOST_INFO, -1);

    /* values: the VM, then host by host */
    st = check_values(vm_request, NR, NR, -1, COL_VM_REQUEST, 0, err);
    if (st == FC_OK) st = check_values(vm_history, HR, NR, -1, COL_VM_HISTORY, 0, err);
    if (st == FC_OK) st = check_values(vm_info, N_VM_INFO, N_VM_INFO, -1, COL_VM_INFO, 0, err);
    for (h = 0; h < n_hosts && st == FC_OK; h++) {
        const int64_t hi = (int64_t)h;
        st = check_values(host_capacity + h * NR, NR, NR, hi, COL_HOST_CAPACITY, 1, err);
        if (st == FC_OK)
            st = check_values(host_allocated + h * NR, NR, NR, hi, COL_HOST_ALLOCATED, 0, err);
        if (st == FC_OK)
            st = check_values(host_usage + h * HR, HR, NR, hi, COL_HOST_USAGE, 0, err);
        if (st == FC_OK)
            st = check_values(host_info + h * N_HOST_INFO, N_HOST_INFO, N_HOST_INFO, hi,
                              COL_HOST_INFO, 0, err);
    }
    if (st != FC_OK) return st;

    if (n_hosts > 0 && out == NULL && out_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (out_len < n_hosts * NF) return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    if (n_hosts == 0) return FC_OK;

    c.hs.n = H;
    c.hs.len = (double)H;
    c.hs.mid = (c.hs.len - 1.0) / 2.0;
    c.hs.slope_den = ((c.hs.len - 1.0) * c.hs.len * (c.hs.len + 1.0)) / 12.0;
    c.hs.per_hour = 3600.0 / (double)params->step_seconds;
    c.request = vm_request;
    c.history = vm_history;
    c.info = vm_info;
    vm_prepare(&c);

    for (h = 0; h < n_hosts; h++) {
        double x[NF];
        float *row = out + h * NF;
        int ok = 1;
        host_factors(&c, host_capacity + h * NR, host_allocated + h * NR, host_usage + h * HR,
                     host_info + h * N_HOST_INFO, x);
        for (f = 0; f < NF; f++) { /* rounded once; NaN or beyond float32 is FC_ERR_RANGE */
            const float v = (float)x[f];
            ok &= (v >= -FLT_MAX) & (v <= FLT_MAX);
            row[f] = v;
        }
        if (!ok) {
            for (f = 0; f < NF; f++)
                if (!(row[f] >= -FLT_MAX && row[f] <= FLT_MAX))
                    return fc__fail(err, FC_ERR_RANGE, (int64_t)h, -1, (int32_t)f);
        }
    }
    return FC_OK;
}
