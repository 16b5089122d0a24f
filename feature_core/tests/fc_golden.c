/*
 * fc_golden — the C reader of the feature golden vectors (docs/golden-format.md).
 *
 *   fc_golden check FILE...            run every vector through the C API, compare status,
 *                                      fc_error fields, n_windows, every output bit and
 *                                      counts; one line per mismatch, then "N passed, N
 *                                      failed"; exit 0 when all pass, 1 on a mismatch, 2 on
 *                                      a bad file.
 *   fc_golden dump FILE...             canonical text of the results computed here
 *   fc_golden dump --expected FILE...  the same text built from the expected values
 *
 * A file holds window features (calls window, windows, resample: golden/features_v1.txt),
 * placement factors (call place: golden/placement_v1.txt) or drift statistics (calls ln,
 * edges, histogram, psi, ks: golden/drift_v1.txt), or any mix.
 *
 * Canonical dump: one line per vector, in file order, tokens separated by one space, no
 * trailing space, "\n" line ends:
 *
 *   <name> <status> [<index> <channel> <feature>] [<n_windows>] [<out ...>] [<counts ...>]
 *
 * The error triple only when status is not FC_OK; n_windows only for call "windows" with
 * FC_OK; out (8 hex digits per float for window/windows/place, 16 per double for
 * resample and the drift calls, lower case) and counts (decimal, resample) only with FC_OK. The determinism matrix
 * hashes this text (SHA-256); `dump` and `dump --expected` must print the same bytes.
 *
 * Buffers given to the core are sized as a binding would size them (fc_window_output_len,
 * fc_windows_count, n_bins * channels, fc_place_output_len; drift: n_bins + 1 edges and
 * n values of scratch, n_edges - 1 counts) and allocated exactly, so a sanitizer sees any
 * write past them.
 */
#include "feature_core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CALL_NONE, CALL_WINDOW, CALL_WINDOWS, CALL_RESAMPLE, CALL_PLACE,
    CALL_LN, CALL_EDGES, CALL_HISTOGRAM, CALL_PSI, CALL_KS /* drift */
};

/* Drift input arrays besides "values", by key. */
#define N_DRIFT_ARRAYS 3
static const char *const drift_arrays[N_DRIFT_ARRAYS] = {"edges", "ref", "live"};

static int is_drift(int call) { return call >= CALL_LN; }

/* out holds doubles (16 hex digits) for resample and the drift calls. */
static int out_is_double(int call) { return call == CALL_RESAMPLE || is_drift(call); }

/* The input arrays of a place vector, in the order of the fc_place_factors arguments. */
#define N_PLACE_ARRAYS 7
static const char *const place_arrays[N_PLACE_ARRAYS] = {
    "vm_request", "vm_history", "vm_info", "host_capacity", "host_allocated", "host_usage",
    "host_info",
};

typedef struct vec {
    char *name;
    long line;
    int call;
    int schema_known; /* schema given by name (vm, link) rather than a raw number */
    fc_params params;
    size_t stride;
    int64_t t0;
    size_t n_bins;
    int64_t *ts;
    size_t n_ts;
    double *values;
    size_t n_values;
    int has_status;
    fc_status status;
    int has_error;
    fc_error err;
    int has_n_windows;
    size_t n_windows;
    int has_out;
    uint64_t *out; /* raw bits: floats in the low 32 bits */
    size_t n_out;
    int has_counts;
    uint64_t *counts;
    size_t n_counts;
    /* call place */
    fc_place_params place;
    int has_history, has_n_hosts;
    size_t n_hosts;
    double *parr[N_PLACE_ARRAYS];
    size_t n_parr[N_PLACE_ARRAYS];
    int has_parr[N_PLACE_ARRAYS];
    /* drift calls: edges, ref, live; n_bins (edges) and epsilon (psi) */
    double *darr[N_DRIFT_ARRAYS];
    size_t n_darr[N_DRIFT_ARRAYS];
    int has_darr[N_DRIFT_ARRAYS];
    int has_n_bins, has_epsilon, has_values;
    double epsilon;
} vec;

typedef struct result {
    fc_status status;
    fc_error err;
    size_t n_windows;
    uint64_t *out;
    size_t n_out;
    uint64_t *counts;
    size_t n_counts;
} result;

typedef struct golden {
    const char *path;
    char *fc_version;
    struct {
        char name[32];
        uint64_t hash;
        long line;
    } hashes[16];
    size_t n_hashes;
    int has_place_hash;
    uint64_t place_hash;
    int has_drift_version;
    long drift_version;
    vec *v;
    size_t n;
} golden;

static const char *g_path = "";
static long g_line = 0;

static void die(const char *msg, const char *detail)
{
    fprintf(stderr, "fc_golden: %s:%ld: %s%s%s\n", g_path, g_line, msg, detail ? ": " : "",
            detail ? detail : "");
    exit(2);
}

static void *xmalloc(size_t n, size_t size)
{
    void *p;
    if (size != 0 && n > SIZE_MAX / size) die("allocation too large", NULL);
    p = malloc(n * size == 0 ? 1 : n * size);
    if (p == NULL) die("out of memory", NULL);
    return p;
}

static void *xrealloc(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) die("allocation too large", NULL);
    p = realloc(p, n * size == 0 ? 1 : n * size);
    if (p == NULL) die("out of memory", NULL);
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n, 1);
    memcpy(d, s, n);
    return d;
}

/* ---- token parsing ------------------------------------------------------------ */

static int64_t parse_int(const char *tok, int64_t lo, int64_t hi, const char *what)
{
    char *end;
    long long x;
    if (tok == NULL) die("missing number for", what);
    errno = 0;
    x = strtoll(tok, &end, 10);
    if (errno != 0 || end == tok || *end != '\0' || x < lo || x > hi)
        die("bad decimal number for", what);
    return (int64_t)x;
}

static uint64_t parse_uint(const char *tok, uint64_t hi, const char *what)
{
    char *end;
    unsigned long long x;
    if (tok == NULL) die("missing number for", what);
    if (tok[0] == '-' || tok[0] == '+') die("bad unsigned number for", what);
    errno = 0;
    x = strtoull(tok, &end, 10);
    if (errno != 0 || end == tok || *end != '\0' || x > hi) die("bad unsigned number for", what);
    return (uint64_t)x;
}

static uint64_t parse_hex(const char *tok, size_t digits, const char *what)
{
    uint64_t x = 0;
    size_t i;
    if (tok == NULL || strlen(tok) != digits) die("bad hex bits (wrong digit count) for", what);
    for (i = 0; i < digits; i++) {
        char c = tok[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            die("bad hex bits (lower-case hex expected) for", what);
        x = (x << 4) | d;
    }
    return x;
}

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static uint64_t float_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static int status_from_name(const char *name, fc_status *st)
{
    int s;
    for (s = 0; s < FC_STATUS_COUNT; s++) {
        if (strcmp(fc_status_name((fc_status)s), name) == 0) {
            *st = (fc_status)s;
            return 1;
        }
    }
    return 0;
}

/* Schema by name ("vm"), or a raw decimal id (for vectors of unknown schemas). */
static int32_t schema_from_token(const char *tok, int *known)
{
    int32_t id;
    for (id = 0; id < 64; id++) {
        const char *n = fc_schema_name((fc_schema_id)id);
        if (n != NULL && strcmp(n, tok) == 0) {
            *known = 1;
            return id;
        }
    }
    *known = 0;
    return (int32_t)parse_int(tok, INT32_MIN, INT32_MAX, "schema");
}

/* ---- file reader -------------------------------------------------------------- */

#define MAX_TOKENS_HINT 64

typedef struct toks {
    char **t;
    size_t n, cap;
} toks;

static void split(char *line, toks *tk)
{
    char *p = line;
    tk->n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0') break;
        if (tk->n == tk->cap) {
            tk->cap = tk->cap ? tk->cap * 2 : MAX_TOKENS_HINT;
            tk->t = xrealloc(tk->t, tk->cap, sizeof *tk->t);
        }
        tk->t[tk->n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t') p++;
        if (*p != '\0') *p++ = '\0';
    }
}

static void init_vec(vec *v, const char *name)
{
    size_t f;
    memset(v, 0, sizeof *v);
    v->name = xstrdup(name);
    v->line = g_line;
    /* fc_params_init's defaults, so a field a vector leaves out keeps its documented
     * default; works for unknown schema ids too. */
    v->params.schema = 0;
    v->params.seq_len = 12;
    v->params.stat_window = 12;
    v->params.step_seconds = 300;
    v->params.fill_limit = 2;
    for (f = 0; f < FC_MAX_FEATURES; f++) {
        v->params.center[f] = 0.0;
        v->params.scale[f] = 1.0;
    }
    v->stride = 1;
    fc_place_params_init(&v->place);
}

static void finish_vec(const vec *v)
{
    size_t a;
    if (v->call == CALL_NONE) die("vector has no 'call'", v->name);
    if (v->call == CALL_PLACE) {
        if (!v->has_history || !v->has_n_hosts) die("place vector needs 'history' and 'n_hosts'", v->name);
        for (a = 0; a < N_PLACE_ARRAYS; a++)
            if (!v->has_parr[a]) die("place vector lacks an input array", place_arrays[a]);
        if (v->n_ts || v->n_values) die("place vector with 'ts' or 'values'", v->name);
    } else {
        for (a = 0; a < N_PLACE_ARRAYS; a++)
            if (v->has_parr[a]) die("placement input outside a place vector", place_arrays[a]);
        if (v->has_history || v->has_n_hosts) die("history/n_hosts outside a place vector", v->name);
    }
    if (is_drift(v->call)) {
        /* each call takes exactly its own inputs (docs/golden-format.md) */
        int want_values = v->call == CALL_LN || v->call == CALL_EDGES || v->call == CALL_HISTOGRAM;
        int want_counts = v->call == CALL_PSI || v->call == CALL_KS;
        if (v->has_values != want_values) die("drift vector: 'values' wrong for its call", v->name);
        if (v->has_n_bins != (v->call == CALL_EDGES)) die("'n_bins' goes with call edges only", v->name);
        if (v->has_darr[0] != (v->call == CALL_HISTOGRAM)) die("'edges' goes with call histogram only", v->name);
        if (v->has_darr[1] != want_counts || v->has_darr[2] != want_counts)
            die("'ref' and 'live' go with calls psi and ks only", v->name);
        if (want_counts && v->n_darr[1] != v->n_darr[2]) die("'ref' and 'live' differ in length", v->name);
        if (v->has_epsilon != (v->call == CALL_PSI)) die("'epsilon' goes with call psi only", v->name);
        if (v->n_ts || v->has_counts || v->has_n_windows) die("drift vector with ts/counts/n_windows", v->name);
    } else {
        for (a = 0; a < N_DRIFT_ARRAYS; a++)
            if (v->has_darr[a]) die("drift input outside a drift vector", drift_arrays[a]);
        if (v->has_epsilon) die("'epsilon' outside a psi vector", v->name);
    }
    if (!v->has_status) die("vector has no 'status'", v->name);
    if ((v->status != FC_OK) != (v->has_error != 0))
        die("'error' must be present exactly when status is not FC_OK", v->name);
    if (v->status == FC_OK && !v->has_out) die("FC_OK vector has no 'out'", v->name);
    if (v->status != FC_OK && (v->has_out || v->has_counts || v->has_n_windows))
        die("a failing vector must not carry out/counts/n_windows", v->name);
    if (v->call == CALL_WINDOWS && v->status == FC_OK && !v->has_n_windows)
        die("windows vector with FC_OK has no 'n_windows'", v->name);
    if (v->call != CALL_WINDOWS && v->has_n_windows) die("n_windows outside a windows vector", v->name);
    if (v->call == CALL_RESAMPLE && v->status == FC_OK && !v->has_counts)
        die("resample vector with FC_OK has no 'counts'", v->name);
    if (v->call != CALL_RESAMPLE && v->has_counts) die("counts outside a resample vector", v->name);
}

static void read_golden(const char *path, golden *g)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len;
    int c, seen_magic = 0;
    toks tk = {NULL, 0, 0};
    vec *cur = NULL;
    size_t vcap = 0;

    memset(g, 0, sizeof *g);
    g->path = path;
    g_path = path;
    g_line = 0;
    if (fp == NULL) {
        fprintf(stderr, "fc_golden: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    for (;;) {
        len = 0;
        c = EOF;
        while ((c = fgetc(fp)) != EOF && c != '\n') {
            if (len + 1 >= cap) {
                cap = cap ? cap * 2 : 4096;
                buf = xrealloc(buf, cap, 1);
            }
            buf[len++] = (char)c;
        }
        if (c == EOF && len == 0) break;
        if (buf == NULL) {
            cap = 4096;
            buf = xmalloc(cap, 1);
        }
        buf[len] = '\0';
        if (len > 0 && buf[len - 1] == '\r') buf[--len] = '\0';
        g_line++;
        if (buf[0] == '#') continue;
        split(buf, &tk);
        if (tk.n == 0) continue;

        if (!seen_magic) {
            if (tk.n != 2 || strcmp(tk.t[0], "dwcp-fc-golden") != 0)
                die("first line must be 'dwcp-fc-golden 1'", NULL);
            if (strcmp(tk.t[1], "1") != 0) die("unsupported golden format version", tk.t[1]);
            seen_magic = 1;
            continue;
        }

        if (cur == NULL) {
            /* file-level keys */
            if (strcmp(tk.t[0], "fc_version") == 0) {
                if (tk.n != 2) die("fc_version takes one token", NULL);
                free(g->fc_version);
                g->fc_version = xstrdup(tk.t[1]);
            } else if (strcmp(tk.t[0], "schema_hash") == 0) {
                if (tk.n != 3) die("schema_hash takes a name and 16 hex digits", NULL);
                if (g->n_hashes == sizeof g->hashes / sizeof g->hashes[0])
                    die("too many schema_hash lines", NULL);
                if (strlen(tk.t[1]) >= sizeof g->hashes[0].name) die("schema name too long", tk.t[1]);
                strcpy(g->hashes[g->n_hashes].name, tk.t[1]);
                g->hashes[g->n_hashes].hash = parse_hex(tk.t[2], 16, "schema_hash");
                g->hashes[g->n_hashes].line = g_line;
                g->n_hashes++;
            } else if (strcmp(tk.t[0], "place_hash") == 0) {
                if (tk.n != 2) die("place_hash takes 16 hex digits", NULL);
                if (g->has_place_hash) die("repeated place_hash", NULL);
                g->place_hash = parse_hex(tk.t[1], 16, "place_hash");
                g->has_place_hash = 1;
            } else if (strcmp(tk.t[0], "drift_version") == 0) {
                if (tk.n != 2) die("drift_version takes one number", NULL);
                if (g->has_drift_version) die("repeated drift_version", NULL);
                g->drift_version = (long)parse_int(tk.t[1], 0, 1000000, "drift_version");
                g->has_drift_version = 1;
            } else if (strcmp(tk.t[0], "vector") == 0) {
                size_t i;
                if (tk.n != 2) die("vector takes one name", NULL);
                for (i = 0; i < g->n; i++)
                    if (strcmp(g->v[i].name, tk.t[1]) == 0) die("duplicate vector name", tk.t[1]);
                if (g->n == vcap) {
                    vcap = vcap ? vcap * 2 : 64;
                    g->v = xrealloc(g->v, vcap, sizeof *g->v);
                }
                cur = &g->v[g->n++];
                init_vec(cur, tk.t[1]);
            } else {
                die("unknown key outside a vector", tk.t[0]);
            }
            continue;
        }

        /* keys inside a vector */
        {
            const char *k = tk.t[0];
            size_t i, n = tk.n - 1;
            char **a = tk.t + 1;
#define ONE()                                                                               \
    do {                                                                                    \
        if (n != 1) die("key takes exactly one token", k);                                  \
    } while (0)
            if (strcmp(k, "end") == 0) {
                if (n != 0) die("end takes no token", NULL);
                finish_vec(cur);
                cur = NULL;
            } else if (strcmp(k, "call") == 0) {
                ONE();
                if (strcmp(a[0], "window") == 0)
                    cur->call = CALL_WINDOW;
                else if (strcmp(a[0], "windows") == 0)
                    cur->call = CALL_WINDOWS;
                else if (strcmp(a[0], "resample") == 0)
                    cur->call = CALL_RESAMPLE;
                else if (strcmp(a[0], "place") == 0)
                    cur->call = CALL_PLACE;
                else if (strcmp(a[0], "ln") == 0)
                    cur->call = CALL_LN;
                else if (strcmp(a[0], "edges") == 0)
                    cur->call = CALL_EDGES;
                else if (strcmp(a[0], "histogram") == 0)
                    cur->call = CALL_HISTOGRAM;
                else if (strcmp(a[0], "psi") == 0)
                    cur->call = CALL_PSI;
                else if (strcmp(a[0], "ks") == 0)
                    cur->call = CALL_KS;
                else
                    die("unknown call", a[0]);
            } else if (strcmp(k, "schema") == 0) {
                ONE();
                cur->params.schema = schema_from_token(a[0], &cur->schema_known);
            } else if (strcmp(k, "seq_len") == 0) {
                ONE();
                cur->params.seq_len = (uint32_t)parse_uint(a[0], UINT32_MAX, k);
            } else if (strcmp(k, "stat_window") == 0) {
                ONE();
                cur->params.stat_window = (uint32_t)parse_uint(a[0], UINT32_MAX, k);
            } else if (strcmp(k, "step_seconds") == 0) {
                ONE();
                cur->params.step_seconds = parse_int(a[0], INT64_MIN, INT64_MAX, k);
                cur->place.step_seconds = cur->params.step_seconds;
            } else if (strcmp(k, "history") == 0) {
                ONE();
                cur->place.history = (uint32_t)parse_uint(a[0], UINT32_MAX, k);
                cur->has_history = 1;
            } else if (strcmp(k, "n_hosts") == 0) {
                ONE();
                cur->n_hosts = (size_t)parse_uint(a[0], SIZE_MAX, k);
                cur->has_n_hosts = 1;
            } else if (strcmp(k, "fill_limit") == 0) {
                ONE();
                cur->params.fill_limit = (uint32_t)parse_uint(a[0], UINT32_MAX, k);
            } else if (strcmp(k, "center") == 0 || strcmp(k, "scale") == 0) {
                double *dst = k[0] == 'c' ? cur->params.center : cur->params.scale;
                if (n > FC_MAX_FEATURES) die("more than FC_MAX_FEATURES entries in", k);
                for (i = 0; i < n; i++) dst[i] = bits_to_double(parse_hex(a[i], 16, k));
            } else if (strcmp(k, "stride") == 0) {
                ONE();
                cur->stride = (size_t)parse_uint(a[0], SIZE_MAX, k);
            } else if (strcmp(k, "t0") == 0) {
                ONE();
                cur->t0 = parse_int(a[0], INT64_MIN, INT64_MAX, k);
            } else if (strcmp(k, "n_bins") == 0) {
                ONE();
                cur->n_bins = (size_t)parse_uint(a[0], SIZE_MAX, k);
                cur->has_n_bins = 1;
            } else if (strcmp(k, "epsilon") == 0) {
                ONE();
                if (cur->has_epsilon) die("repeated key", k);
                cur->epsilon = bits_to_double(parse_hex(a[0], 16, k));
                cur->has_epsilon = 1;
            } else if (strcmp(k, "ts") == 0) {
                free(cur->ts);
                cur->ts = xmalloc(n, sizeof *cur->ts);
                cur->n_ts = n;
                for (i = 0; i < n; i++) cur->ts[i] = parse_int(a[i], INT64_MIN, INT64_MAX, k);
            } else if (strcmp(k, "values") == 0) {
                free(cur->values);
                cur->values = xmalloc(n, sizeof *cur->values);
                cur->n_values = n;
                cur->has_values = 1;
                for (i = 0; i < n; i++) cur->values[i] = bits_to_double(parse_hex(a[i], 16, k));
            } else if (strcmp(k, "status") == 0) {
                ONE();
                if (!status_from_name(a[0], &cur->status)) die("unknown status", a[0]);
                cur->has_status = 1;
            } else if (strcmp(k, "error") == 0) {
                if (n != 3) die("error takes <index> <channel> <feature>", NULL);
                cur->has_error = 1;
                cur->err.index = parse_int(a[0], INT64_MIN, INT64_MAX, "error index");
                cur->err.channel = (int32_t)parse_int(a[1], INT32_MIN, INT32_MAX, "error channel");
                cur->err.feature = (int32_t)parse_int(a[2], INT32_MIN, INT32_MAX, "error feature");
            } else if (strcmp(k, "n_windows") == 0) {
                ONE();
                cur->has_n_windows = 1;
                cur->n_windows = (size_t)parse_uint(a[0], SIZE_MAX, k);
            } else if (strcmp(k, "out") == 0) {
                size_t digits;
                if (cur->call == CALL_NONE) die("'out' before 'call'", NULL);
                digits = out_is_double(cur->call) ? 16 : 8;
                free(cur->out);
                cur->out = xmalloc(n, sizeof *cur->out);
                cur->n_out = n;
                cur->has_out = 1;
                for (i = 0; i < n; i++) cur->out[i] = parse_hex(a[i], digits, k);
            } else if (strcmp(k, "counts") == 0) {
                free(cur->counts);
                cur->counts = xmalloc(n, sizeof *cur->counts);
                cur->n_counts = n;
                cur->has_counts = 1;
                for (i = 0; i < n; i++) cur->counts[i] = parse_uint(a[i], UINT32_MAX, k);
            } else {
                size_t pa, da;
                for (da = 0; da < N_DRIFT_ARRAYS; da++)
                    if (strcmp(k, drift_arrays[da]) == 0) break;
                if (da < N_DRIFT_ARRAYS) {
                    if (cur->has_darr[da]) die("repeated key", k);
                    cur->darr[da] = xmalloc(n, sizeof *cur->darr[da]);
                    cur->n_darr[da] = n;
                    cur->has_darr[da] = 1;
                    for (i = 0; i < n; i++) cur->darr[da][i] = bits_to_double(parse_hex(a[i], 16, k));
                    continue;
                }
                for (pa = 0; pa < N_PLACE_ARRAYS; pa++)
                    if (strcmp(k, place_arrays[pa]) == 0) break;
                if (pa == N_PLACE_ARRAYS) die("unknown key in vector", k);
                if (cur->has_parr[pa]) die("repeated key", k);
                cur->parr[pa] = xmalloc(n, sizeof *cur->parr[pa]);
                cur->n_parr[pa] = n;
                cur->has_parr[pa] = 1;
                for (i = 0; i < n; i++) cur->parr[pa][i] = bits_to_double(parse_hex(a[i], 16, k));
            }
#undef ONE
        }
    }
    if (ferror(fp)) die("read error", strerror(errno));
    fclose(fp);
    free(buf);
    free(tk.t);
    if (!seen_magic) die("empty file (no 'dwcp-fc-golden 1' line)", NULL);
    if (cur != NULL) die("last vector has no 'end'", cur->name);
}

static void free_golden(golden *g)
{
    size_t i, a;
    for (i = 0; i < g->n; i++) {
        free(g->v[i].name);
        free(g->v[i].ts);
        free(g->v[i].values);
        free(g->v[i].out);
        free(g->v[i].counts);
        for (a = 0; a < N_PLACE_ARRAYS; a++) free(g->v[i].parr[a]);
        for (a = 0; a < N_DRIFT_ARRAYS; a++) free(g->v[i].darr[a]);
    }
    free(g->v);
    free(g->fc_version);
}

/* ---- running a vector through the API ------------------------------------------ */

/* Largest output buffer the reader allocates for a vector (elements); a vector asking for
 * more is run with no buffer at all, so the core must answer FC_ERR_OUTPUT_SIZE. */
#define MAX_OUT_ELEMS ((size_t)1 << 26)

/* Copies n doubles' bits into a fresh r->out. */
static void set_out_doubles(result *r, const double *d, size_t n)
{
    size_t k;
    r->n_out = n;
    r->out = xmalloc(n, sizeof *r->out);
    for (k = 0; k < n; k++) r->out[k] = double_bits(d[k]);
}

/* The drift calls. ln runs fc_drift_ln on each value in order; the first failing value
 * gives the status and the error (its index, channel FC_DRIFT_ARG_VALUES, feature -1),
 * as the bindings report it. */
static void run_drift(const vec *v, result *r, fc_error *err)
{
    size_t k;
    if (v->call == CALL_LN) {
        double *out = xmalloc(v->n_values, sizeof *out);
        r->status = FC_OK;
        for (k = 0; k < v->n_values && r->status == FC_OK; k++) {
            r->status = fc_drift_ln(v->values[k], &out[k]);
            if (r->status != FC_OK) {
                err->status = r->status;
                err->index = (int64_t)k;
                err->channel = FC_DRIFT_ARG_VALUES;
            }
        }
        if (r->status == FC_OK) set_out_doubles(r, out, v->n_values);
        free(out);
    } else if (v->call == CALL_EDGES) {
        size_t cap = v->n_bins < MAX_OUT_ELEMS ? v->n_bins + 1 : 0, n_edges = 0;
        double *scratch = xmalloc(v->n_values, sizeof *scratch);
        double *edges = xmalloc(cap, sizeof *edges);
        r->status = fc_drift_quantile_edges(v->values, v->n_values, v->n_bins, scratch,
                                            v->n_values, edges, cap, &n_edges, err);
        if (r->status == FC_OK) set_out_doubles(r, edges, n_edges);
        free(scratch);
        free(edges);
    } else if (v->call == CALL_HISTOGRAM) {
        size_t cap = v->n_darr[0] > 1 ? v->n_darr[0] - 1 : 0;
        double *counts = xmalloc(cap, sizeof *counts);
        r->status = fc_drift_histogram(v->values, v->n_values, v->darr[0], v->n_darr[0],
                                       counts, cap, err);
        if (r->status == FC_OK) set_out_doubles(r, counts, cap);
        free(counts);
    } else {
        double d = 0.0;
        if (v->call == CALL_PSI)
            r->status = fc_drift_psi(v->darr[1], v->darr[2], v->n_darr[1], v->epsilon, &d, err);
        else
            r->status = fc_drift_ks(v->darr[1], v->darr[2], v->n_darr[1], &d, err);
        if (r->status == FC_OK) set_out_doubles(r, &d, 1);
    }
}

static void run_vec(const vec *v, result *r)
{
    fc_error err;
    const int64_t *ts = v->ts;
    const double *values = v->values;
    memset(r, 0, sizeof *r);
    err.status = FC_OK;
    err.index = -1;
    err.channel = -1;
    err.feature = -1;

    if (is_drift(v->call)) {
        run_drift(v, r, &err);
    } else if (v->call == CALL_PLACE) {
        size_t cap = 0, k;
        float *out;
        if (v->n_hosts <= MAX_OUT_ELEMS / FC_PLACE_FACTORS) cap = fc_place_output_len(v->n_hosts);
        out = xmalloc(cap, sizeof *out);
        r->status = fc_place_factors(&v->place, v->parr[0], v->n_parr[0], v->parr[1], v->n_parr[1],
                                     v->parr[2], v->n_parr[2], v->n_hosts, v->parr[3], v->n_parr[3],
                                     v->parr[4], v->n_parr[4], v->parr[5], v->n_parr[5],
                                     v->parr[6], v->n_parr[6], out, cap, &err);
        if (r->status == FC_OK) {
            r->n_out = cap;
            r->out = xmalloc(cap, sizeof *r->out);
            for (k = 0; k < cap; k++) r->out[k] = float_bits(out[k]);
        }
        free(out);
    } else if (v->call == CALL_WINDOW || v->call == CALL_WINDOWS) {
        size_t per = fc_window_output_len(&v->params), cap = 0, k;
        size_t count = v->call == CALL_WINDOW ? 1 : fc_windows_count(&v->params, v->n_ts, v->stride);
        float *out;
        if (per != 0 && count <= MAX_OUT_ELEMS / per) cap = per * count;
        out = xmalloc(cap, sizeof *out);
        if (v->call == CALL_WINDOW) {
            r->status = fc_window(&v->params, ts, v->n_ts, values, v->n_values, out, cap, &err);
            r->n_windows = r->status == FC_OK ? 1 : 0;
        } else {
            r->status = fc_windows(&v->params, ts, v->n_ts, values, v->n_values, v->stride, out,
                                   cap, &r->n_windows, &err);
        }
        if (r->status == FC_OK) {
            r->n_out = r->n_windows * per;
            if (r->n_out > cap) r->n_out = cap; /* a wrong n_windows is reported, not read */
            r->out = xmalloc(r->n_out, sizeof *r->out);
            for (k = 0; k < r->n_out; k++) r->out[k] = float_bits(out[k]);
        }
        free(out);
    } else {
        size_t C = fc_schema_channels((fc_schema_id)v->params.schema), cap = 0, ccap = 0, k;
        double *out;
        uint32_t *counts;
        if (v->n_bins <= MAX_OUT_ELEMS / (C ? C : 1)) {
            cap = v->n_bins * C;
            ccap = v->n_bins;
        }
        out = xmalloc(cap, sizeof *out);
        counts = xmalloc(ccap, sizeof *counts);
        r->status = fc_resample(&v->params, v->t0, v->n_bins, ts, v->n_ts, values, v->n_values,
                                out, cap, counts, ccap, &err);
        if (r->status == FC_OK) {
            r->n_out = cap;
            r->out = xmalloc(cap, sizeof *r->out);
            for (k = 0; k < cap; k++) r->out[k] = double_bits(out[k]);
            r->n_counts = ccap;
            r->counts = xmalloc(ccap, sizeof *r->counts);
            for (k = 0; k < ccap; k++) r->counts[k] = counts[k];
        }
        free(out);
        free(counts);
    }
    r->err = err;
}

static void free_result(result *r)
{
    free(r->out);
    free(r->counts);
}

/* Expected values of a vector, as a result. */
static void expected_of(const vec *v, result *r)
{
    memset(r, 0, sizeof *r);
    r->status = v->status;
    r->err = v->err;
    r->err.status = v->status;
    r->n_windows = v->call == CALL_WINDOW ? (v->status == FC_OK ? 1 : 0) : v->n_windows;
    r->out = v->out;
    r->n_out = v->n_out;
    r->counts = v->counts;
    r->n_counts = v->n_counts;
}

/* ---- canonical dump ------------------------------------------------------------ */

static void dump_line(FILE *fp, const vec *v, const result *r)
{
    size_t k;
    fprintf(fp, "%s %s", v->name, fc_status_name(r->status));
    if (r->status != FC_OK) {
        fprintf(fp, " %" PRId64 " %" PRId32 " %" PRId32 "\n", r->err.index, r->err.channel,
                r->err.feature);
        return;
    }
    if (v->call == CALL_WINDOWS) fprintf(fp, " %zu", r->n_windows);
    for (k = 0; k < r->n_out; k++) {
        if (out_is_double(v->call))
            fprintf(fp, " %016" PRIx64, r->out[k]);
        else
            fprintf(fp, " %08" PRIx32, (uint32_t)r->out[k]);
    }
    if (v->call == CALL_RESAMPLE)
        for (k = 0; k < r->n_counts; k++) fprintf(fp, " %" PRIu64, r->counts[k]);
    fputc('\n', fp);
}

/* ---- comparison ---------------------------------------------------------------- */

/* Position on a monotonic integer line (negative values mirrored below zero), offset by
 * 2^63 so it is unsigned; -0.0 and +0.0 land on the same point. */
static uint64_t ordered64(uint64_t bits)
{
    const uint64_t sign = (uint64_t)1 << 63;
    return (bits & sign) ? sign - (bits & ~sign) : sign + bits;
}

static uint64_t ordered32(uint64_t bits)
{
    const uint64_t sign = (uint64_t)1 << 63;
    uint32_t b = (uint32_t)bits;
    return (b & 0x80000000u) ? sign - (b & 0x7fffffffu) : sign + b;
}

static uint64_t ulp_distance(uint64_t a, uint64_t b, int is_double)
{
    uint64_t x = is_double ? ordered64(a) : ordered32(a);
    uint64_t y = is_double ? ordered64(b) : ordered32(b);
    return x > y ? x - y : y - x;
}

static void print_err_triple(const fc_error *e)
{
    printf("%" PRId64 " %" PRId32 " %" PRId32, e->index, e->channel, e->feature);
}

/* Prints one line per difference; returns the number of differences. */
static size_t compare(const vec *v, const result *got)
{
    size_t bad = 0, k, n;
    const char *name = v->name;
    fc_schema_id schema = (fc_schema_id)v->params.schema;

    if (got->status != v->status) {
        printf("vector %s: status: expected %s, got %s", name, fc_status_name(v->status),
               fc_status_name(got->status));
        if (got->status != FC_OK) {
            printf(" (error ");
            print_err_triple(&got->err);
            printf(")");
        }
        printf("\n");
        return 1;
    }
    if (v->status != FC_OK) {
        if (got->err.status != v->status || got->err.index != v->err.index ||
            got->err.channel != v->err.channel || got->err.feature != v->err.feature) {
            printf("vector %s: error (index channel feature): expected ", name);
            print_err_triple(&v->err);
            printf(", got ");
            print_err_triple(&got->err);
            if (got->err.status != got->status)
                printf(" (fc_error.status %s)", fc_status_name(got->err.status));
            printf("\n");
            bad++;
        }
        return bad;
    }
    if (v->call == CALL_WINDOWS && got->n_windows != v->n_windows) {
        printf("vector %s: n_windows: expected %zu, got %zu\n", name, v->n_windows,
               got->n_windows);
        bad++;
    }
    if (got->n_out != v->n_out) {
        printf("vector %s: out: expected %zu values, got %zu\n", name, v->n_out, got->n_out);
        bad++;
    }
    n = got->n_out < v->n_out ? got->n_out : v->n_out;
    for (k = 0; k < n; k++) {
        if (got->out[k] == v->out[k]) continue;
        bad++;
        if (v->call == CALL_PLACE) {
            const char *fn = fc_place_factor_name(k % FC_PLACE_FACTORS);
            printf("vector %s: out[%zu] (host %zu, factor %s): expected 0x%08" PRIx32
                   ", got 0x%08" PRIx32 " (%" PRIu64 " ULP)\n",
                   name, k, k / FC_PLACE_FACTORS, fn ? fn : "?", (uint32_t)v->out[k],
                   (uint32_t)got->out[k], ulp_distance(v->out[k], got->out[k], 0));
        } else if (is_drift(v->call)) {
            static const char *const what[] = {"value", "edge", "bin", "result", "result"};
            printf("vector %s: out[%zu] (%s %zu): expected 0x%016" PRIx64 ", got 0x%016" PRIx64
                   " (%" PRIu64 " ULP)\n", name, k, what[v->call - CALL_LN], k, v->out[k],
                   got->out[k], ulp_distance(v->out[k], got->out[k], 1));
        } else if (v->call == CALL_RESAMPLE) {
            size_t C = fc_schema_channels(schema);
            const char *ch = C ? fc_channel_name(schema, k % C) : NULL;
            printf("vector %s: out[%zu] (bin %zu, channel %s): expected 0x%016" PRIx64
                   ", got 0x%016" PRIx64 " (%" PRIu64 " ULP)\n",
                   name, k, C ? k / C : 0, ch ? ch : "?", v->out[k], got->out[k],
                   ulp_distance(v->out[k], got->out[k], 1));
        } else {
            size_t F = fc_schema_features(schema), T = v->params.seq_len;
            const char *fn = F ? fc_feature_name(schema, k % F) : NULL;
            printf("vector %s: out[%zu] (window %zu, step %zu, feature %s): expected 0x%08" PRIx32
                   ", got 0x%08" PRIx32 " (%" PRIu64 " ULP)\n",
                   name, k, (F && T) ? k / (F * T) : 0, (F && T) ? (k / F) % T : 0,
                   fn ? fn : "?", (uint32_t)v->out[k], (uint32_t)got->out[k],
                   ulp_distance(v->out[k], got->out[k], 0));
        }
    }
    if (v->call == CALL_RESAMPLE) {
        if (got->n_counts != v->n_counts) {
            printf("vector %s: counts: expected %zu values, got %zu\n", name, v->n_counts,
                   got->n_counts);
            bad++;
        }
        n = got->n_counts < v->n_counts ? got->n_counts : v->n_counts;
        for (k = 0; k < n; k++) {
            if (got->counts[k] == v->counts[k]) continue;
            bad++;
            printf("vector %s: counts[%zu]: expected %" PRIu64 ", got %" PRIu64 "\n", name, k,
                   v->counts[k], got->counts[k]);
        }
    }
    return bad;
}

/* File-level checks: the core version and every schema hash. */
static size_t check_header(const golden *g)
{
    size_t bad = 0, i;
    if (g->fc_version == NULL) {
        printf("file %s: no fc_version line\n", g->path);
        bad++;
    } else if (strcmp(g->fc_version, fc_version_string()) != 0) {
        printf("file %s: fc_version: expected %s, library is %s\n", g->path, g->fc_version,
               fc_version_string());
        bad++;
    }
    if (g->has_drift_version && g->drift_version != FC_DRIFT_VERSION) {
        printf("file %s: drift_version: expected %ld, library is %d\n", g->path,
               g->drift_version, FC_DRIFT_VERSION);
        bad++;
    }
    if (g->has_place_hash) {
        uint64_t h = 0;
        fc_place_hash(&h);
        if (h != g->place_hash) {
            printf("file %s: place_hash: expected %016" PRIx64 ", got %016" PRIx64 "\n", g->path,
                   g->place_hash, h);
            bad++;
        }
    }
    for (i = 0; i < g->n_hashes; i++) {
        int known = 0;
        int32_t id;
        uint64_t h = 0;
        for (id = 0; id < 64; id++) {
            const char *n = fc_schema_name((fc_schema_id)id);
            if (n != NULL && strcmp(n, g->hashes[i].name) == 0) {
                known = 1;
                break;
            }
        }
        if (!known || fc_schema_hash((fc_schema_id)id, &h) != FC_OK) {
            printf("file %s: schema_hash %s: the library has no such schema\n", g->path,
                   g->hashes[i].name);
            bad++;
        } else if (h != g->hashes[i].hash) {
            printf("file %s: schema_hash %s: expected %016" PRIx64 ", got %016" PRIx64 "\n",
                   g->path, g->hashes[i].name, g->hashes[i].hash, h);
            bad++;
        }
    }
    return bad;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: fc_golden check FILE...\n"
            "       fc_golden dump [--expected] FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    golden g;
    size_t i, passed = 0, failed = 0, header_bad = 0, vectors = 0;
    int f;

    if (argc >= 3 && strcmp(argv[1], "check") == 0) {
        for (f = 2; f < argc; f++) {
            read_golden(argv[f], &g);
            header_bad += check_header(&g);
            for (i = 0; i < g.n; i++) {
                result r;
                run_vec(&g.v[i], &r);
                if (compare(&g.v[i], &r) == 0)
                    passed++;
                else
                    failed++;
                free_result(&r);
            }
            if (g.n == 0) {
                printf("file %s: no vectors\n", g.path);
                header_bad++;
            }
            vectors += g.n;
            free_golden(&g);
        }
        printf("%zu passed, %zu failed\n", passed, failed);
        return (failed == 0 && header_bad == 0 && vectors > 0) ? 0 : 1;
    }
    if (argc >= 3 && strcmp(argv[1], "dump") == 0) {
        int expected = strcmp(argv[2], "--expected") == 0;
        if (expected && argc < 4) return usage();
        for (f = expected ? 3 : 2; f < argc; f++) {
            read_golden(argv[f], &g);
            for (i = 0; i < g.n; i++) {
                result r;
                if (expected) {
                    expected_of(&g.v[i], &r);
                    dump_line(stdout, &g.v[i], &r);
                } else {
                    run_vec(&g.v[i], &r);
                    dump_line(stdout, &g.v[i], &r);
                    free_result(&r);
                }
            }
            free_golden(&g);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "fc_golden: write error\n");
            return 2;
        }
        return 0;
    }
    return usage();
}
