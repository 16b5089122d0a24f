/*
 * fuzz_common.h — what the libFuzzer targets share: the invariant check and the reader
 * that turns the fuzzer's bytes into values (missing bytes read as 0, so every input is
 * valid). Include it from one target's .c file only.
 */
#ifndef FC_FUZZ_COMMON_H
#define FC_FUZZ_COMMON_H

#include "bits.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant failure prints what broke and aborts, so libFuzzer saves the input. */
static void fail(const char *what, const char *file, long line)
{
    fprintf(stderr, "invariant broken (%s:%ld): %s\n", file, line, what);
    abort();
}
#define REQUIRE(cond)                                                                      \
    do {                                                                                   \
        if (!(cond)) fail(#cond, __FILE__, __LINE__);                                      \
    } while (0)

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static inline uint8_t u8(rd *r)
{
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}

static inline uint32_t u32(rd *r)
{
    uint32_t x = 0;
    int i;
    for (i = 0; i < 4; i++) x = (x << 8) | u8(r);
    return x;
}

static inline uint64_t u64(rd *r)
{
    uint64_t hi = u32(r);
    return (hi << 32) | u32(r);
}

#endif
