/* float_repr_check.c — standalone harness for fwc_float_repr (src/json/float_repr.c).
 *
 * Build:  gcc -O2 -D_GNU_SOURCE=1 -I src src/json/float_repr.c tests/c/float_repr_check.c
 * (no Python: the json layer does not include Python.h)
 *
 *   ./a.out            reads one double per line as 16 hex digits of its bit pattern
 *                      from stdin and prints fwc_float_repr of it, one per line;
 *                      tests/test_float_repr_c.py compares that with Python's repr.
 *   ./a.out --int-selftest
 *                      checks every integer below 10^8 against a plain digit loop.
 *   ./a.out --bench N  times N calls over random doubles (bit patterns, "decimal-
 *                      looking" values, integers) against snprintf("%.17g"): best of
 *                      7 rounds, in ns per call. */
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Reads all of stdin into a NUL-terminated malloc'd buffer. */
static char *read_all(FILE *f, size_t *len_out)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        if (got == 0) break;
        len += got;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

static int run_check(void)
{
    size_t len;
    char *in = read_all(stdin, &len);
    if (!in) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    /* Each output line is at most 31 + 1 bytes; flush in big blocks. */
    size_t out_cap = 1 << 16, out_len = 0;
    char *out = malloc(out_cap);
    if (!out) return 2;

    const char *p = in, *end = in + len;
    long line = 0;
    while (p < end) {
        line++;
        uint64_t bits = 0;
        int ndig = 0, h;
        while (p < end && (h = hex_value((unsigned char)*p)) >= 0) {
            bits = bits << 4 | (uint64_t)h;
            ndig++;
            p++;
        }
        if (ndig != 16 || (p < end && *p != '\n')) {
            fprintf(stderr, "line %ld: expected 16 hex digits\n", line);
            return 2;
        }
        p++; /* '\n' */

        double v;
        memcpy(&v, &bits, sizeof v);
        /* Poison the buffer so a length that is too long shows up as garbage. */
        char repr[32];
        memset(repr, '#', sizeof repr);
        int n = fwc_float_repr(v, repr);
        if (n <= 0 || n >= 32) {
            fprintf(stderr, "line %ld: bad length %d\n", line, n);
            return 2;
        }
        if (out_cap - out_len < 33) {
            fwrite(out, 1, out_len, stdout);
            out_len = 0;
        }
        memcpy(out + out_len, repr, (size_t)n);
        out_len += (size_t)n;
        out[out_len++] = '\n';
    }
    fwrite(out, 1, out_len, stdout);
    free(out);
    free(in);
    return fflush(stdout) == 0 ? 0 : 2;
}

/* ---------- --int-selftest ---------- */

/* Every integer below 10^8 (each 8-digit block the digit writer can meet), checked
 * against a plain digit loop: the fixed-point digit extraction is exact only by
 * analysis, so test it exhaustively. */
static int run_int_selftest(void)
{
    /* want holds v's digits right-aligned in want[1..9) and is counted up like an
     * odometer, which is far cheaper than the function under test. */
    char want[12] = "000000000.0";
    int first = 8; /* index of v's leading digit */
    for (uint32_t v = 0; v < 100000000; v++) {
        char got[32];
        const int n = 11 - first;
        const int len = fwc_float_repr((double)v, got);
        if (len != n || memcmp(got, want + first, (size_t)n) != 0) {
            fprintf(stderr, "%u: got %.*s, want %.*s\n", v, len > 0 && len < 32 ? len : 0, got, n,
                    want + first);
            return 1;
        }
        int i = 8;
        while (want[i] == '9') want[i--] = '0';
        want[i]++;
        if (i < first) first = i;
    }
    puts("ok");
    return 0;
}

/* ---------- --bench ---------- */

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best of several interleaved rounds: the machine may be shared, minima are stable. */
static void bench_one(const char *label, const double *vals, size_t n)
{
    char buf[32];
    volatile size_t sink = 0;
    double best_fwc = 1e300, best_snp = 1e300;
    for (int round = 0; round < 7; round++) {
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++)
            sink += (size_t)fwc_float_repr(vals[i], buf) + (unsigned char)buf[0];
        double t1 = now_ns();
        for (size_t i = 0; i < n; i++) sink += (size_t)snprintf(buf, sizeof buf, "%.17g", vals[i]);
        double t2 = now_ns();
        if (t1 - t0 < best_fwc) best_fwc = t1 - t0;
        if (t2 - t1 < best_snp) best_snp = t2 - t1;
    }
    printf("%-30s fwc_float_repr %6.1f ns/call   snprintf(%%.17g) %6.1f ns/call   (x%.1f)\n", label,
           best_fwc / (double)n, best_snp / (double)n, best_snp / best_fwc);
    (void)sink;
}

static int run_bench(size_t n)
{
    double *vals = malloc(n * sizeof *vals);
    if (!vals) return 2;
    uint64_t seed = 0x9e3779b97f4a7c15u;

    for (size_t i = 0; i < n; i++) { /* random finite bit patterns */
        uint64_t b;
        do b = xorshift64(&seed);
        while (((b >> 52) & 0x7ff) == 0x7ff);
        memcpy(&vals[i], &b, sizeof b);
    }
    bench_one("random bit patterns", vals, n);

    for (size_t i = 0; i < n; i++) { /* like round(uniform(-1e6, 1e6), k), k in 0..6 */
        static const double scale[7] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
        uint64_t r = xorshift64(&seed);
        int k = (int)(r % 7);
        double u = ((double)(r >> 11) / 9007199254740992.0) * 2e6 - 1e6;
        double m = (double)(long long)(u * scale[k]);
        vals[i] = m / scale[k];
    }
    bench_one("decimal-looking (2-6 places)", vals, n);

    for (size_t i = 0; i < n; i++) /* small integers, e.g. quantities */
        vals[i] = (double)(xorshift64(&seed) % 100000);
    bench_one("integers < 1e5", vals, n);

    free(vals);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--bench") == 0)
        return run_bench((size_t)strtoull(argv[2], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "--int-selftest") == 0) return run_int_selftest();
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--bench N | --int-selftest] < hex-bit-patterns\n", argv[0]);
        return 2;
    }
    return run_check();
}
