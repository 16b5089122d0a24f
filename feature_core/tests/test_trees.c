/*
 * test_trees.c — unit tests of fc_trees_* (docs/feature-core.md "Tree ensembles"): the rule
 * on a hand-made tree (thresholds met exactly, NaN either way, +-Inf, -0), every status of
 * fc_trees_size / fc_trees_init / fc_trees_info / fc_trees_score with its fc_error, a buffer
 * copied as bytes, and every kernel equal bit for bit to the reference evaluator of
 * trees_ref.h on seeded random ensembles and rows (NaN, +-Inf and threshold hits included).
 */
#include "test_check.h"
#include "trees_ref.h"

#include <math.h>
#include <stdlib.h>

static uint64_t buf_storage[(1u << 20) / 8]; /* 1 MiB, 8-aligned */

static const int32_t kernels[3] = {FC_TREES_KERNEL_AUTO, FC_TREES_KERNEL_BRANCHY,
                                   FC_TREES_KERNEL_INTERLEAVED};

/* One tree: node 10 splits feature 1 at 0.5 (NaN to true), leaves 11 (true, 1.0) and 12
 * (false, 2.0). */
typedef struct small {
    int64_t tree[3], id[3], feat[3], tn[3], fn[3], mt[3], wt[2], wn[2], wid[2];
    int32_t mode[3];
    float thr[3], w[2], base[2];
} small;

static small small_tree(void)
{
    small s = {{7, 7, 7}, {10, 11, 12}, {1, 0, 0}, {11, 0, 0}, {12, 0, 0}, {1, 0, 0},
               {7, 7}, {11, 12}, {0, 0},
               {FC_TREE_BRANCH_LEQ, FC_TREE_LEAF, FC_TREE_LEAF},
               {0.5f, 0.0f, 0.0f}, {1.0f, 2.0f}, {0.25f, 0.0f}};
    return s;
}

static fc_status small_init(const small *s, size_t n_base, int64_t n_targets, int32_t agg,
                            int32_t post, fc_trees **t, fc_error *err)
{
    return fc_trees_init(3, s->tree, s->id, s->feat, s->mode, s->thr, s->tn, s->fn, s->mt, 2,
                         s->wt, s->wn, s->wid, s->w, s->base, n_base, n_targets, agg, post,
                         buf_storage, sizeof buf_storage, t, err);
}

static void test_rule(void)
{
    small s = small_tree();
    fc_trees *t = NULL;
    fc_error err = {FC_OK, -1, -1, -1};
    size_t nt = 0, nn = 0, nc = 0, k, r;
    float rows[6][2] = {{9, 0.5f}, {9, 0.75f}, {9, NAN}, {9, -INFINITY}, {9, INFINITY},
                        {9, -0.0f}};
    const float want[6] = {1.25f, 2.25f, 1.25f, 1.25f, 2.25f, 1.25f};
    float out[6];
    current = "rule";
    CHECK(small_init(&s, 1, 1, FC_TREES_SUM, FC_TREES_NONE, &t, &err) == FC_OK);
    CHECK(fc_trees_info(t, &nt, &nn, &nc) == FC_OK);
    CHECK(nt == 1 && nn == 3 && nc == 2);
    for (k = 0; k < 3; k++) {
        CHECK(fc_trees_score(t, &rows[0][0], 6, 2, kernels[k], out, 6, &err) == FC_OK);
        for (r = 0; r < 6; r++) CHECK(fbits(out[r]) == fbits(want[r]));
    }
    s.mt[0] = 0; /* NaN now goes to the false child */
    CHECK(small_init(&s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, &t, &err) == FC_OK);
    CHECK(fc_trees_score(t, &rows[2][0], 1, 2, FC_TREES_KERNEL_BRANCHY, out, 1, &err) == FC_OK);
    CHECK(out[0] == 2.0f);
    CHECK(fc_trees_score(t, &rows[2][0], 1, 2, FC_TREES_KERNEL_INTERLEAVED, out, 1, &err) ==
          FC_OK);
    CHECK(out[0] == 2.0f);
    /* A NaN threshold: no x is <= it; only a NaN x with tracks_true goes true. */
    s.thr[0] = NAN;
    s.mt[0] = 1;
    CHECK(small_init(&s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, &t, &err) == FC_OK);
    for (k = 0; k < 3; k++) {
        CHECK(fc_trees_score(t, &rows[0][0], 3, 2, kernels[k], out, 3, &err) == FC_OK);
        CHECK(out[0] == 2.0f && out[1] == 2.0f && out[2] == 1.0f);
    }
    /* n_rows = 0 writes nothing, NULL allowed. */
    CHECK(fc_trees_score(t, NULL, 0, 2, FC_TREES_KERNEL_AUTO, NULL, 0, &err) == FC_OK);
}

static void test_copy_as_bytes(void)
{
    small s = small_tree();
    fc_trees *t = NULL;
    size_t size = 0;
    uint64_t *copy;
    float row[2] = {0, 0.75f}, out = 0;
    current = "copy as bytes";
    CHECK(small_init(&s, 1, 1, FC_TREES_SUM, FC_TREES_NONE, &t, NULL) == FC_OK);
    CHECK(fc_trees_size(3, &size) == FC_OK);
    copy = malloc(size);
    CHECK(copy != NULL);
    if (copy == NULL) return;
    memcpy(copy, buf_storage, size);
    memset(buf_storage, 0, size);
    CHECK(fc_trees_score((const fc_trees *)(void *)copy, row, 1, 2, FC_TREES_KERNEL_AUTO, &out,
                         1, NULL) == FC_OK);
    CHECK(out == 2.25f);
    /* the zeroed original is no longer an ensemble */
    CHECK(fc_trees_score(t, row, 1, 2, FC_TREES_KERNEL_AUTO, &out, 1, NULL) == FC_ERR_BAD_PARAMS);
    CHECK(fc_trees_info(t, NULL, NULL, NULL) == FC_ERR_BAD_PARAMS);
    free(copy);
}

#define INIT_STATUS(s, nb, nt, agg, post, want, idx, ch)                                    \
    do {                                                                                    \
        fc_error e_ = {FC_OK, -1, -1, -1};                                                  \
        fc_trees *t_ = NULL;                                                                \
        check_status(small_init(&(s), (nb), (nt), (agg), (post), &t_, &e_), &e_, (want),   \
                     (idx), (ch), -1, #want, __LINE__);                                     \
        CHECK(t_ == NULL);                                                                  \
    } while (0)

static void test_init_statuses(void)
{
    small s;
    size_t size = 0;
    fc_trees *t = NULL;
    fc_error err = {FC_OK, -1, -1, -1};
    current = "init statuses";
    CHECK(fc_trees_size(0, &size) == FC_ERR_EMPTY);
    CHECK(fc_trees_size(FC_TREES_MAX_NODES + 1u, &size) == FC_ERR_TREE_UNSUPPORTED);
    CHECK(fc_trees_size(3, NULL) == FC_ERR_NULL_POINTER);
    CHECK(fc_trees_size(3, &size) == FC_OK && size > 0);

    s = small_tree();
    INIT_STATUS(s, 1, 2, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_UNSUPPORTED, -1,
                FC_TREES_ARG_MODEL);
    INIT_STATUS(s, 1, 1, FC_TREES_AVERAGE, FC_TREES_NONE, FC_ERR_TREE_UNSUPPORTED, -1,
                FC_TREES_ARG_MODEL);
    INIT_STATUS(s, 1, 1, FC_TREES_SUM, FC_TREES_LOGISTIC, FC_ERR_TREE_UNSUPPORTED, -1,
                FC_TREES_ARG_MODEL);
    INIT_STATUS(s, 2, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_LENGTH, -1, FC_TREES_ARG_BASE);
    s.mode[0] = FC_TREE_BRANCH_LT;
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_UNSUPPORTED, 0,
                FC_TREES_ARG_NODES);
    s.mode[0] = FC_TREE_MODE_OTHER + 5;
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_UNSUPPORTED, 0,
                FC_TREES_ARG_NODES);
    s = small_tree();
    s.feat[0] = -1;
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 0, FC_TREES_ARG_NODES);
    s.feat[0] = FC_TREES_MAX_FEATURE + 1;
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_UNSUPPORTED, 0,
                FC_TREES_ARG_NODES);
    s = small_tree();
    s.mt[1] = 3;
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 1, FC_TREES_ARG_NODES);
    s = small_tree();
    s.tn[0] = 99; /* no such child */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 0, FC_TREES_ARG_NODES);
    s = small_tree();
    s.fn[0] = 11; /* both children the same node */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 0, FC_TREES_ARG_NODES);
    s = small_tree();
    s.tn[0] = 10; /* a cycle to the root */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 0, FC_TREES_ARG_NODES);
    s = small_tree();
    s.id[2] = 11; /* a repeated node id */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 2, FC_TREES_ARG_NODES);
    s = small_tree();
    s.tree[1] = 8; /* tree 7, tree 8, tree 7 again */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 2, FC_TREES_ARG_NODES);
    s = small_tree();
    s.wid[1] = 1;
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 1, FC_TREES_ARG_WEIGHTS);
    s = small_tree();
    s.wn[1] = 10; /* a weight on a branch */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 1, FC_TREES_ARG_WEIGHTS);
    s = small_tree();
    s.wn[1] = 11; /* leaf 11 twice, leaf 12 none */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 1, FC_TREES_ARG_WEIGHTS);
    s = small_tree();
    s.wt[1] = 3; /* no such tree */
    INIT_STATUS(s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, FC_ERR_TREE_SHAPE, 1, FC_TREES_ARG_WEIGHTS);
    {   /* a leaf without a weight */
        s = small_tree();
        err.status = FC_OK;
        check_status(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 1,
                                   s.wt, s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM,
                                   FC_TREES_NONE, buf_storage, sizeof buf_storage, &t, &err),
                     &err, FC_ERR_TREE_SHAPE, 2, FC_TREES_ARG_NODES, -1, "leaf without weight",
                     __LINE__);
    }
    {   /* an unreachable node: a fourth node (a leaf with a weight) nothing points at */
        int64_t tree[4] = {0, 0, 0, 0}, id[4] = {0, 1, 2, 3}, feat[4] = {0, 0, 0, 0};
        int64_t tn[4] = {1, 0, 0, 0}, fn[4] = {2, 0, 0, 0}, wt[3] = {0, 0, 0};
        int64_t wn[3] = {1, 2, 3}, wid[3] = {0, 0, 0};
        int32_t mode[4] = {FC_TREE_BRANCH_LEQ, FC_TREE_LEAF, FC_TREE_LEAF, FC_TREE_LEAF};
        float thr[4] = {0, 0, 0, 0}, w[3] = {1, 2, 3};
        err.status = FC_OK;
        check_status(fc_trees_init(4, tree, id, feat, mode, thr, tn, fn, NULL, 3, wt, wn, wid,
                                   w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                                   sizeof buf_storage, &t, &err),
                     &err, FC_ERR_TREE_SHAPE, 3, FC_TREES_ARG_NODES, -1, "unreachable node",
                     __LINE__);
    }
    /* buffers and pointers */
    s = small_tree();
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt,
                        s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                        size - 1, &t, &err) == FC_ERR_OUTPUT_SIZE);
    CHECK(err.channel == FC_TREES_ARG_BUFFER);
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt,
                        s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE,
                        (unsigned char *)buf_storage + 4, size, &t, &err) == FC_ERR_BAD_PARAMS);
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt,
                        s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, NULL, 0, &t,
                        &err) == FC_ERR_NULL_POINTER);
    CHECK(fc_trees_init(3, NULL, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt, s.wn,
                        s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                        size, &t, &err) == FC_ERR_NULL_POINTER);
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, NULL,
                        s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                        size, &t, &err) == FC_ERR_NULL_POINTER);
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt,
                        s.wn, s.wid, s.w, NULL, 1, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                        size, &t, &err) == FC_ERR_NULL_POINTER);
    CHECK(fc_trees_init(0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL,
                        NULL, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage, size, &t,
                        &err) == FC_ERR_EMPTY);
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt,
                        s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                        size, NULL, &err) == FC_ERR_NULL_POINTER);
    /* exactly fc_trees_size bytes are enough */
    CHECK(fc_trees_init(3, s.tree, s.id, s.feat, s.mode, s.thr, s.tn, s.fn, s.mt, 2, s.wt,
                        s.wn, s.wid, s.w, NULL, 0, 1, FC_TREES_SUM, FC_TREES_NONE, buf_storage,
                        size, &t, &err) == FC_OK);
}

static void test_score_statuses(void)
{
    small s = small_tree();
    fc_trees *t = NULL;
    fc_error err = {FC_OK, -1, -1, -1};
    float rows[4] = {0, 0, 0, 0}, out[2];
    current = "score statuses";
    CHECK(small_init(&s, 0, 1, FC_TREES_SUM, FC_TREES_NONE, &t, &err) == FC_OK);
    CHECK(fc_trees_score(NULL, rows, 2, 2, 0, out, 2, &err) == FC_ERR_NULL_POINTER);
    CHECK(fc_trees_score(t, NULL, 2, 2, 0, out, 2, &err) == FC_ERR_NULL_POINTER);
    CHECK(err.channel == FC_TREES_ARG_ROWS);
    CHECK(fc_trees_score(t, rows, 2, 2, 0, NULL, 2, &err) == FC_ERR_NULL_POINTER);
    CHECK(err.channel == FC_TREES_ARG_OUT);
    CHECK(fc_trees_score(t, rows, 2, 1, 0, out, 2, &err) == FC_ERR_LENGTH);
    CHECK(err.channel == FC_TREES_ARG_ROWS);
    CHECK(fc_trees_score(t, rows, 2, 2, 0, out, 1, &err) == FC_ERR_OUTPUT_SIZE);
    CHECK(fc_trees_score(t, rows, 2, 2, 3, out, 2, &err) == FC_ERR_BAD_PARAMS);
    CHECK(fc_trees_score(t, rows, 2, 2, -1, out, 2, &err) == FC_ERR_BAD_PARAMS);
    CHECK(fc_trees_info(NULL, NULL, NULL, NULL) == FC_ERR_NULL_POINTER);
}

static ref_model model; /* large: static */
static float rows_buf[700 * 48], out_buf[700];

static float row_value(ref_rng *r)
{
    uint32_t k = ref_next(r) % 40;
    if (k == 0) return NAN;
    if (k == 1) return INFINITY;
    if (k == 2) return -INFINITY;
    if (k == 3) return -0.0f;
    return (float)((int)(ref_next(r) % 21) - 10) / 4.0f;
}

static void test_random_against_reference(void)
{
    ref_rng r = {20261204};
    int round;
    current = "random ensembles against the reference";
    for (round = 0; round < 60; round++) {
        size_t n_features = 1 + ref_next(&r) % 48, n_rows = ref_next(&r) % 700, k, i;
        size_t n_cols = n_features + ref_next(&r) % 3;
        fc_trees *t = NULL;
        fc_error err = {FC_OK, -1, -1, -1};
        ref_random_model(&model, &r, 1 + ref_next(&r) % 80, 1 + ref_next(&r) % 40, n_features,
                         (int)(round % 2));
        for (i = 0; i < n_rows * n_cols; i++) rows_buf[i] = row_value(&r);
        if (!CHECK(ref_init(&model, buf_storage, sizeof buf_storage, &t, &err) == FC_OK)) continue;
        for (k = 0; k < 3; k++) {
            size_t bad = 0;
            CHECK(fc_trees_score(t, rows_buf, n_rows, n_cols, kernels[k], out_buf, n_rows,
                                 &err) == FC_OK);
            for (i = 0; i < n_rows; i++)
                if (fbits(out_buf[i]) != fbits(ref_score(&model, rows_buf + i * n_cols)))
                    bad++;
            if (!CHECK(bad == 0))
                printf("  round %d kernel %d: %zu of %zu rows differ\n", round, (int)kernels[k],
                       bad, n_rows);
        }
    }
}

int main(void)
{
    test_rule();
    test_copy_as_bytes();
    test_init_statuses();
    test_score_statuses();
    test_random_against_reference();
    return test_summary();
}
