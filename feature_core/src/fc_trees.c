/* Tree ensembles (fc_trees_*): an ONNX TreeEnsembleRegressor with ONNX Runtime's bits.
 *
 * The build packs every tree in preorder into 8-byte nodes, so a node's true child is the
 * next node and only the false child needs an offset; a leaf has offset 0, its weight in
 * the threshold's place and, as feature, the column after the last one the model reads:
 * the interleaved kernel keeps a NaN there, so a leaf "steps" to itself (no float is <=
 * NaN) and needs no test. The interleaved kernel scores a tree of at most 32 leaves for
 * 16 rows at once with bit masks instead (after QuickScorer, Lucchese et al., SIGIR 2015):
 * every branch whose test fails clears the leaves of its true subtree from each row's
 * 32-bit leaf set, and the leftmost leaf left is the row's exit leaf, so the work is a
 * fixed run of compares and ANDs that compilers vectorise across the 16 rows, whatever
 * path each row takes. Scores are float32 sums in tree order from 0, then + base: the
 * order of ONNX Runtime's TreeEnsemble kernel, whatever the kernel walks first. Rows with a
 * NaN take a slower walk that reads each node's missing_value_tracks_true; every other row
 * needs only x <= threshold.
 */
#include "fc_internal.h"

#include <math.h>
#include <string.h>

#define TREES_MAGIC 0x45525446u /* "FTRE" */

/* The kernel's helpers are inlined into each of its compiled variants (see group_trees). */
#if defined(__GNUC__)
#define FC_TREES_INLINE static inline __attribute__((always_inline))
#else
#define FC_TREES_INLINE static inline
#endif
#define GROUP 16                /* rows the interleaved kernel walks together */

typedef struct tnode {
    float thr;     /* threshold; a leaf's weight */
    uint16_t feat; /* input column; n_cols for a leaf */
    uint16_t foff; /* false child = this + foff; 0 for a leaf */
} tnode;

/* The buffer: this header, then roots, nodes and NaN flags at the offsets it names (bytes from its start), so the buffer holds no pointer. */
struct fc_trees {
    uint32_t magic;
    uint32_t version;
    uint32_t n_trees;
    uint32_t n_nodes;
    uint32_t n_cols;     /* largest feature id + 1 (0 when every tree is a leaf) */
    uint32_t any_nan_true;
    float base;
    uint32_t off_roots;  /* uint32_t[n_trees]: first node of each tree */
    uint32_t off_nodes;  /* tnode[n_nodes] */
    uint32_t off_nan;    /* uint8_t[n_nodes]: missing_value_tracks_true */
    uint32_t off_qtree;  /* qtree[n_trees]: each tree's bit-mask form */
    uint32_t off_qnode;  /* qnode[branches]: (threshold, column, mask) */
    uint32_t off_qleaf;  /* float[leaves]: leaf weights, left to right per tree */
    uint32_t pad;
};

/* The bit-mask form of one tree: branches qnode[first .. first + n_branch), leaves
 * qleaf[first_leaf ..]; n_branch QTREE_WALK when the tree has more than 32 leaves (the
 * interleaved kernel walks it instead). */
typedef struct qtree {
    uint32_t first, n_branch, first_leaf, pad;
} qtree;
#define QTREE_WALK UINT32_MAX

typedef struct qnode {
    float thr;
    uint32_t col;  /* feature * GROUP: the column's offset in the transposed rows */
    uint32_t mask; /* 0 for the leaves of the true subtree, 1 elsewhere */
} qnode;

/* Scratch of the build, after the ensemble in the same buffer. */
typedef struct key {
    int64_t tree, node;
    uint32_t idx, pad;
} key;

static size_t align8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* Offsets of the parts for n nodes (n_trees <= n). */
typedef struct layout {
    size_t roots, nodes, nan, qtree, qnode, qleaf, keys, pos, stack, total;
} layout;

static layout make_layout(size_t n)
{
    layout l;
    l.roots = align8(sizeof(struct fc_trees));
    l.nodes = align8(l.roots + 4 * n);
    l.nan = align8(l.nodes + sizeof(tnode) * n);
    l.qtree = align8(l.nan + n);
    l.qnode = align8(l.qtree + sizeof(qtree) * n);
    l.qleaf = align8(l.qnode + sizeof(qnode) * n);
    l.keys = align8(l.qleaf + 4 * n);
    l.pos = align8(l.keys + sizeof(key) * n);
    l.stack = align8(l.pos + 4 * n);
    l.total = align8(l.stack + 8 * n);
    return l;
}

fc_status fc_trees_size(size_t n_nodes, size_t *bytes)
{
    if (bytes == NULL) return FC_ERR_NULL_POINTER;
    if (n_nodes == 0) return FC_ERR_EMPTY;
    if (n_nodes > FC_TREES_MAX_NODES) return FC_ERR_TREE_UNSUPPORTED;
    *bytes = make_layout(n_nodes).total;
    return FC_OK;
}

static int key_less(const key *a, const key *b)
{
    return a->tree < b->tree || (a->tree == b->tree && a->node < b->node);
}

/* In-place heapsort (qsort may allocate; the core never does). */
static void sift(key *k, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        key tmp;
        if (child >= n) return;
        if (child + 1 < n && key_less(&k[child], &k[child + 1])) child++;
        if (!key_less(&k[root], &k[child])) return;
        tmp = k[root];
        k[root] = k[child];
        k[child] = tmp;
        root = child;
    }
}

static void sort_keys(key *k, size_t n)
{
    size_t i;
    if (n < 2) return;
    for (i = n / 2; i-- > 0;) sift(k, i, n);
    for (i = n - 1; i > 0; i--) {
        key tmp = k[0];
        k[0] = k[i];
        k[i] = tmp;
        sift(k, 0, i);
    }
}

/* Array index of node (tree, node), or -1. */
static int64_t find_key(const key *k, size_t n, int64_t tree, int64_t node)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid].tree < tree || (k[mid].tree == tree && k[mid].node < node)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < n && k[lo].tree == tree && k[lo].node == node) return (int64_t)k[lo].idx;
    return -1;
}

/* The bit-mask form of every tree of at most 32 leaves (preorder puts a true subtree
 * [i + 1, i + foff) right after its branch i and numbers leaves left to right); cnt is
 * scratch (leaves before each position). */
static void build_masks(qtree *qt, qnode *qn, float *ql, uint32_t *cnt, const tnode *nodes,
                        const uint32_t *roots, size_t n_trees, size_t packed)
{
    size_t t, n_branch = 0, n_leaf = 0;
    for (t = 0; t < n_trees; t++) {
        size_t lo = roots[t], hi = t + 1 < n_trees ? roots[t + 1] : packed, i, leaves = 0;
        for (i = lo; i < hi; i++) {
            cnt[i] = (uint32_t)leaves;
            leaves += nodes[i].foff == 0;
        }
        qt[t].pad = 0;
        if (leaves > 32) {
            qt[t].first = qt[t].first_leaf = 0;
            qt[t].n_branch = QTREE_WALK;
            continue;
        }
        qt[t].first = (uint32_t)n_branch;
        qt[t].first_leaf = (uint32_t)n_leaf;
        qt[t].n_branch = 0;
        for (i = lo; i < hi; i++) {
            uint32_t a, z;
            uint64_t span;
            if (nodes[i].foff == 0) {
                ql[n_leaf++] = nodes[i].thr;
                continue;
            }
            a = cnt[i + 1];
            z = i + nodes[i].foff < hi ? cnt[i + nodes[i].foff] : (uint32_t)leaves;
            span = ((UINT64_C(1) << z) - 1u) & ~((UINT64_C(1) << a) - 1u);
            qn[n_branch].thr = nodes[i].thr;
            qn[n_branch].col = (uint32_t)nodes[i].feat * GROUP;
            qn[n_branch].mask = ~(uint32_t)span;
            n_branch++;
            qt[t].n_branch++;
        }
    }
}

#define NODE_ERR(st, i) fc__fail(err, (st), (int64_t)(i), FC_TREES_ARG_NODES, -1)
#define WEIGHT_ERR(i) fc__fail(err, FC_ERR_TREE_SHAPE, (int64_t)(i), FC_TREES_ARG_WEIGHTS, -1)

fc_status fc_trees_init(size_t n_nodes,
                        const int64_t *nodes_treeids, const int64_t *nodes_nodeids,
                        const int64_t *nodes_featureids, const int32_t *nodes_modes,
                        const float *nodes_values, const int64_t *nodes_truenodeids,
                        const int64_t *nodes_falsenodeids,
                        const int64_t *nodes_missing_value_tracks_true,
                        size_t n_weights,
                        const int64_t *target_treeids, const int64_t *target_nodeids,
                        const int64_t *target_ids, const float *target_weights,
                        const float *base_values, size_t n_base,
                        int64_t n_targets, int32_t aggregate, int32_t post_transform,
                        void *buf, size_t buf_len, fc_trees **out, fc_error *err)
{
    layout l;
    struct fc_trees *h;
    unsigned char *b;
    uint32_t *roots, *pos;
    tnode *nodes;
    uint8_t *nan_true;
    key *keys;
    uint32_t *stack;
    size_t i, n_trees = 0, packed = 0, max_feat = 0, lo;
    int any_feat = 0, any_nan_true = 0;

    if (out == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    *out = NULL;
    if (n_nodes > 0 && (nodes_treeids == NULL || nodes_nodeids == NULL ||
                        nodes_featureids == NULL || nodes_modes == NULL ||
                        nodes_values == NULL || nodes_truenodeids == NULL ||
                        nodes_falsenodeids == NULL))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_NODES, -1);
    if (n_weights > 0 && (target_treeids == NULL || target_nodeids == NULL ||
                          target_ids == NULL || target_weights == NULL))
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_WEIGHTS, -1);
    if (n_base > 0 && base_values == NULL)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_BASE, -1);
    if (buf == NULL && buf_len > 0)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_BUFFER, -1);
    if (n_targets != 1 || aggregate != FC_TREES_SUM || post_transform != FC_TREES_NONE)
        return fc__fail(err, FC_ERR_TREE_UNSUPPORTED, -1, FC_TREES_ARG_MODEL, -1);
    if (n_base > 1) return fc__fail(err, FC_ERR_LENGTH, -1, FC_TREES_ARG_BASE, -1);
    if (n_nodes == 0) return fc__fail(err, FC_ERR_EMPTY, -1, FC_TREES_ARG_NODES, -1);
    if (n_nodes > FC_TREES_MAX_NODES)
        return fc__fail(err, FC_ERR_TREE_UNSUPPORTED, -1, FC_TREES_ARG_NODES, -1);
    l = make_layout(n_nodes);
    if (buf == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_BUFFER, -1);
    if (buf_len < l.total) return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, FC_TREES_ARG_BUFFER, -1);
    if (((uintptr_t)buf & 7u) != 0)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, FC_TREES_ARG_BUFFER, -1);

    b = (unsigned char *)buf;
    h = (struct fc_trees *)buf;
    roots = (uint32_t *)(void *)(b + l.roots);
    nodes = (tnode *)(void *)(b + l.nodes);
    nan_true = (uint8_t *)(b + l.nan);
    keys = (key *)(void *)(b + l.keys);
    pos = (uint32_t *)(void *)(b + l.pos);
    stack = (uint32_t *)(void *)(b + l.stack);
    memset(h, 0, sizeof *h); /* not a valid ensemble until the end */

    /* Node by node: modes, features, NaN flags. */
    for (i = 0; i < n_nodes; i++) {
        int32_t mode = nodes_modes[i];
        if (mode != FC_TREE_BRANCH_LEQ && mode != FC_TREE_LEAF)
            return NODE_ERR(FC_ERR_TREE_UNSUPPORTED, i);
        if (mode == FC_TREE_BRANCH_LEQ) {
            if (nodes_featureids[i] < 0) return NODE_ERR(FC_ERR_TREE_SHAPE, i);
            if (nodes_featureids[i] > FC_TREES_MAX_FEATURE)
                return NODE_ERR(FC_ERR_TREE_UNSUPPORTED, i);
        }
        if (nodes_missing_value_tracks_true != NULL &&
            nodes_missing_value_tracks_true[i] != 0 && nodes_missing_value_tracks_true[i] != 1)
            return NODE_ERR(FC_ERR_TREE_SHAPE, i);
    }
    /* Trees: runs of one tree id, each at most FC_TREES_MAX_TREE_NODES long. */
    for (lo = 0; lo < n_nodes;) {
        size_t hi = lo + 1;
        while (hi < n_nodes && nodes_treeids[hi] == nodes_treeids[lo]) hi++;
        if (hi - lo > FC_TREES_MAX_TREE_NODES) return NODE_ERR(FC_ERR_TREE_UNSUPPORTED, lo);
        roots[n_trees++] = (uint32_t)lo; /* array index of the root for now */
        lo = hi;
    }
    /* (tree, node) -> array index, sorted; pos[] holds each node's run for now: equal tree
     * ids in two runs (a tree that reappears) or an equal pair (a repeated node) fail. */
    {
        size_t t = 0;
        for (i = 0; i < n_nodes; i++) {
            if (t + 1 < n_trees && i == roots[t + 1]) t++;
            pos[i] = (uint32_t)t;
            keys[i].tree = nodes_treeids[i];
            keys[i].node = nodes_nodeids[i];
            keys[i].idx = (uint32_t)i;
            keys[i].pad = 0;
        }
    }
    sort_keys(keys, n_nodes);
    for (i = 1; i < n_nodes; i++) {
        const key *a = &keys[i - 1], *c = &keys[i];
        if (a->tree == c->tree && (a->node == c->node || pos[a->idx] != pos[c->idx]))
            return NODE_ERR(FC_ERR_TREE_SHAPE, a->idx > c->idx ? a->idx : c->idx);
    }
    for (i = 0; i < n_nodes; i++) pos[i] = UINT32_MAX;
    /* Preorder, tree by tree: pop a node, place it next; a branch pushes its false child
     * then its true one, so the true child lands right after it. stack holds (index, parent
     * position + 1 when it is a false child, else 0) pairs. */
    {
        size_t t;
        for (t = 0; t < n_trees; t++) {
            size_t root = roots[t], top = 0, first = packed;
            size_t run_hi = t + 1 < n_trees ? roots[t + 1] : n_nodes;
            roots[t] = (uint32_t)packed;
            stack[0] = (uint32_t)root;
            stack[1] = 0;
            pos[root] = UINT32_MAX - 1; /* pushed */
            top = 1;
            while (top > 0) {
                uint32_t k, parent;
                top--;
                k = stack[2 * top];
                parent = stack[2 * top + 1];
                pos[k] = (uint32_t)packed;
                if (parent != 0) {
                    size_t off = packed - (parent - 1);
                    nodes[parent - 1].foff = (uint16_t)off;
                }
                if (nodes_modes[k] == FC_TREE_LEAF) {
                    nodes[packed].thr = 0.0f; /* the weight, below */
                    nodes[packed].feat = 0;   /* n_cols, at the end */
                    nodes[packed].foff = 0;
                    nan_true[packed] = 0;
                } else {
                    int64_t c[2];
                    int j;
                    c[0] = find_key(keys, n_nodes, nodes_treeids[k], nodes_falsenodeids[k]);
                    c[1] = find_key(keys, n_nodes, nodes_treeids[k], nodes_truenodeids[k]);
                    for (j = 0; j < 2; j++) {
                        /* a child outside this run, or one already pushed or placed */
                        if (c[j] < 0 || (size_t)c[j] < root || (size_t)c[j] >= run_hi ||
                            pos[c[j]] != UINT32_MAX)
                            return NODE_ERR(FC_ERR_TREE_SHAPE, k);
                        pos[c[j]] = UINT32_MAX - 1;
                        stack[2 * top] = (uint32_t)c[j];
                        stack[2 * top + 1] = j == 0 ? (uint32_t)packed + 1 : 0;
                        top++;
                    }
                    nodes[packed].thr = nodes_values[k];
                    nodes[packed].feat = (uint16_t)nodes_featureids[k];
                    nodes[packed].foff = 0; /* set when the false child is placed */
                    nan_true[packed] = (uint8_t)(nodes_missing_value_tracks_true != NULL &&
                                                 nodes_missing_value_tracks_true[k] == 1);
                    any_nan_true |= nan_true[packed];
                    if (!any_feat || (size_t)nodes_featureids[k] > max_feat)
                        max_feat = (size_t)nodes_featureids[k];
                    any_feat = 1;
                }
                packed++;
            }
            /* every node of the run placed from this root */
            if (packed - first != run_hi - root) {
                for (i = root; i < run_hi; i++)
                    if (pos[i] == UINT32_MAX) return NODE_ERR(FC_ERR_TREE_SHAPE, i);
            }
        }
    }
    /* Weights: exactly one per leaf, target 0; pos[] is reused as "weight seen". */
    for (i = 0; i < n_weights; i++) {
        int64_t k = find_key(keys, n_nodes, target_treeids[i], target_nodeids[i]);
        uint32_t p;
        if (target_ids[i] != 0 || k < 0 || nodes_modes[k] != FC_TREE_LEAF) return WEIGHT_ERR(i);
        p = pos[k];
        if (p == UINT32_MAX - 2) return WEIGHT_ERR(i); /* second weight of the leaf */
        nodes[p].thr = target_weights[i];
        pos[k] = UINT32_MAX - 2;
    }
    for (i = 0; i < n_nodes; i++)
        if (nodes_modes[i] == FC_TREE_LEAF && pos[i] != UINT32_MAX - 2)
            return NODE_ERR(FC_ERR_TREE_SHAPE, i);

    for (i = 0; i < packed; i++)
        if (nodes[i].foff == 0) nodes[i].feat = (uint16_t)(any_feat ? max_feat + 1 : 0);
    build_masks((qtree *)(void *)(b + l.qtree), (qnode *)(void *)(b + l.qnode),
                (float *)(void *)(b + l.qleaf), pos, nodes, roots, n_trees, packed);
    h->n_trees = (uint32_t)n_trees;
    h->n_nodes = (uint32_t)packed;
    h->n_cols = any_feat ? (uint32_t)(max_feat + 1) : 0;
    h->any_nan_true = (uint32_t)any_nan_true;
    h->base = n_base == 1 ? base_values[0] : 0.0f;
    h->off_roots = (uint32_t)l.roots;
    h->off_nodes = (uint32_t)l.nodes;
    h->off_nan = (uint32_t)l.nan;
    h->off_qtree = (uint32_t)l.qtree;
    h->off_qnode = (uint32_t)l.qnode;
    h->off_qleaf = (uint32_t)l.qleaf;
    h->version = FC_TREES_VERSION;
    h->magic = TREES_MAGIC;
    *out = h;
    return FC_OK;
}

static int valid(const fc_trees *t) { return t->magic == TREES_MAGIC && t->version == FC_TREES_VERSION; }

fc_status fc_trees_info(const fc_trees *trees, size_t *n_trees, size_t *n_nodes, size_t *n_cols)
{
    if (trees == NULL) return FC_ERR_NULL_POINTER;
    if (!valid(trees)) return FC_ERR_BAD_PARAMS;
    if (n_trees != NULL) *n_trees = trees->n_trees;
    if (n_nodes != NULL) *n_nodes = trees->n_nodes;
    if (n_cols != NULL) *n_cols = trees->n_cols;
    return FC_OK;
}

/* The parts of a built ensemble. */
typedef struct view {
    const uint32_t *roots;
    const tnode *nodes;
    const uint8_t *nan_true;
    const qtree *qtrees;
    const qnode *qnodes;
    const float *qleaves;
    size_t n_trees;
    float base;
} view;

static view view_of(const fc_trees *t)
{
    const unsigned char *b = (const unsigned char *)t;
    view v;
    v.roots = (const uint32_t *)(const void *)(b + t->off_roots);
    v.nodes = (const tnode *)(const void *)(b + t->off_nodes);
    v.nan_true = b + t->off_nan;
    v.qtrees = (const qtree *)(const void *)(b + t->off_qtree);
    v.qnodes = (const qnode *)(const void *)(b + t->off_qnode);
    v.qleaves = (const float *)(const void *)(b + t->off_qleaf);
    v.n_trees = t->n_trees;
    v.base = t->base;
    return v;
}

/* One row, branches on the comparisons: x <= threshold goes true, x > threshold false,
 * and only a NaN (neither) reads the node's flag, so rows need no NaN scan first. */
static float score_row(const view *v, const float *x)
{
    float s = 0.0f;
    size_t t;
    for (t = 0; t < v->n_trees; t++) {
        const tnode *p = v->nodes + v->roots[t];
        while (p->foff != 0) {
            float xv = x[p->feat];
            if (xv <= p->thr) p++;
            else if (xv > p->thr) p += p->foff;
            else p += xv != xv && v->nan_true[p - v->nodes] ? 1 : p->foff; /* NaN x or
                                                                          threshold */
        }
        s += p->thr;
    }
    return s + v->base;
}

/* The same walk for a row the interleaved kernel found a NaN in. */
static float score_nan_row(const view *v, const float *x) { return score_row(v, x); }

static void score_branchy(const view *v, const float *rows, size_t n_rows, size_t n_cols,
                          float *out)
{
    size_t r;
    for (r = 0; r < n_rows; r++) out[r] = score_row(v, rows + r * n_cols);
}

/* Index of the lowest set bit of x != 0. */
static unsigned lowest_bit(uint32_t x)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctz(x);
#else
    static const unsigned char debruijn[32] = {0,  1,  28, 2,  29, 14, 24, 3,  30, 22, 20,
                                               15, 25, 17, 4,  8,  31, 27, 13, 23, 21, 19,
                                               16, 7,  26, 12, 18, 6,  11, 5,  10, 9};
    return debruijn[((x & (0u - x)) * 0x077CB531u) >> 27];
#endif
}

/* Tree t of at most 32 leaves for the 16 rows of xt: each row's leaf set starts full; a
 * branch whose test fails (x > threshold, or NaN: those rows are rescored by the NaN walk)
 * keeps only its mask's leaves; the exit leaf is the lowest leaf left. */
FC_TREES_INLINE void mask_tree(const view *v, size_t t, const float *xt, float *acc)
{
    uint32_t leaves[GROUP];
    const qnode *q = v->qnodes + v->qtrees[t].first;
    const float *w = v->qleaves + v->qtrees[t].first_leaf;
    size_t k, g, n = v->qtrees[t].n_branch;
    for (g = 0; g < GROUP; g++) leaves[g] = 0xffffffffu;
    for (k = 0; k < n; k++) {
        const float *col = xt + q[k].col;
        float thr = q[k].thr;
        uint32_t m = q[k].mask;
        for (g = 0; g < GROUP; g++) leaves[g] &= col[g] <= thr ? 0xffffffffu : m;
    }
    for (g = 0; g < GROUP; g++) acc[g] += w[lowest_bit(leaves[g])];
}

/* One step of lane g: a leaf (foff 0, the NaN column) stays where it is. */
#define STEP(g)                                                                             \
    do {                                                                                    \
        tnode nd = nodes[i##g];                                                             \
        i##g += (xt[(size_t)nd.feat * GROUP + (g)] <= nd.thr) ? 1u : (uint32_t)nd.foff;     \
        live |= nd.foff;                                                                    \
    } while (0)

/* Every tree for the 16 transposed rows of xt, adding each lane's leaf weight to acc in
 * tree order: the bit-mask form for trees of at most 32 leaves, else 16 select walks. */
FC_TREES_INLINE void group_trees(const view *v, const float *xt, float *acc)
{
    const tnode *nodes = v->nodes;
    size_t t;
    for (t = 0; t < v->n_trees; t++) {
        uint32_t root = v->roots[t];
        if (v->qtrees[t].n_branch != QTREE_WALK) {
            mask_tree(v, t, xt, acc);
            continue;
        }
        uint32_t i0 = root, i1 = root, i2 = root, i3 = root, i4 = root, i5 = root;
        uint32_t i6 = root, i7 = root, i8 = root, i9 = root, i10 = root, i11 = root;
        uint32_t i12 = root, i13 = root, i14 = root, i15 = root;
        for (;;) {
            unsigned live = 0;
            STEP(0); STEP(1); STEP(2); STEP(3); STEP(4); STEP(5); STEP(6); STEP(7);
            STEP(8); STEP(9); STEP(10); STEP(11); STEP(12); STEP(13); STEP(14); STEP(15);
            if (live == 0) break;
        }
        acc[0] += nodes[i0].thr; acc[1] += nodes[i1].thr;
        acc[2] += nodes[i2].thr; acc[3] += nodes[i3].thr;
        acc[4] += nodes[i4].thr; acc[5] += nodes[i5].thr;
        acc[6] += nodes[i6].thr; acc[7] += nodes[i7].thr;
        acc[8] += nodes[i8].thr; acc[9] += nodes[i9].thr;
        acc[10] += nodes[i10].thr; acc[11] += nodes[i11].thr;
        acc[12] += nodes[i12].thr; acc[13] += nodes[i13].thr;
        acc[14] += nodes[i14].thr; acc[15] += nodes[i15].thr;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The same, compiled for AVX2 and for AVX-512 (8 and 16 lanes per compare instead of
 * SSE2's 4) and chosen at run time by what the CPU has: compares, ANDs and float adds give
 * the same bits in every variant (ctest pins each one on the unit tests and the goldens). */
#define FC_TREES_SIMD 1
#if defined(__clang__)
#define FC_TREES_TARGET_512 __attribute__((target("avx512f"), min_vector_width(512)))
#else
#define FC_TREES_TARGET_512 __attribute__((target("avx512f,prefer-vector-width=512")))
#endif
__attribute__((target("avx2"))) static void group_trees_avx2(const view *v, const float *xt,
                                                              float *acc)
{
    group_trees(v, xt, acc);
}
FC_TREES_TARGET_512 static void group_trees_avx512(const view *v, const float *xt, float *acc)
{
    group_trees(v, xt, acc);
}
#else
#define FC_TREES_SIMD 0
#endif

/* 16 rows at once, tree by tree: rows transposed column-major into xt (the 16 values of a
 * column share a cache line), 16 independent walks per tree with the child chosen by a
 * select, not a branch, until every lane sits on a leaf. */
static void score_interleaved(const view *v, const float *rows, size_t n_rows, size_t n_cols,
                              size_t need, float *out)
{
    float xt[(FC_TREES_INTERLEAVE_MAX_COLS + 1) * GROUP];
    size_t r0;
#if FC_TREES_SIMD && defined(FC_TREES_FORCE_SIMD)
    int simd = FC_TREES_FORCE_SIMD; /* the C tests pin each variant: 0 SSE2, 1 AVX2, 2 AVX-512 */
#elif FC_TREES_SIMD
    int simd = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    for (r0 = 0; r0 < n_rows; r0 += GROUP) {
        float acc[GROUP];
        int has_nan[GROUP];
        size_t g, c, lanes = n_rows - r0 < GROUP ? n_rows - r0 : GROUP;
        for (g = 0; g < GROUP; g++) {
            /* spare lanes repeat the last row; their scores are dropped */
            const float *x = rows + (r0 + (g < lanes ? g : lanes - 1)) * n_cols;
            int any = 0;
            for (c = 0; c < need; c++) {
                xt[c * GROUP + g] = x[c];
                any |= x[c] != x[c];
            }
            xt[need * GROUP + g] = NAN; /* the leaves' column */
            has_nan[g] = any;
            acc[g] = 0.0f;
        }
#if FC_TREES_SIMD
        if (simd == 2) group_trees_avx512(v, xt, acc);
        else if (simd == 1) group_trees_avx2(v, xt, acc);
        else
#endif
            group_trees(v, xt, acc);
        for (g = 0; g < lanes; g++) {
            const float *x = rows + (r0 + g) * n_cols;
            out[r0 + g] = has_nan[g] ? score_nan_row(v, x) : acc[g] + v->base;
        }
    }
}

fc_status fc_trees_score(const fc_trees *trees, const float *rows, size_t n_rows,
                         size_t n_cols, int32_t kernel, float *out, size_t out_len,
                         fc_error *err)
{
    view v;
    size_t need;
    if (trees == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    if (!valid(trees)) return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    if (kernel != FC_TREES_KERNEL_AUTO && kernel != FC_TREES_KERNEL_BRANCHY &&
        kernel != FC_TREES_KERNEL_INTERLEAVED)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    if (n_rows > 0 && rows == NULL)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_ROWS, -1);
    if (n_rows > 0 && out == NULL)
        return fc__fail(err, FC_ERR_NULL_POINTER, -1, FC_TREES_ARG_OUT, -1);
    need = trees->n_cols;
    if (n_cols < need) return fc__fail(err, FC_ERR_LENGTH, -1, FC_TREES_ARG_ROWS, -1);
    if (out_len < n_rows) return fc__fail(err, FC_ERR_OUTPUT_SIZE, -1, FC_TREES_ARG_OUT, -1);
    if (n_rows == 0) return FC_OK;
    v = view_of(trees);
    if (kernel == FC_TREES_KERNEL_AUTO)
        kernel = n_rows >= GROUP && need <= FC_TREES_INTERLEAVE_MAX_COLS
                     ? FC_TREES_KERNEL_INTERLEAVED
                     : FC_TREES_KERNEL_BRANCHY;
    if (kernel == FC_TREES_KERNEL_INTERLEAVED && need <= FC_TREES_INTERLEAVE_MAX_COLS)
        score_interleaved(&v, rows, n_rows, n_cols, need, out);
    else
        score_branchy(&v, rows, n_rows, n_cols, out);
    return FC_OK;
}
