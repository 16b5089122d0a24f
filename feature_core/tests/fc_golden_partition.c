/*
 * fc_golden_partition — checks golden/partition_v1.txt against this build of the core.
 *
 *   fc_golden_partition check FILE
 *
 * Re-runs every vector through fc_partition_chunks and requires the same status, the same
 * fc_error position, and for FC_OK the same chunks, usable marks and expected-time bits
 * (format: docs/golden-format.md, "Partition vectors"). Prints "<n> partition vectors match"
 * or the first difference and exits 1. A malformed file is a failure, never a skip.
 */
#include "feature_core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE (1 << 20)
#define MAX_N FC_PARTITION_MAX_STREAMS

static const char *g_path = "";
static long g_line = 0;

static void die(const char *msg, const char *detail)
{
    fprintf(stderr, "%s:%ld: %s%s%s\n", g_path, g_line, msg, detail ? ": " : "",
            detail ? detail : "");
    exit(1);
}

static uint64_t parse_u64(const char *tok, const char *what)
{
    char *end;
    unsigned long long v;
    errno = 0;
    if (tok == NULL || *tok == '-') die("bad unsigned number", what);
    v = strtoull(tok, &end, 10);
    if (errno != 0 || *end != '\0' || end == tok) die("bad unsigned number", what);
    return (uint64_t)v;
}

static int64_t parse_i64(const char *tok, const char *what)
{
    char *end;
    long long v;
    errno = 0;
    if (tok == NULL) die("missing number", what);
    v = strtoll(tok, &end, 10);
    if (errno != 0 || *end != '\0' || end == tok) die("bad number", what);
    return (int64_t)v;
}

static double parse_hex_double(const char *tok, const char *what)
{
    uint64_t b = 0;
    double d;
    size_t i;
    if (tok == NULL || strlen(tok) != 16) die("expected 16 hex digits", what);
    for (i = 0; i < 16; i++) {
        char c = tok[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else die("bad hex digit", what);
        b = (b << 4) | (uint64_t)v;
    }
    memcpy(&d, &b, sizeof d);
    return d;
}

/* Next space-separated token of *p (NULL at the end); strtok_r is not ISO C11. */
static char *next_tok(char **p)
{
    char *s = *p, *start;
    while (*s == ' ') s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    start = s;
    while (*s != ' ' && *s != '\0') s++;
    if (*s == ' ') *s++ = '\0';
    *p = s;
    return start;
}

static uint64_t bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

typedef struct vec {
    char name[256];
    double forecast[MAX_N];
    size_t n;
    double min_bw, fec;
    uint64_t size, max_streams;
    int32_t requires_fec;
    char status[64];
    int64_t e_index, e_channel, e_feature;
    uint64_t chunks[MAX_N];
    size_t n_chunks;
    uint8_t used[MAX_N];
    size_t n_used;
    double expected;
    int seen; /* bit mask of the keys read */
} vec;

enum { K_FORECAST = 1, K_MIN = 2, K_SIZE = 4, K_FEC_REQ = 8, K_FEC = 16, K_MAX = 32,
       K_STATUS = 64, K_ERROR = 128, K_CHUNKS = 256, K_USED = 512, K_EXPECTED = 1024 };

static void check_vec(const vec *v)
{
    fc_partition_params p;
    fc_error err = {FC_OK, -1, -1, -1};
    static uint64_t chunks[MAX_N];
    static uint8_t used[MAX_N];
    double secs = 0.0;
    fc_status st;
    size_t i;
    const int inputs = K_FORECAST | K_MIN | K_SIZE | K_FEC_REQ | K_FEC | K_MAX | K_STATUS;
    if ((v->seen & inputs) != inputs) die("vector lacks an input or its status", v->name);
    fc_partition_params_init(&p);
    p.fec_overhead = v->fec;
    p.max_streams = (uint32_t)v->max_streams;
    st = fc_partition_chunks(&p, v->n ? v->forecast : NULL, v->n, v->min_bw, v->size,
                             v->requires_fec, v->n ? chunks : NULL, v->n, v->n ? used : NULL,
                             v->n, &secs, &err);
    if (strcmp(fc_status_name(st), v->status) != 0) {
        fprintf(stderr, "%s: vector %s: status %s, golden %s\n", g_path, v->name,
                fc_status_name(st), v->status);
        exit(1);
    }
    if (st != FC_OK) {
        if (!(v->seen & K_ERROR)) die("error vector without an error line", v->name);
        if (err.index != v->e_index || err.channel != v->e_channel || err.feature != v->e_feature) {
            fprintf(stderr, "%s: vector %s: error at %" PRId64 " %d %d, golden %" PRId64
                    " %" PRId64 " %" PRId64 "\n", g_path, v->name, err.index, (int)err.channel,
                    (int)err.feature, v->e_index, v->e_channel, v->e_feature);
            exit(1);
        }
        return;
    }
    if ((v->seen & (K_CHUNKS | K_USED | K_EXPECTED)) != (K_CHUNKS | K_USED | K_EXPECTED))
        die("FC_OK vector without chunks, used and expected", v->name);
    if (v->n_chunks != v->n || v->n_used != v->n) die("chunks / used length differs", v->name);
    for (i = 0; i < v->n; i++) {
        if (chunks[i] != v->chunks[i] || used[i] != v->used[i]) {
            fprintf(stderr, "%s: vector %s: stream %zu: chunk %" PRIu64 " used %u, golden %"
                    PRIu64 " %u\n", g_path, v->name, i, chunks[i], (unsigned)used[i],
                    v->chunks[i], (unsigned)v->used[i]);
            exit(1);
        }
    }
    if (bits(secs) != bits(v->expected)) {
        fprintf(stderr, "%s: vector %s: expected seconds %016" PRIx64 ", golden %016" PRIx64 "\n",
                g_path, v->name, bits(secs), bits(v->expected));
        exit(1);
    }
}

static int check_file(const char *path)
{
    static char line[MAX_LINE];
    static vec v;
    FILE *f = fopen(path, "r");
    int in_vec = 0, header = 0;
    long n_vec = 0;
    g_path = path;
    if (f == NULL) die("cannot open", strerror(errno));
    while (fgets(line, sizeof line, f) != NULL) {
        char *key, *tok, *save = NULL;
        size_t len = strlen(line);
        g_line++;
        if (len == sizeof line - 1 && line[len - 1] != '\n') die("line too long", NULL);
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        save = line;
        key = next_tok(&save);
        if (header == 0) {
            tok = next_tok(&save);
            if (strcmp(key, "dwcp-fc-golden") != 0 || tok == NULL || strcmp(tok, "1") != 0)
                die("not a dwcp-fc-golden 1 file", NULL);
            header = 1;
            continue;
        }
        if (!in_vec) {
            tok = next_tok(&save);
            if (strcmp(key, "fc_version") == 0) {
                if (tok == NULL || strcmp(tok, fc_version_string()) != 0)
                    die("fc_version differs from the linked core", tok);
            } else if (strcmp(key, "partition_version") == 0) {
                if ((long)parse_i64(tok, "partition_version") != FC_PARTITION_VERSION)
                    die("partition_version differs from FC_PARTITION_VERSION", tok);
                header = 2;
            } else if (strcmp(key, "vector") == 0) {
                if (header != 2) die("vector before partition_version", NULL);
                if (tok == NULL || strlen(tok) >= sizeof v.name) die("bad vector name", tok);
                memset(&v, 0, sizeof v);
                strcpy(v.name, tok);
                in_vec = 1;
            } else {
                die("unknown header line", key);
            }
            continue;
        }
        if (strcmp(key, "end") == 0) {
            check_vec(&v);
            n_vec++;
            in_vec = 0;
        } else if (strcmp(key, "forecast") == 0) {
            while ((tok = next_tok(&save)) != NULL) {
                if (v.n == MAX_N) die("too many forecasts", v.name);
                v.forecast[v.n++] = parse_hex_double(tok, "forecast");
            }
            v.seen |= K_FORECAST;
        } else if (strcmp(key, "min_bandwidth") == 0) {
            v.min_bw = parse_hex_double(next_tok(&save), "min_bandwidth");
            v.seen |= K_MIN;
        } else if (strcmp(key, "size") == 0) {
            v.size = parse_u64(next_tok(&save), "size");
            v.seen |= K_SIZE;
        } else if (strcmp(key, "requires_fec") == 0) {
            v.requires_fec = (int32_t)parse_i64(next_tok(&save), "requires_fec");
            v.seen |= K_FEC_REQ;
        } else if (strcmp(key, "fec_overhead") == 0) {
            v.fec = parse_hex_double(next_tok(&save), "fec_overhead");
            v.seen |= K_FEC;
        } else if (strcmp(key, "max_streams") == 0) {
            v.max_streams = parse_u64(next_tok(&save), "max_streams");
            if (v.max_streams > 0xFFFFFFFFULL) die("max_streams beyond uint32", v.name);
            v.seen |= K_MAX;
        } else if (strcmp(key, "status") == 0) {
            tok = next_tok(&save);
            if (tok == NULL || strlen(tok) >= sizeof v.status) die("bad status", v.name);
            strcpy(v.status, tok);
            v.seen |= K_STATUS;
        } else if (strcmp(key, "error") == 0) {
            v.e_index = parse_i64(next_tok(&save), "error index");
            v.e_channel = parse_i64(next_tok(&save), "error channel");
            v.e_feature = parse_i64(next_tok(&save), "error feature");
            v.seen |= K_ERROR;
        } else if (strcmp(key, "chunks") == 0) {
            while ((tok = next_tok(&save)) != NULL) {
                if (v.n_chunks == MAX_N) die("too many chunks", v.name);
                v.chunks[v.n_chunks++] = parse_u64(tok, "chunk");
            }
            v.seen |= K_CHUNKS;
        } else if (strcmp(key, "used") == 0) {
            while ((tok = next_tok(&save)) != NULL) {
                uint64_t u = parse_u64(tok, "used");
                if (v.n_used == MAX_N || u > 1) die("bad used mark", v.name);
                v.used[v.n_used++] = (uint8_t)u;
            }
            v.seen |= K_USED;
        } else if (strcmp(key, "expected") == 0) {
            v.expected = parse_hex_double(next_tok(&save), "expected");
            v.seen |= K_EXPECTED;
        } else {
            die("unknown key", key);
        }
    }
    fclose(f);
    if (in_vec) die("file ends inside a vector", v.name);
    if (n_vec == 0) die("no vectors", NULL);
    printf("%ld partition vectors match\n", n_vec);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "usage: fc_golden_partition check FILE\n");
        return 2;
    }
    return check_file(argv[2]);
}
