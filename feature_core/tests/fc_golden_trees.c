/*
 * fc_golden_trees.c — `fc_golden_trees check FILE...`: reads tree-ensemble golden vectors
 * (golden/trees_v1.txt, written by golden/trees.py; docs/feature-core.md "Tree ensembles"),
 * builds each model with fc_trees_init from the arrays in the file, scores every row with
 * every kernel and requires ONNX Runtime's bits. A mismatch names the vector, the row and
 * its label, the kernel, both bit patterns and the distance in ULPs.
 */
#include "bits.h"
#include "feature_core.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vec {
    char name[64];
    size_t n_nodes, n_weights, n_base, n_cols, n_rows, rows_read;
    int64_t *tree, *id, *feat, *tn, *fn, *mt, *wt, *wn, *wid;
    int32_t *mode;
    float *thr, *w, base[1], *rows, *out;
    char **labels;
    int64_t n_targets;
    int32_t aggregate, post;
} vec;

static int fail_count = 0;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    long len;
    char *buf;
    if (f == NULL) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = xcalloc((size_t)len + 1, 1);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    return buf;
}

/* Next space-separated token of *p (NULL at the end of the line). */
static char *token(char **p)
{
    char *s = *p, *e;
    while (*s == ' ') s++;
    if (*s == '\0') return NULL;
    e = s;
    while (*e != ' ' && *e != '\0') e++;
    if (*e == ' ') *e++ = '\0';
    *p = e;
    return s;
}

static int ints(char *rest, int64_t *dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char *t = token(&rest), *end;
        if (t == NULL) return 0;
        dst[i] = strtoll(t, &end, 10);
        if (*end != '\0') return 0;
    }
    return token(&rest) == NULL;
}

static int floats(char *rest, float *dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char *t = token(&rest), *end;
        uint32_t b;
        if (t == NULL) return 0;
        b = (uint32_t)strtoul(t, &end, 16);
        if (*end != '\0' || strlen(t) != 8) return 0;
        memcpy(&dst[i], &b, sizeof b);
    }
    return token(&rest) == NULL;
}

static void free_vec(vec *v)
{
    size_t i;
    free(v->tree); free(v->id); free(v->feat); free(v->tn); free(v->fn); free(v->mt);
    free(v->wt); free(v->wn); free(v->wid); free(v->mode); free(v->thr); free(v->w);
    free(v->rows); free(v->out);
    if (v->labels != NULL)
        for (i = 0; i < v->n_rows; i++) free(v->labels[i]);
    free(v->labels);
    memset(v, 0, sizeof *v);
}

static int64_t ulps(uint32_t a, uint32_t b)
{
    int64_t x = (a & 0x80000000u) ? -(int64_t)(a & 0x7fffffffu) : (int64_t)a;
    int64_t y = (b & 0x80000000u) ? -(int64_t)(b & 0x7fffffffu) : (int64_t)b;
    return x > y ? x - y : y - x;
}

static void check_vec(const char *file, vec *v)
{
    static const int32_t kernels[3] = {FC_TREES_KERNEL_AUTO, FC_TREES_KERNEL_BRANCHY,
                                       FC_TREES_KERNEL_INTERLEAVED};
    size_t size = 0, r, k;
    void *buf;
    fc_trees *t = NULL;
    fc_error err = {FC_OK, -1, -1, -1};
    fc_status st;
    float *got;
    if (v->rows_read != v->n_rows || v->out == NULL || v->tree == NULL) {
        printf("file %s vector %s: incomplete (rows %zu of %zu)\n", file, v->name,
               v->rows_read, v->n_rows);
        fail_count++;
        return;
    }
    if (fc_trees_size(v->n_nodes, &size) != FC_OK) {
        printf("file %s vector %s: fc_trees_size failed\n", file, v->name);
        fail_count++;
        return;
    }
    buf = xcalloc(size / 8 + 1, 8);
    st = fc_trees_init(v->n_nodes, v->tree, v->id, v->feat, v->mode, v->thr, v->tn, v->fn,
                       v->mt, v->n_weights, v->wt, v->wn, v->wid, v->w, v->base, v->n_base,
                       v->n_targets, v->aggregate, v->post, buf, size, &t, &err);
    if (st != FC_OK) {
        printf("file %s vector %s: fc_trees_init %s (index %" PRId64 ", channel %d)\n", file,
               v->name, fc_status_name(st), err.index, (int)err.channel);
        fail_count++;
        free(buf);
        return;
    }
    got = xcalloc(v->n_rows, sizeof *got);
    for (k = 0; k < 3; k++) {
        st = fc_trees_score(t, v->rows, v->n_rows, v->n_cols, kernels[k], got, v->n_rows, &err);
        if (st != FC_OK) {
            printf("file %s vector %s kernel %d: fc_trees_score %s\n", file, v->name,
                   (int)kernels[k], fc_status_name(st));
            fail_count++;
            continue;
        }
        for (r = 0; r < v->n_rows; r++) {
            uint32_t a = fbits(got[r]), b = fbits(v->out[r]);
            if (a == b) continue;
            printf("vector %s row %zu (%s) kernel %d: core %08" PRIx32 ", ONNX Runtime %08" PRIx32
                   " (%" PRId64 " ulps)\n",
                   v->name, r, v->labels[r], (int)kernels[k], a, b, ulps(a, b));
            fail_count++;
            break;
        }
    }
    free(got);
    free(buf);
}

static int check_file(const char *path)
{
    char *text = read_all(path), *line, *next;
    vec v;
    int line_no = 0, n_vectors = 0, in_vec = 0, header = 0;
    memset(&v, 0, sizeof v);
    if (text == NULL) {
        printf("file %s: cannot read\n", path);
        return 1;
    }
    for (line = text; line != NULL && *line != '\0'; line = next) {
        char *rest, *key;
        next = strchr(line, '\n');
        if (next != NULL) *next++ = '\0';
        line_no++;
        if (*line == '\0' || *line == '#') continue;
        rest = line;
        key = token(&rest);
        if (header < 3) { /* format, fc_version, trees_version */
            const char *want[3] = {"dwcp-fc-golden", "fc_version", "trees_version"};
            char *val = token(&rest);
            char expect[32];
            if (strcmp(key, want[header]) != 0 || val == NULL) goto bad;
            if (header == 1 && strcmp(val, fc_version_string()) != 0) {
                printf("file %s: fc_version %s, library %s\n", path, val, fc_version_string());
                free(text);
                return 1;
            }
            snprintf(expect, sizeof expect, "%d", header == 2 ? FC_TREES_VERSION : 1);
            if (header != 1 && strcmp(val, expect) != 0) goto bad;
            header++;
            continue;
        }
        if (strcmp(key, "vector") == 0) {
            char *n = token(&rest);
            if (in_vec || n == NULL) goto bad;
            memset(&v, 0, sizeof v);
            snprintf(v.name, sizeof v.name, "%s", n);
            v.n_targets = 1;
            in_vec = 1;
        } else if (!in_vec) {
            goto bad;
        } else if (strcmp(key, "end") == 0) {
            check_vec(path, &v);
            free_vec(&v);
            n_vectors++;
            in_vec = 0;
        } else if (strcmp(key, "source") == 0) {
            continue;
        } else if (strcmp(key, "n_nodes") == 0) {
            v.n_nodes = (size_t)strtoull(token(&rest), NULL, 10);
            v.tree = xcalloc(v.n_nodes, 8); v.id = xcalloc(v.n_nodes, 8);
            v.feat = xcalloc(v.n_nodes, 8); v.tn = xcalloc(v.n_nodes, 8);
            v.fn = xcalloc(v.n_nodes, 8); v.mt = xcalloc(v.n_nodes, 8);
            v.mode = xcalloc(v.n_nodes, 4); v.thr = xcalloc(v.n_nodes, 4);
        } else if (strcmp(key, "n_weights") == 0) {
            v.n_weights = (size_t)strtoull(token(&rest), NULL, 10);
            v.wt = xcalloc(v.n_weights, 8); v.wn = xcalloc(v.n_weights, 8);
            v.wid = xcalloc(v.n_weights, 8); v.w = xcalloc(v.n_weights, 4);
        } else if (strcmp(key, "nodes_treeids") == 0) { if (!v.tree || !ints(rest, v.tree, v.n_nodes)) goto bad;
        } else if (strcmp(key, "nodes_nodeids") == 0) { if (!v.id || !ints(rest, v.id, v.n_nodes)) goto bad;
        } else if (strcmp(key, "nodes_featureids") == 0) { if (!v.feat || !ints(rest, v.feat, v.n_nodes)) goto bad;
        } else if (strcmp(key, "nodes_truenodeids") == 0) { if (!v.tn || !ints(rest, v.tn, v.n_nodes)) goto bad;
        } else if (strcmp(key, "nodes_falsenodeids") == 0) { if (!v.fn || !ints(rest, v.fn, v.n_nodes)) goto bad;
        } else if (strcmp(key, "nodes_missing_value_tracks_true") == 0) { if (!v.mt || !ints(rest, v.mt, v.n_nodes)) goto bad;
        } else if (strcmp(key, "nodes_modes") == 0) {
            size_t i;
            int64_t *tmp = xcalloc(v.n_nodes, 8);
            int ok = v.mode != NULL && ints(rest, tmp, v.n_nodes);
            for (i = 0; ok && i < v.n_nodes; i++) v.mode[i] = (int32_t)tmp[i];
            free(tmp);
            if (!ok) goto bad;
        } else if (strcmp(key, "nodes_values") == 0) { if (!v.thr || !floats(rest, v.thr, v.n_nodes)) goto bad;
        } else if (strcmp(key, "target_treeids") == 0) { if (!v.wt || !ints(rest, v.wt, v.n_weights)) goto bad;
        } else if (strcmp(key, "target_nodeids") == 0) { if (!v.wn || !ints(rest, v.wn, v.n_weights)) goto bad;
        } else if (strcmp(key, "target_ids") == 0) { if (!v.wid || !ints(rest, v.wid, v.n_weights)) goto bad;
        } else if (strcmp(key, "target_weights") == 0) { if (!v.w || !floats(rest, v.w, v.n_weights)) goto bad;
        } else if (strcmp(key, "base_values") == 0) {
            char *copy = rest;
            v.n_base = 0;
            while (token(&copy) != NULL) v.n_base++;
            if (v.n_base > 1) goto bad;
            if (v.n_base == 1 && !floats(rest, v.base, 1)) goto bad;
        } else if (strcmp(key, "model") == 0) {
            int64_t m[3];
            if (!ints(rest, m, 3)) goto bad;
            v.n_targets = m[0];
            v.aggregate = (int32_t)m[1];
            v.post = (int32_t)m[2];
        } else if (strcmp(key, "n_cols") == 0) {
            v.n_cols = (size_t)strtoull(token(&rest), NULL, 10);
        } else if (strcmp(key, "n_rows") == 0) {
            v.n_rows = (size_t)strtoull(token(&rest), NULL, 10);
            if (v.n_cols == 0) goto bad;
            v.rows = xcalloc(v.n_rows * v.n_cols, 4);
            v.labels = xcalloc(v.n_rows, sizeof *v.labels);
        } else if (strcmp(key, "row") == 0) {
            char *label = token(&rest);
            if (v.rows == NULL || label == NULL || v.rows_read >= v.n_rows) goto bad;
            v.labels[v.rows_read] = xcalloc(strlen(label) + 1, 1);
            memcpy(v.labels[v.rows_read], label, strlen(label));
            if (!floats(rest, v.rows + v.rows_read * v.n_cols, v.n_cols)) goto bad;
            v.rows_read++;
        } else if (strcmp(key, "out") == 0) {
            v.out = xcalloc(v.n_rows, 4);
            if (!floats(rest, v.out, v.n_rows)) goto bad;
        } else {
            goto bad;
        }
    }
    free(text);
    if (in_vec || n_vectors == 0) {
        printf("file %s: %s\n", path, in_vec ? "last vector has no end" : "no vectors");
        free_vec(&v);
        return 1;
    }
    printf("file %s: %d vectors\n", path, n_vectors);
    return 0;
bad:
    printf("file %s line %d: malformed\n", path, line_no);
    free_vec(&v);
    free(text);
    return 1;
}

int main(int argc, char **argv)
{
    int i, bad = 0;
    if (argc < 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "usage: fc_golden_trees check FILE...\n");
        return 2;
    }
    for (i = 2; i < argc; i++) bad |= check_file(argv[i]);
    if (bad || fail_count) {
        printf("%d mismatches\n", fail_count);
        return 1;
    }
    printf("all tree vectors match\n");
    return 0;
}
