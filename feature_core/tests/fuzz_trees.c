/*
 * fuzz_trees.c — libFuzzer target of fc_trees_init and fc_trees_score (docs/feature-core.md
 * "Tree ensembles").
 *
 * The fuzzer's bytes seed a random ensemble (trees_ref.h), then corrupt it: node and tree
 * ids, children, modes, features, NaN flags, weights' targets and leaves, thresholds and
 * weights as raw bits, counts, base values, the model attributes. Invariants on every call: a
 * status in the enum and fc_error carrying it on failure; on FC_OK every kernel gives, for
 * fuzzed rows (NaN, +-Inf, threshold hits, raw bits), the reference evaluator's bits.
 */
#include "feature_core.h"
#include "fuzz_common.h"
#include "trees_ref.h"

#include <math.h>
#include <string.h>

static ref_model m;
static uint64_t buf[(1u << 20) / 8];
static float rows[64 * 40], out[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    ref_rng rng;
    fc_trees *t = NULL;
    fc_error err = {FC_OK, -1, -1, -1};
    fc_status st;
    size_t n_features, n_rows, n_cols, i, k, bytes = 0;
    int64_t n_targets = 1;
    int32_t agg = FC_TREES_SUM, post = FC_TREES_NONE;
    uint8_t n_mut;
    static const int32_t kernels[3] = {FC_TREES_KERNEL_AUTO, FC_TREES_KERNEL_BRANCHY,
                                       FC_TREES_KERNEL_INTERLEAVED};

    rng.s = u64(&r);
    n_features = 1 + u8(&r) % 40;
    ref_random_model(&m, &rng, 1 + u8(&r) % 40, 1 + u8(&r) % 32, n_features, u8(&r) % 2);
    n_mut = u8(&r) % 8;
    for (k = 0; k < n_mut && m.n > 0; k++) {
        size_t at = u32(&r) % m.n, wat = m.nw ? u32(&r) % m.nw : 0;
        switch (u8(&r) % 16) {
        case 0: m.id[at] = (int64_t)(u8(&r) % 8); break;
        case 1: m.tree[at] = (int64_t)(u8(&r) % 4); break;
        case 2: m.tn[at] = (int64_t)(u8(&r) % 16); break;
        case 3: m.fn[at] = (int64_t)(u8(&r) % 16); break;
        case 4: m.mode[at] = (int32_t)(u8(&r) % 10) - 1; break;
        case 5: m.feat[at] = (int64_t)(int8_t)u8(&r); break;
        case 6: m.mt[at] = (int64_t)(u8(&r) % 3); break;
        case 7: { uint32_t b = u32(&r); memcpy(&m.thr[at], &b, 4); } break;
        case 8: if (m.nw) m.wn[wat] = (int64_t)(u8(&r) % 16); break;
        case 9: if (m.nw) m.wt[wat] = (int64_t)(u8(&r) % 4); break;
        case 10: if (m.nw) m.wid[wat] = (int64_t)(u8(&r) % 2); break;
        case 11: if (m.nw) { uint32_t b = u32(&r); memcpy(&m.w[wat], &b, 4); } break;
        case 12: m.nw = m.nw ? u32(&r) % (m.nw + 1) : 0; break;
        case 13: m.n = u32(&r) % (m.n + 1); break;
        case 14: n_targets = (int64_t)(u8(&r) % 3); agg = (int32_t)(u8(&r) % 5);
                 post = (int32_t)(u8(&r) % 6); break;
        default: m.n_base = u8(&r) % 3 == 0 ? 0 : 1; break;
        }
    }
    if (fc_trees_size(m.n, &bytes) == FC_OK) REQUIRE(bytes <= sizeof buf);
    st = fc_trees_init(m.n, m.tree, m.id, m.feat, m.mode, m.thr, m.tn, m.fn, m.mt, m.nw, m.wt,
                       m.wn, m.wid, m.w, m.base, m.n_base, n_targets, agg, post, buf,
                       u8(&r) % 16 == 0 ? bytes / 2 : sizeof buf, &t, &err);
    REQUIRE((unsigned)st < FC_STATUS_COUNT);
    if (st != FC_OK) {
        REQUIRE(err.status == st && t == NULL);
        return 0;
    }
    REQUIRE(t != NULL && n_targets == 1 && agg == FC_TREES_SUM && post == FC_TREES_NONE);
    n_rows = u8(&r) % 65;
    n_cols = n_features + u8(&r) % 2;
    for (i = 0; i < n_rows * n_cols; i++) {
        uint8_t kind = u8(&r);
        switch (kind % 8) {
        case 0: rows[i] = NAN; break;
        case 1: rows[i] = (kind & 8) ? INFINITY : -INFINITY; break;
        case 2: { uint32_t b = u32(&r); memcpy(&rows[i], &b, 4); } break;
        case 3: rows[i] = m.n ? m.thr[u32(&r) % m.n] : 0.0f; break;
        default: rows[i] = (float)((int)(kind % 21) - 10) / 4.0f; break;
        }
    }
    for (k = 0; k < 3; k++) {
        size_t n_cols_model = 0;
        REQUIRE(fc_trees_info(t, NULL, NULL, &n_cols_model) == FC_OK);
        st = fc_trees_score(t, rows, n_rows, n_cols, kernels[k], out, 64, &err);
        if (n_cols < n_cols_model) {
            REQUIRE(st == FC_ERR_LENGTH);
            continue;
        }
        REQUIRE(st == FC_OK);
        for (i = 0; i < n_rows; i++) {
            float want = ref_score(&m, rows + i * n_cols);
            REQUIRE(memcmp(&want, &out[i], 4) == 0);
        }
    }
    return 0;
}
