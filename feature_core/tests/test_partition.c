/*
 * test_partition.c — unit tests of the task partitioning rule (fc_partition_*, docs/partition.md).
 *
 * Checks every documented status and its fc_error position, the proportional quota, the
 * largest-remainder rule and its tie order on hand-computed cases, and on 20,000 seeded
 * random cases the invariants: chunks sum to size exactly, unusable streams get 0, every
 * chunk is within one byte of its exact quota, and the finish times differ by at most the
 * one byte each. Prints "N passed, N failed"; exit status non-zero on a failure.
 */
#include "test_check.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_MAX 64

typedef struct result {
    fc_status st;
    fc_error err;
    uint64_t chunks[N_MAX];
    uint8_t used[N_MAX];
    double seconds;
} result;

static result run(const fc_partition_params *p, const double *bw, size_t n, double min_bw,
                  uint64_t size, int32_t fec)
{
    result r;
    memset(&r, 0, sizeof r);
    r.err.status = FC_OK;
    r.err.index = -1;
    r.err.channel = -1;
    r.err.feature = -1;
    r.st = fc_partition_chunks(p, bw, n, min_bw, size, fec, r.chunks, N_MAX, r.used, N_MAX,
                               &r.seconds, &r.err);
    return r;
}

static fc_partition_params defaults(void)
{
    fc_partition_params p;
    fc_partition_params_init(&p);
    return p;
}

#define CHECK_RUN_ERR(r, want, index, channel)                                               \
    check_status((r).st, &(r).err, (want), (index), (channel), -1, #r, __LINE__)

static void test_params(void)
{
    fc_partition_params p;
    fc_error err = {FC_OK, -1, -1, -1};
    current = "params";
    CHECK(fc_partition_params_init(NULL) == FC_ERR_NULL_POINTER);
    CHECK_OK(fc_partition_params_init(&p));
    CHECK(p.fec_overhead == 0.0 && p.max_streams == FC_PARTITION_MAX_STREAMS);
    CHECK_OK(fc_partition_params_check(&p, &err));
    p.fec_overhead = NAN;
    check_status(fc_partition_params_check(&p, &err), &err, FC_ERR_BAD_PARAMS, -1,
                 FC_PARTITION_ARG_PARAMS, -1, "fec NaN", __LINE__);
    p.fec_overhead = -0.1;
    CHECK(fc_partition_params_check(&p, &err) == FC_ERR_BAD_PARAMS);
    p.fec_overhead = FC_PARTITION_MAX_FEC_OVERHEAD;
    CHECK_OK(fc_partition_params_check(&p, &err));
    p.fec_overhead = 8.5;
    CHECK(fc_partition_params_check(&p, &err) == FC_ERR_BAD_PARAMS);
    p.fec_overhead = 0.0;
    p.max_streams = 0;
    CHECK(fc_partition_params_check(&p, &err) == FC_ERR_BAD_PARAMS);
    p.max_streams = FC_PARTITION_MAX_STREAMS + 1;
    CHECK(fc_partition_params_check(&p, &err) == FC_ERR_BAD_PARAMS);
    CHECK(fc_partition_params_check(NULL, &err) == FC_ERR_NULL_POINTER);
}

static void test_statuses(void)
{
    fc_partition_params p = defaults();
    const double bw[3] = {10.0, 20.0, 30.0};
    const double nan3[3] = {10.0, NAN, 30.0};
    const double inf3[3] = {10.0, 20.0, -INFINITY};
    const double neg3[3] = {10.0, -1.0, 30.0};
    const double zero3[3] = {0.0, 0.0, 0.0};
    const double huge3[3] = {DBL_MAX, DBL_MAX, 1.0};
    const double tiny1[1] = {DBL_TRUE_MIN};
    double secs;
    uint64_t chunks[3];
    uint8_t used[3];
    fc_error err = {FC_OK, -1, -1, -1};
    result r;
    current = "statuses";

    r = run(&p, bw, 3, NAN, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_MISSING, -1, FC_PARTITION_ARG_MIN_BANDWIDTH);
    r = run(&p, bw, 3, INFINITY, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_INFINITE, -1, FC_PARTITION_ARG_MIN_BANDWIDTH);
    r = run(&p, bw, 3, -1.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_NEGATIVE, -1, FC_PARTITION_ARG_MIN_BANDWIDTH);
    r = run(&p, bw, 3, 0.0, 0, 0);
    CHECK_RUN_ERR(r, FC_ERR_EMPTY, -1, FC_PARTITION_ARG_SIZE);
    r = run(&p, bw, 3, 0.0, FC_PARTITION_MAX_BYTES + 1, 0);
    CHECK_RUN_ERR(r, FC_ERR_RANGE, -1, FC_PARTITION_ARG_SIZE);
    r = run(&p, bw, 3, 0.0, FC_PARTITION_MAX_BYTES, 0);
    CHECK_OK(r.st);
    r = run(&p, nan3, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_MISSING, 1, FC_PARTITION_ARG_FORECAST);
    r = run(&p, inf3, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_INFINITE, 2, FC_PARTITION_ARG_FORECAST);
    r = run(&p, neg3, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_NEGATIVE, 1, FC_PARTITION_ARG_FORECAST);
    r = run(&p, zero3, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_EMPTY, -1, FC_PARTITION_ARG_FORECAST);
    r = run(&p, bw, 3, 30.5, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_EMPTY, -1, FC_PARTITION_ARG_FORECAST);
    r = run(&p, huge3, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_RANGE, -1, FC_PARTITION_ARG_FORECAST);
    r = run(&p, tiny1, 1, 0.0, FC_PARTITION_MAX_BYTES, 0);
    CHECK_RUN_ERR(r, FC_ERR_RANGE, -1, FC_PARTITION_ARG_EXPECTED);
    r = run(&p, bw, 0, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_LENGTH, -1, FC_PARTITION_ARG_FORECAST);
    r = run(&p, bw, 3, 0.0, 100, 2);
    CHECK_RUN_ERR(r, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_REQUIRES_FEC);
    p.max_streams = 2;
    r = run(&p, bw, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_FORECAST);
    p = defaults();
    p.fec_overhead = NAN;
    r = run(&p, bw, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_BAD_PARAMS, -1, FC_PARTITION_ARG_PARAMS);
    r = run(NULL, bw, 3, 0.0, 100, 0);
    CHECK(r.st == FC_ERR_NULL_POINTER);
    p = defaults();
    r = run(&p, NULL, 3, 0.0, 100, 0);
    CHECK_RUN_ERR(r, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_FORECAST);

    check_status(fc_partition_chunks(&p, bw, 3, 0.0, 100, 0, chunks, 2, used, 3, &secs, &err),
                 &err, FC_ERR_OUTPUT_SIZE, -1, FC_PARTITION_ARG_CHUNKS, -1, "chunk_len", __LINE__);
    check_status(fc_partition_chunks(&p, bw, 3, 0.0, 100, 0, chunks, 3, used, 2, &secs, &err),
                 &err, FC_ERR_OUTPUT_SIZE, -1, FC_PARTITION_ARG_USED, -1, "used_len", __LINE__);
    check_status(fc_partition_chunks(&p, bw, 3, 0.0, 100, 0, NULL, 3, used, 3, &secs, &err),
                 &err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_CHUNKS, -1, "chunks", __LINE__);
    check_status(fc_partition_chunks(&p, bw, 3, 0.0, 100, 0, chunks, 3, NULL, 3, &secs, &err),
                 &err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_USED, -1, "used", __LINE__);
    check_status(fc_partition_chunks(&p, bw, 3, 0.0, 100, 0, chunks, 3, used, 3, NULL, &err),
                 &err, FC_ERR_NULL_POINTER, -1, FC_PARTITION_ARG_EXPECTED, -1, "secs", __LINE__);
    /* a NULL fc_error is allowed */
    CHECK(fc_partition_chunks(&p, nan3, 3, 0.0, 100, 0, chunks, 3, used, 3, &secs, NULL) ==
          FC_ERR_MISSING);
}

static void test_exact(void)
{
    fc_partition_params p = defaults();
    const double bw[3] = {10.0, 20.0, 30.0};
    const double eq[3] = {1.0, 1.0, 1.0};
    const double gated[4] = {5.0, 50.0, 0.0, 100.0};
    result r;
    current = "exact";

    /* 600 bytes at 10:20:30 -> 100, 200, 300 and 600 * 8 / 60e6 s */
    r = run(&p, bw, 3, 0.0, 600, 0);
    CHECK_OK(r.st);
    CHECK(r.chunks[0] == 100 && r.chunks[1] == 200 && r.chunks[2] == 300);
    CHECK(r.used[0] == 1 && r.used[1] == 1 && r.used[2] == 1);
    CHECK_DOUBLE(r.seconds, (600.0 * 8.0 * 1.0 / 1000000.0) / 60.0);

    /* 100 over three equal streams: quotas 33.33 each, one byte left -> stream 0 (ties to
     * the lower index) */
    r = run(&p, eq, 3, 0.0, 100, 0);
    CHECK(r.chunks[0] == 34 && r.chunks[1] == 33 && r.chunks[2] == 33);
    /* 2 bytes over three equal streams: 1, 1, 0 */
    r = run(&p, eq, 3, 0.0, 2, 0);
    CHECK(r.chunks[0] == 1 && r.chunks[1] == 1 && r.chunks[2] == 0);
    /* 7 at 10:20:30: quotas 1.1667, 2.3333, 3.5 -> floors 1, 2, 3, the byte to stream 2 */
    r = run(&p, bw, 3, 0.0, 7, 0);
    CHECK(r.chunks[0] == 1 && r.chunks[1] == 2 && r.chunks[2] == 4);

    /* min_bandwidth 10 excludes 5 and 0; 1000 over 50:100 -> 333.33, 666.67 -> 333, 667 */
    r = run(&p, gated, 4, 10.0, 1000, 0);
    CHECK_OK(r.st);
    CHECK(r.chunks[0] == 0 && r.chunks[1] == 333 && r.chunks[2] == 0 && r.chunks[3] == 667);
    CHECK(r.used[0] == 0 && r.used[1] == 1 && r.used[2] == 0 && r.used[3] == 1);
    /* a forecast exactly at min_bandwidth is usable; 0 never is, even with min 0 */
    r = run(&p, gated, 4, 50.0, 1000, 0);
    CHECK(r.used[1] == 1 && r.chunks[1] == 333);
    r = run(&p, gated, 4, 0.0, 1000, 0);
    CHECK(r.used[0] == 1 && r.used[2] == 0 && r.chunks[2] == 0);

    /* FEC scales the time, never the chunks */
    p.fec_overhead = 0.25;
    r = run(&p, bw, 3, 0.0, 600, 1);
    CHECK(r.chunks[0] == 100 && r.chunks[1] == 200 && r.chunks[2] == 300);
    CHECK_DOUBLE(r.seconds, (600.0 * 8.0 * 1.25 / 1000000.0) / 60.0);
    r = run(&p, bw, 3, 0.0, 600, 0);
    CHECK_DOUBLE(r.seconds, (600.0 * 8.0 * 1.0 / 1000000.0) / 60.0);

    /* one stream takes everything; the largest size is exact */
    r = run(&p, bw + 1, 1, 0.0, FC_PARTITION_MAX_BYTES, 0);
    CHECK(r.chunks[0] == FC_PARTITION_MAX_BYTES);
}

/* xorshift64*: a fixed stream, so the random cases are the same everywhere. */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double unit(uint64_t *s) { return (double)(next(s) >> 11) / 9007199254740992.0; }

static void test_invariants(void)
{
    fc_partition_params p = defaults();
    uint64_t s = 20261204;
    double bw[N_MAX];
    int k, bad_sum = 0, bad_unused = 0, bad_quota = 0;
    current = "invariants";
    for (k = 0; k < 20000; k++) {
        size_t n = 1 + (size_t)(next(&s) % N_MAX), i;
        uint64_t size, total_chunks = 0;
        double min_bw = 0.0, total = 0.0;
        result r;
        int kind = (int)(next(&s) % 4);
        for (i = 0; i < n; i++) {
            double u = unit(&s);
            if (kind == 0) bw[i] = 1.0 + 999.0 * u;               /* ordinary links */
            else if (kind == 1) bw[i] = (u < 0.3) ? 0.0 : u * 1e3; /* some dead */
            else if (kind == 2) bw[i] = (double)(1 + next(&s) % 4); /* ties */
            else bw[i] = u * 1e-6 + 1e-6 * (double)(i % 3);       /* tiny rates */
        }
        if (next(&s) % 3 == 0) min_bw = bw[next(&s) % n];
        switch (next(&s) % 4) {
        case 0: size = 1 + next(&s) % 100; break;
        case 1: size = 1 + next(&s) % 1000000; break;
        case 2: size = 1 + next(&s) % (1ULL << 40); break;
        default: size = FC_PARTITION_MAX_BYTES - next(&s) % 1000; break;
        }
        r = run(&p, bw, n, min_bw, size, 0);
        if (r.st == FC_ERR_EMPTY) continue; /* every stream below min_bw or dead */
        if (r.st != FC_OK) {
            CHECK_OK(r.st);
            continue;
        }
        for (i = 0; i < n; i++)
            if (bw[i] > 0.0 && bw[i] >= min_bw) total = total + bw[i];
        for (i = 0; i < n; i++) {
            total_chunks += r.chunks[i];
            if (!r.used[i] && r.chunks[i] != 0) bad_unused++;
            if (r.used[i]) {
                double q = (double)size * (bw[i] / total);
                double d = (double)r.chunks[i] - q;
                /* one byte of remainder plus the rounding of q (relative 2^-52 of size) */
                if (!(d > -1.0 - (double)size * 4.5e-16 && d < 1.0 + (double)size * 4.5e-16))
                    bad_quota++;
            }
        }
        if (total_chunks != size) bad_sum++;
    }
    CHECK(bad_sum == 0);
    CHECK(bad_unused == 0);
    CHECK(bad_quota == 0);
    printf("invariants: sum %d, unused %d, quota %d violations in 20000 cases\n", bad_sum,
           bad_unused, bad_quota);
}

/* Finish times chunk_i / bw_i agree to within one byte's time on the slowest used stream. */
static void test_finish_together(void)
{
    fc_partition_params p = defaults();
    const double bw[5] = {3.0, 17.5, 250.0, 0.5, 90.0};
    double tmin = 1e300, tmax = 0.0, slowest = 1e300;
    size_t i;
    result r = run(&p, bw, 5, 0.0, 123456789, 0);
    current = "finish together";
    CHECK_OK(r.st);
    for (i = 0; i < 5; i++) {
        double t = (double)r.chunks[i] * 8.0 / (bw[i] * 1e6);
        if (t < tmin) tmin = t;
        if (t > tmax) tmax = t;
        if (bw[i] < slowest) slowest = bw[i];
    }
    CHECK(tmax - tmin <= 8.0 / (slowest * 1e6) + 1e-12);
    CHECK(fabs(r.seconds - tmax) <= 8.0 / (slowest * 1e6) + 1e-12);
}

int main(void)
{
    test_params();
    test_statuses();
    test_exact();
    test_invariants();
    test_finish_together();
    return test_summary();
}
