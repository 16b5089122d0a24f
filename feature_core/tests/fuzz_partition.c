/*
 * fuzz_partition.c — libFuzzer target of fc_partition_chunks (docs/partition.md).
 *
 * The fuzzer's bytes choose the stream count, size, minimum bandwidth, FEC flag and overhead,
 * max_streams and every forecast (ordinary rates, zeros, ties, NaN, +-Inf, negatives,
 * subnormals, huge values, raw bit patterns). Invariants on every call: a status in the
 * enum; on FC_OK the chunks sum to size exactly, an unusable stream gets 0, a usable one is
 * within a byte (plus the rounding of its quota) of size * forecast / sum, and the expected
 * time is finite and > 0; on error fc_error carries the status and nothing is claimed.
 */
#include "feature_core.h"
#include "fuzz_common.h"

#include <float.h>
#include <math.h>

#define N_MAX 96

static double forecast_value(rd *r)
{
    uint8_t kind = u8(r);
    uint32_t m = u32(r);
    switch (kind % 12) {
    case 0: return 0.0;
    case 1: return NAN;
    case 2: return INFINITY;
    case 3: return -INFINITY;
    case 4: return -(double)(m % 1000);
    case 5: return DBL_TRUE_MIN * (double)(m % 7);
    case 6: return DBL_MAX / (double)(1 + m % 3);
    case 7: return (double)(1 + m % 4) * 10.0; /* ties */
    case 8: return from_dbits(u64(r));
    default: return (double)m / 1000.0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    double bw[N_MAX], secs = -1.0, total = 0.0, min_bw;
    uint64_t chunks[N_MAX], task, sum = 0;
    uint8_t used[N_MAX];
    fc_partition_params p;
    fc_error err = {FC_OK, -1, -1, -1};
    fc_status st;
    size_t n, i;
    int32_t fec;
    uint8_t sel;

    fc_partition_params_init(&p);
    n = u8(&r) % (N_MAX + 1);
    sel = u8(&r);
    switch (sel % 4) {
    case 0: task = 1 + u32(&r) % 1000; break;
    case 1: task = u64(&r) % (FC_PARTITION_MAX_BYTES + 2); break;
    case 2: task = FC_PARTITION_MAX_BYTES - u8(&r); break;
    default: task = u64(&r); break;
    }
    min_bw = (u8(&r) % 4 == 0) ? forecast_value(&r) : 0.0;
    fec = (int32_t)(u8(&r) % 3); /* 2 is a bad flag */
    if (u8(&r) % 4 == 0) p.fec_overhead = forecast_value(&r);
    if (u8(&r) % 8 == 0) p.max_streams = u32(&r) % (FC_PARTITION_MAX_STREAMS + 2);
    for (i = 0; i < n; i++) bw[i] = forecast_value(&r);

    st = fc_partition_chunks(&p, n ? bw : NULL, n, min_bw, task, fec, chunks, N_MAX, used,
                             N_MAX, &secs, &err);
    REQUIRE((unsigned)st < FC_STATUS_COUNT);
    if (st != FC_OK) {
        REQUIRE(err.status == st);
        REQUIRE(err.index >= -1 && err.index < (int64_t)n);
        return 0;
    }
    REQUIRE(n >= 1 && task >= 1 && task <= FC_PARTITION_MAX_BYTES);
    REQUIRE(secs > 0.0 && secs <= DBL_MAX);
    for (i = 0; i < n; i++)
        if (bw[i] > 0.0 && bw[i] >= min_bw) total += bw[i];
    for (i = 0; i < n; i++) {
        int ok = bw[i] > 0.0 && bw[i] >= min_bw;
        REQUIRE(used[i] == (ok ? 1u : 0u));
        if (!ok) REQUIRE(chunks[i] == 0);
        if (ok) {
            double q = (double)task * (bw[i] / total), d = (double)chunks[i] - q;
            REQUIRE(d > -1.0 - (double)task * 4.5e-16 && d < 1.0 + (double)task * 4.5e-16);
        }
        sum += chunks[i];
    }
    REQUIRE(sum == task);
    return 0;
}
