/* float_repr.c — repr(float), byte-identical to CPython, without the GIL.
 *
 * CPython's float_repr does two things, and so do we:
 *   1. find the shortest decimal digit string that reads back as the same double, and
 *      among those the one closest to the exact binary value (ties: even last digit) —
 *      what David Gay's dtoa() returns in mode 0;
 *   2. lay the digits out with the 'r' rules of PyOS_double_to_string: scientific
 *      notation when the decimal exponent is < -4 or >= 16, fixed notation (always
 *      with a '.' and at least one digit after it) otherwise.
 *
 * Step 1 uses Raffaello Giulietti's Schubfach algorithm ("The Schubfach way to render
 * doubles", 2020; the 64-bit layout follows Alexander Bolz's C++ port): one table
 * lookup of a 128-bit power of ten and three 64x128-bit multiplications, no bignums,
 * no loops over digits.  Exact integers below 2^53 — very common in documents — skip
 * it entirely.
 *
 * Everything here is pure C11 (+ unsigned __int128): no Python C-API, no globals that
 * are not const, safe to call from any thread. */
#include "json/json.h"

#include <stdint.h>
#include <string.h>

#include "json/float_repr_table.h"

__extension__ typedef unsigned __int128 u128; /* silences -Wpedantic */

#define FRAC_BITS  52
#define FRAC_MASK  ((UINT64_C(1) << FRAC_BITS) - 1)
#define HIDDEN_BIT (UINT64_C(1) << FRAC_BITS)
#define EXP_MASK   0x7ffu
#define EXP_BIAS   1075 /* 1023 + 52: value = significand * 2^(biased_exp - 1075) */

/* A finite, nonzero, positive value written as digits * 10^exp10. */
typedef struct {
    uint64_t digits;
    int exp10;
} Decimal;

static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t POW10_U64[20] = {
    UINT64_C(1),
    UINT64_C(10),
    UINT64_C(100),
    UINT64_C(1000),
    UINT64_C(10000),
    UINT64_C(100000),
    UINT64_C(1000000),
    UINT64_C(10000000),
    UINT64_C(100000000),
    UINT64_C(1000000000),
    UINT64_C(10000000000),
    UINT64_C(100000000000),
    UINT64_C(1000000000000),
    UINT64_C(10000000000000),
    UINT64_C(100000000000000),
    UINT64_C(1000000000000000),
    UINT64_C(10000000000000000),
    UINT64_C(100000000000000000),
    UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000),
};

/* ---------- small integer helpers ---------- */

/* floor(x / 2^s) for negative x too (>> on a negative int is implementation-defined). */
static inline int floor_shift(int32_t x, int s)
{
    return x >= 0 ? (int)(x >> s) : -(int)(((uint32_t)(-(x + 1))) >> s) - 1;
}

/* floor(log2(10^e)), exact over the table's range (gen_pow10_table.py checks it). */
static inline int floor_log2_pow10(int e) { return floor_shift(e * 1741647, 19); }

/* Number of decimal digits of m (m > 0). */
static inline int decimal_length(uint64_t m)
{
    /* bit length * log10(2) is the length or one less; one compare decides. */
    int bits = 64 - __builtin_clzll(m);
    int n = (bits * 1233) >> 12;
    return n + (m >= POW10_U64[n]);
}

/* ---------- step 1: Schubfach ---------- */

/* floor(cp * g / 2^128) with its lowest bit forced to 1 when the discarded part is not
 * zero ("round to odd"); g is the table's 10^k rounded up.  This keeps just enough
 * information for the exact comparisons below (Giulietti, section 9). */
static inline uint64_t round_to_odd(const uint64_t g[2], uint64_t cp)
{
    u128 lo = (u128)cp * g[1];
    u128 hi = (u128)cp * g[0] + (uint64_t)(lo >> 64);
    uint64_t hi1 = (uint64_t)(hi >> 64);
    uint64_t hi0 = (uint64_t)hi;
    return hi1 | (hi0 > 1);
}

/* Shortest (then closest, ties even) decimal of the finite positive double with
 * significand field `frac` and biased exponent `bexp`.  The digits may end in zeros. */
static Decimal shortest_decimal(uint64_t frac, unsigned bexp)
{
    uint64_t c;
    int q;
    if (bexp != 0) {
        c = frac | HIDDEN_BIT;
        q = (int)bexp - EXP_BIAS;
    } else { /* subnormal */
        c = frac;
        q = 1 - EXP_BIAS;
    }

    /* Round-half-even reading: the bounds of the rounding interval read back as v
     * exactly when c is even, so they are candidates then (as in Gay's mode 0). */
    const int even = (c & 1) == 0;
    /* At a power of two the gap to the next double below is half the gap above. */
    const int lower_closer = frac == 0 && bexp > 1;

    /* Work with 4*v so the interval bounds (v -/+ half a gap) are integers too. */
    const uint64_t cbl = 4 * c - 2 + (uint64_t)lower_closer;
    const uint64_t cb = 4 * c;
    const uint64_t cbr = 4 * c + 2;

    /* k = floor(log10(2^q)), or floor(log10(3/4 * 2^q)) for the asymmetric interval:
     * then at most one multiple of 10^(k+1) fits in the interval, and at least one
     * multiple of 10^k does. */
    const int k = floor_shift(q * 1262611 - (lower_closer ? 524031 : 0), 22);
    /* h in [1, 4]: aligns cb * 2^q * 10^-k with g's binary exponent. */
    const int h = q + floor_log2_pow10(-k) + 1;
    const uint64_t *g = fwc_pow10_g[-k - FWC_POW10_MIN];

    const uint64_t vbl = round_to_odd(g, cbl << h);
    const uint64_t vb = round_to_odd(g, cb << h);
    const uint64_t vbr = round_to_odd(g, cbr << h);
    const uint64_t lower = vbl + !even;
    const uint64_t upper = vbr - !even;

    /* vb ~ 4 * v * 10^-k; s = the integer part of v * 10^-k. */
    const uint64_t s = vb / 4;

    /* One digit shorter: u' = 10*floor(s/10) and w' = u' + 10 (in units of 10^k).  At
     * most one of them can lie in the interval; if one does, it is the answer. */
    if (s >= 10) {
        const uint64_t sp = s / 10;
        const int up_inside = lower <= 40 * sp;
        const int wp_inside = 40 * sp + 40 <= upper;
        if (up_inside != wp_inside) {
            Decimal d = { sp + (uint64_t)wp_inside, k + 1 };
            return d;
        }
    }

    /* Otherwise s or s + 1 (at least one is inside): the one inside, or if both are,
     * the closer one, and on a tie the even one. */
    const int u_inside = lower <= 4 * s;
    const int w_inside = 4 * s + 4 <= upper;
    if (u_inside != w_inside) {
        Decimal d = { s + (uint64_t)w_inside, k };
        return d;
    }
    const uint64_t mid = 4 * s + 2;
    const int round_up = vb > mid || (vb == mid && (s & 1) != 0);
    Decimal d = { s + (uint64_t)round_up, k };
    return d;
}

/* Drops the trailing zeros of d.digits (nonzero) into d.exp10. */
static inline void remove_trailing_zeros(Decimal *d)
{
    uint64_t m = d->digits;
    if (m % 10 != 0) return; /* the usual case for arbitrary doubles */
    /* Decimal-looking values (12.5, 0.1) come out of Schubfach as 16-17 digits with
     * many trailing zeros: strip them in big steps. */
    while (m % 100000000 == 0) {
        m /= 100000000;
        d->exp10 += 8;
    }
    if (m % 10000 == 0) {
        m /= 10000;
        d->exp10 += 4;
    }
    if (m % 100 == 0) {
        m /= 100;
        d->exp10 += 2;
    }
    if (m % 10 == 0) {
        m /= 10;
        d->exp10 += 1;
    }
    d->digits = m;
}

/* ---------- step 2: layout ---------- */

static inline void put_2_digits(char *p, unsigned v) { memcpy(p, DIGIT_PAIRS + 2 * v, 2); }

/* Writes v < 10^8 as exactly 8 digits, leading zeros kept.  Instead of a chain of
 * divisions: f = v / 10^6 as a 32.32 fixed-point number (rounded up, so never below
 * the true value), whose integer part is the first two digits; each multiplication of
 * the fraction by 100 brings up the next two.  The error stays below 10^-6 and is
 * harmless; the harness's --int-selftest checks every v < 10^8. */
static inline void put_8_digits(char *p, uint32_t v)
{
    uint64_t f =
        (((uint64_t)v * UINT64_C(281474977)) >> 16) + 1; /* 281474977 = ceil(2^48 / 10^6) */
    put_2_digits(p, (unsigned)(f >> 32));
    f = (uint64_t)(uint32_t)f * 100;
    put_2_digits(p + 2, (unsigned)(f >> 32));
    f = (uint64_t)(uint32_t)f * 100;
    put_2_digits(p + 4, (unsigned)(f >> 32));
    f = (uint64_t)(uint32_t)f * 100;
    put_2_digits(p + 6, (unsigned)(f >> 32));
}

/* Writes m (< 10^17) as exactly 17 digits, leading zeros included: a fixed amount of
 * work with no data-dependent branches, cheaper than a digit loop for the 15-17 digit
 * numbers that most doubles need. */
static inline void put_17_digits(char *p, uint64_t m)
{
    const uint32_t hi = (uint32_t)(m / 100000000); /* < 10^9 */
    const uint32_t lo = (uint32_t)(m % 100000000);
    p[0] = (char)('0' + hi / 100000000);
    put_8_digits(p + 1, hi % 100000000);
    put_8_digits(p + 9, lo);
}

/* Lays out d as repr does; returns the length written.  d.digits must not end in a
 * zero unless d is an integer below 10^16 given with exp10 == 0.
 * The digits are staged in a buffer where they are followed by zeros, so most moves
 * are fixed-size copies (cheap, branch-free) that may write past the final length
 * but never past p[22]; out[32] has room for that and the sign. */
static int format_decimal(char *p, Decimal d)
{
    char buf[17 + 16];
    put_17_digits(buf, d.digits);
    memcpy(buf + 17, "0000000000000000", 16);
    const int n = decimal_length(d.digits);
    const char *digits = buf + 17 - n; /* n digits, then at least 16 zeros */
    /* decpt: value = 0.DIGITS * 10^decpt (dtoa's convention); repr's exponent is decpt-1. */
    const int decpt = n + d.exp10;

    if (decpt < -3 || decpt > 16) { /* scientific: d[.ddd]e[+-]XX */
        p[0] = digits[0];
        p[1] = '.';
        memcpy(p + 2, digits + 1, 16);
        int len = n > 1 ? n + 1 : 1; /* a lone digit has no ".0" */
        /* Exponent with sign and 2 or 3 digits, without branches (its sign and size
         * are unpredictable for arbitrary data): "0dd" is written, then the two
         * low digits overwrite the '0' when there are only two. */
        const int x = decpt - 1;
        const unsigned ax = (unsigned)(x < 0 ? -x : x);
        const int three = ax >= 100;
        p[len] = 'e';
        p[len + 1] = x < 0 ? '-' : '+';
        p[len + 2] = (char)('0' + ax / 100);
        put_2_digits(p + len + 2 + three, ax % 100);
        return len + 4 + three;
    }
    if (decpt <= 0) { /* 0.000ddd: at most three zeros after the point */
        memcpy(p, "0.000", 5);
        memcpy(p + 2 - decpt, digits, 17);
        return 2 - decpt + n;
    }
    if (decpt < n) { /* ddd.ddd */
        memcpy(p, digits, 16);
        p[decpt] = '.';
        memcpy(p + decpt + 1, digits + decpt, (size_t)(n - decpt));
        return n + 1;
    }
    /* ddd000.0: the copy brings the zeros along (decpt <= 16) */
    memcpy(p, digits, 16);
    memcpy(p + decpt, ".0", 2);
    return decpt + 2;
}

int fwc_float_repr(double v, char out[32])
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    const uint64_t frac = bits & FRAC_MASK;
    const unsigned bexp = (unsigned)(bits >> FRAC_BITS) & EXP_MASK;
    char *p = out;

    if (bexp == EXP_MASK) { /* repr ignores a NaN's sign and payload */
        if (frac != 0) {
            memcpy(out, "nan", 3);
            return 3;
        }
        if (bits >> 63) {
            memcpy(out, "-inf", 4);
            return 4;
        }
        memcpy(out, "inf", 3);
        return 3;
    }
    if (bits >> 63) *p++ = '-';
    if ((bits << 1) == 0) {
        memcpy(p, "0.0", 3);
        return (int)(p - out) + 3;
    }

    /* Exact integers in [1, 2^53): their own digits are the shortest round-trip
     * representation (every other decimal with no more significant digits is farther
     * away than half the gap between neighbouring doubles, which is at most 1/2 here),
     * and they always print in fixed notation: no need for Schubfach. */
    if (bexp >= 1023 && bexp <= EXP_BIAS) {
        const int shift = EXP_BIAS - (int)bexp; /* 0..52 fraction bits */
        const uint64_t c = frac | HIDDEN_BIT;
        if ((c & ((UINT64_C(1) << shift) - 1)) == 0) {
            const uint64_t m = c >> shift;
            Decimal d = { m, 0 };
            return (int)(p - out) + format_decimal(p, d);
        }
    }

    /* Short decimals -- prices, quantities, rates: for the smallest k <= 4 at which the
     * integer m nearest to |v| * 10^k (m < 2^50) gives back |v| as the correctly rounded
     * quotient m / 10^k, "m * 10^-k" is repr's digit string.  It reads back as v (strtod
     * rounds correctly, as the division does); nothing shorter does (smaller k failed, and
     * no integer is that close to a non-integral double below 2^52); and nothing else of
     * its length does, since below 2^50 the doubles around v are closer than 10^-k / 4.
     * m ends in no zero (k - 1 would have worked), as format_decimal wants. */
    const double a = v < 0 ? -v : v;
    if (a < 1e11) {
        static const double P10[5] = { 1e0, 1e1, 1e2, 1e3, 1e4 };
        for (int k = 1; k <= 4; k++) {
            const double y = a * P10[k];
            if (y >= 1125899906842624.0) break; /* 2^50 */
            const double m = (double)(int64_t)(y + 0.5);
            if (m / P10[k] == a) {
                Decimal d = { (uint64_t)m, -k };
                return (int)(p - out) + format_decimal(p, d);
            }
        }
    }

    Decimal d = shortest_decimal(frac, bexp);
    remove_trailing_zeros(&d);
    return (int)(p - out) + format_decimal(p, d);
}
