/*
 * bits.h — the IEEE-754 bit patterns of floats and doubles, for the feature core's C tests
 * and fuzz harnesses (comparisons and generated inputs are bit for bit).
 */
#ifndef DWCP_FC_TEST_BITS_H
#define DWCP_FC_TEST_BITS_H

#include <stdint.h>
#include <string.h>

static inline uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double from_dbits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

#endif /* DWCP_FC_TEST_BITS_H */
