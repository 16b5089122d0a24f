/*
 * trees_ref.h — what the tree tests and the fuzz target share: a seeded random
 * TreeEnsembleRegressor as flat arrays, and a reference evaluator written straight from
 * ONNX Runtime's rule over those arrays (linear search for every child, no packing), so
 * the core's build and kernels are checked against something that shares none of their code.
 */
#ifndef DWCP_FC_TREES_REF_H
#define DWCP_FC_TREES_REF_H

#include "feature_core.h"

#include <stddef.h>
#include <stdint.h>

#define REF_MAX_NODES 4096

typedef struct ref_model {
    size_t n, nw;
    int64_t tree[REF_MAX_NODES], id[REF_MAX_NODES], feat[REF_MAX_NODES];
    int32_t mode[REF_MAX_NODES];
    float thr[REF_MAX_NODES];
    int64_t tn[REF_MAX_NODES], fn[REF_MAX_NODES], mt[REF_MAX_NODES];
    int64_t wt[REF_MAX_NODES], wn[REF_MAX_NODES], wid[REF_MAX_NODES];
    float w[REF_MAX_NODES];
    float base[1];
    size_t n_base;
} ref_model;

typedef struct ref_rng {
    uint64_t s;
} ref_rng;

static inline uint32_t ref_next(ref_rng *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(r->s >> 33);
}

/* n_trees random trees of 1..max_leaves leaves over n_features features; thresholds on a
 * grid of quarters (rows hit them exactly), node ids a shuffled 0..n-1 per tree. */
static inline void ref_random_model(ref_model *m, ref_rng *r, size_t n_trees, size_t max_leaves,
                                    size_t n_features, int with_base)
{
    size_t t;
    m->n = m->nw = 0;
    for (t = 0; t < n_trees && m->n + 2 * max_leaves < REF_MAX_NODES; t++) {
        size_t leaves = 1 + ref_next(r) % max_leaves, nodes = 2 * leaves - 1, k, n_leaf = 1;
        size_t lo = m->n, open[REF_MAX_NODES / 2], n_open = 1, next = 1;
        int64_t perm[REF_MAX_NODES];
        for (k = 0; k < nodes; k++) perm[k] = (int64_t)k;
        for (k = nodes; k > 1; k--) {
            size_t j = ref_next(r) % k;
            int64_t tmp = perm[k - 1];
            perm[k - 1] = perm[j];
            perm[j] = tmp;
        }
        for (k = 0; k < nodes; k++) { /* all leaves first; splits below turn some into branches */
            m->tree[lo + k] = (int64_t)t;
            m->id[lo + k] = perm[k];
            m->mode[lo + k] = FC_TREE_LEAF;
            m->feat[lo + k] = 0;
            m->thr[lo + k] = 0.0f;
            m->tn[lo + k] = m->fn[lo + k] = 0;
            m->mt[lo + k] = 0;
        }
        open[0] = 0;
        while (n_leaf < leaves) {
            size_t pick = ref_next(r) % n_open, node = open[pick];
            open[pick] = open[--n_open];
            m->mode[lo + node] = FC_TREE_BRANCH_LEQ;
            m->feat[lo + node] = (int64_t)(ref_next(r) % n_features);
            m->thr[lo + node] = (float)((int)(ref_next(r) % 17) - 8) / 4.0f;
            m->tn[lo + node] = perm[next];
            m->fn[lo + node] = perm[next + 1];
            m->mt[lo + node] = (int64_t)(ref_next(r) % 2);
            open[n_open++] = next;
            open[n_open++] = next + 1;
            next += 2;
            n_leaf++;
        }
        for (k = 0; k < nodes; k++) {
            if (m->mode[lo + k] != FC_TREE_LEAF) continue;
            m->wt[m->nw] = (int64_t)t;
            m->wn[m->nw] = perm[k];
            m->wid[m->nw] = 0;
            m->w[m->nw] = (float)((int)(ref_next(r) % 2001) - 1000) / 1024.0f;
            m->nw++;
        }
        m->n += nodes;
    }
    m->n_base = with_base ? 1 : 0;
    m->base[0] = (float)((int)(ref_next(r) % 101) - 50) / 8.0f;
}

static inline size_t ref_find(const ref_model *m, size_t lo, size_t hi, int64_t id)
{
    size_t k;
    for (k = lo; k < hi; k++)
        if (m->id[k] == id) return k;
    return hi;
}

/* ONNX Runtime's rule, literally: trees in order of first appearance, root = first node,
 * x <= thr or (NaN and tracks_true) -> true child, leaf weights summed in float from 0. */
static inline float ref_score(const ref_model *m, const float *x)
{
    float s = 0.0f;
    size_t lo = 0;
    while (lo < m->n) {
        size_t hi = lo + 1, k = lo, j;
        while (hi < m->n && m->tree[hi] == m->tree[lo]) hi++;
        while (m->mode[k] != FC_TREE_LEAF) {
            float v = x[m->feat[k]];
            int go_true = v <= m->thr[k] || (v != v && m->mt[k] == 1);
            k = ref_find(m, lo, hi, go_true ? m->tn[k] : m->fn[k]);
        }
        for (j = 0; j < m->nw; j++)
            if (m->wt[j] == m->tree[lo] && m->wn[j] == m->id[k]) s += m->w[j];
        lo = hi;
    }
    return s + (m->n_base ? m->base[0] : 0.0f);
}

static inline fc_status ref_init(const ref_model *m, void *buf, size_t len, fc_trees **out,
                                 fc_error *err)
{
    return fc_trees_init(m->n, m->tree, m->id, m->feat, m->mode, m->thr, m->tn, m->fn, m->mt,
                         m->nw, m->wt, m->wn, m->wid, m->w, m->base, m->n_base, 1,
                         FC_TREES_SUM, FC_TREES_NONE, buf, len, out, err);
}

#endif
