/* json_parse.c — JSON text -> value tree, with the semantics of Python's json.loads
 * (CPython 3.11: Lib/json/decoder.py driving the Modules/_json.c scanner).  No GIL.
 *
 * What matches json.loads exactly:
 *   - grammar, including NaN / Infinity / -Infinity and json's number quirks ("1." and
 *     "1e" stop before the '.' / 'e'), whitespace = ' \t\n\r' only, strict=True strings;
 *   - duplicate keys: the dict keeps the position of the first occurrence and the value
 *     of the last (what dict(pairs) gives);
 *   - integers of any size (INT when they fit int64, else BIGINT decimal text), including
 *     CPython's int_max_str_digits guard at its default of 4300 digits;
 *   - floats converted as float() does (correctly rounded; "1e400" -> inf);
 *   - \uXXXX escapes: surrogate pairs combined, lone surrogates kept (3-byte form);
 *   - every error message, with Python's position text counted in code points:
 *     "Expecting ',' delimiter: line 9 column 33 (char 268)".
 *
 * Deliberate differences:
 *   - nesting is bounded by FWC_MAX_DEPTH (200 levels, as for snapshots): deeper text fails
 *     with "JSON nests deeper than 200 levels: line L column C (char N)" where Python
 *     raises RecursionError somewhere near 1000 levels;
 *   - the input is bytes, not a str: it must be the UTF-8 our renderer produces (lone
 *     surrogates allowed in their 3-byte "surrogatepass" form).  Such input is already
 *     decoded text as far as json.loads is concerned.  A malformed UTF-8 sequence cannot
 *     come from a Python str; inside a string literal it is reported as
 *     "Invalid UTF-8 at: line L column C (char N)" (so the value tree only ever holds
 *     well-formed text); elsewhere any non-ASCII byte is an unexpected character anyway;
 *   - text longer than 4 GiB is refused (the value tree stores 32-bit lengths).
 *
 * Design: one pass, recursive descent bounded by FWC_MAX_DEPTH.  Items of open
 * containers wait on one growable temporary stack and are copied into the arena when
 * their container closes.  All string bytes (and BIGINT texts) go to one pool allocated
 * up front: a decoded string plus its NUL is never longer than its literal with quotes,
 * so len + 1 bytes hold every string of the document. */
#include "json/json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

/* CPython's sys.int_info.default_max_str_digits: int() of longer decimal text raises. */
#define PY_INT_MAX_STR_DIGITS 4300

_Static_assert(sizeof(FwcPair) == 2 * sizeof(FwcValue) &&
                   offsetof(FwcPair, value) == sizeof(FwcValue),
               "a dict's pairs are copied from key/value runs of the temporary stack");

typedef const unsigned char *Pos;

typedef struct {
    Pos text, end;
    FwcArena *arena;
    char *pool;    /* next free byte of the string pool */
    FwcValue *stk; /* temporary stack of items of open containers */
    size_t top, cap;
    uint32_t *slots; /* hash table scratch for duplicate keys */
    size_t nslots;
    FwcError *err;
    FwcStatus status;
    FwcValue small[128]; /* the stack's first cap */
} Parser;

/* ---------- errors ---------- */

/* Python's JSONDecodeError text: position in code points, line/column as json counts. */
static Pos fail(Parser *P, Pos at, const char *msg)
{
    size_t ch = 0, line = 1;
    long long last_nl = -1;
    for (Pos q = P->text; q < at; q++) {
        if ((*q & 0xC0) == 0x80) continue; /* continuation byte: same code point */
        if (*q == '\n') {
            line++;
            last_nl = (long long)ch;
        }
        ch++;
    }
    size_t col = (size_t)((long long)ch - last_nl);
    P->status = fwc_error_set(P->err, FWC_ETEMPLATE, "%s: line %zu column %zu (char %zu)", msg,
                              line, col, ch);
    if (P->err) {
        P->err->line = line > INT_MAX ? INT_MAX : (int)line;
        P->err->col = col > INT_MAX ? INT_MAX : (int)col;
    }
    return NULL;
}

static Pos oom(Parser *P)
{
    P->status = fwc_error_set(P->err, FWC_ENOMEM, "out of memory");
    return NULL;
}

/* ---------- character classes ---------- */

static inline int is_ws(unsigned c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static inline int is_digit(unsigned c) { return c - '0' < 10u; }

static inline Pos skip_ws(Pos p, Pos end)
{
    while (p < end && is_ws(*p)) {
        p++;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* indentation: a run of spaces in one step, eight bytes at a time */
        if (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            x ^= 0x2020202020202020ULL;
            p += x ? __builtin_ctzll(x) >> 3 : 8;
        }
#endif
    }
    return p;
}

/* 1 for bytes a string literal copies as they are: ASCII except '"', '\\' and controls. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0), 1,      1,      0,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      1, /* 0x20: '"' */
    R16(1), R16(1), 1,      1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      0,      1,      1,      1, /* 0x50: '\\' */
    R16(1), R16(1), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
#undef R16
};

/* First byte at or after p that is not plain (or end). */
static inline Pos skip_plain(Pos p, Pos end)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* 8 bytes at a time: flag '"', '\\', bytes < 0x20 and bytes >= 0x80.  The lowest
     * flagged byte is exact (the borrow tricks only err above a true hit). */
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t x, q, b;
        memcpy(&x, p, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        uint64_t m = (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x) & highs;
        if (m) return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && plain[*p]) p++;
    return p;
}

static const signed char hexval[256] = {
#define N16 -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
    N16, N16, N16, 0,  1,  2,  3,  4,  5,  6,  7,   8,   9,   -1,  -1,  -1,  -1,  -1,  -1,  -1, 10,
    11,  12,  13,  14, 15, -1, -1, -1, -1, -1, -1,  -1,  -1,  -1,  N16, -1,  10,  11,  12,  13, 14,
    15,  -1,  -1,  -1, -1, -1, -1, -1, -1, -1, N16, N16, N16, N16, N16, N16, N16, N16, N16,
#undef N16
};

/* Four hex digits at p, or -1. */
static inline int hex4(Pos p)
{
    int a = hexval[p[0]], b = hexval[p[1]], c = hexval[p[2]], d = hexval[p[3]];
    if ((a | b | c | d) < 0) return -1;
    return (a << 12) | (b << 8) | (c << 4) | d;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), surrogates
 * allowed; 0 when malformed or truncated. */
static inline int utf8_seq(Pos p, Pos end)
{
    unsigned c = p[0];
    ptrdiff_t avail = end - p;
    if (c >= 0xC2 && c <= 0xDF) return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        return c == 0xE0 && p[1] < 0xA0 ? 0 : 3; /* overlong */
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && p[1] > 0x8F) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/* ---------- the temporary stack ---------- */

static int stk_grow(Parser *P)
{
    size_t cap = P->cap * 2;
    FwcValue *s;
    if (P->stk == P->small) {
        s = malloc(cap * sizeof *s);
        if (s) memcpy(s, P->small, P->top * sizeof *s);
    } else {
        s = realloc(P->stk, cap * sizeof *s);
    }
    if (!s) return -1;
    P->stk = s;
    P->cap = cap;
    return 0;
}

/* The next free slot, or NULL on OOM.  Values are built in place on the stack: no copy
 * through a temporary (and no store-forwarding stall on the way). */
static inline FwcValue *next_slot(Parser *P)
{
    if (P->top == P->cap && stk_grow(P) < 0) return NULL;
    return &P->stk[P->top];
}

/* ---------- strings ---------- */

/* p: just after the opening quote.  Decodes into the pool; returns the position after
 * the closing quote.  Positions in errors follow _json.c's scanstring_unicode. */
static Pos parse_string(Parser *P, Pos p, FwcValue *out)
{
    Pos begin = p - 1, end = P->end;
    char *d0 = P->pool, *d = d0;
    int ascii = 1;
    for (;;) {
        Pos run = p;
        p = skip_plain(p, end);
        memcpy(d, run, (size_t)(p - run));
        d += p - run;
        if (p == end) return fail(P, begin, "Unterminated string starting at");
        unsigned c = *p;
        if (c == '"') break;
        if (c == '\\') {
            if (end - p < 2) return fail(P, begin, "Unterminated string starting at");
            switch (p[1]) {
            case '"': *d++ = '"'; break;
            case '\\': *d++ = '\\'; break;
            case '/': *d++ = '/'; break;
            case 'b': *d++ = '\b'; break;
            case 'f': *d++ = '\f'; break;
            case 'n': *d++ = '\n'; break;
            case 'r': *d++ = '\r'; break;
            case 't': *d++ = '\t'; break;
            case 'u': {
                /* _json.c wants a character after the four digits (end >= len fails) */
                int cp = end - p > 6 ? hex4(p + 2) : -1;
                if (cp < 0) return fail(P, p + 1, "Invalid \\uXXXX escape");
                p += 6;
                /* a high surrogate joins a following \uDC00-\uDFFF, if a character
                 * follows that escape too; anything else is left for the next round */
                if (cp >= 0xD800 && cp <= 0xDBFF && end - p > 6 && p[0] == '\\' && p[1] == 'u') {
                    int c2 = hex4(p + 2);
                    if (c2 < 0) return fail(P, p + 1, "Invalid \\uXXXX escape");
                    if (c2 >= 0xDC00 && c2 <= 0xDFFF) {
                        cp = 0x10000 + (((cp - 0xD800) << 10) | (c2 - 0xDC00));
                        p += 6;
                    }
                }
                if (cp >= 0x80) ascii = 0;
                d = fwc_utf8_put(d, (uint32_t)cp);
                continue;
            }
            default: return fail(P, p, "Invalid \\escape");
            }
            p += 2;
            continue;
        }
        if (c < 0x20) return fail(P, p, "Invalid control character at");
        int n = utf8_seq(p, end);
        if (!n) return fail(P, p, "Invalid UTF-8 at");
        memcpy(d, p, (size_t)n);
        d += n;
        p += n;
        ascii = 0;
    }
    *d = '\0';
    out->type = FWC_T_STR;
    out->ascii = (uint8_t)ascii;
    out->len = (uint32_t)(d - d0);
    out->u.s = d0;
    P->pool = d + 1;
    return p + 1;
}

/* ---------- numbers ---------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* float(text) for JSON number text: correctly rounded, independent of the locale. */
static int slow_strtod(const char *s, size_t n, double *out)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (!c_locale) return -1;
    char small[128], *b = n < sizeof small ? small : malloc(n + 1);
    if (!b) return -1;
    memcpy(b, s, n);
    b[n] = '\0';
    *out = strtod_l(b, NULL, c_locale);
    if (b != small) free(b);
    return 0;
}

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* p at '-' or a digit (or anything else: then "Expecting value").  Follows
 * _match_number_unicode: a '.' needs a digit after it and an exponent needs a digit,
 * otherwise the number ends before them. */
static Pos parse_number(Parser *P, Pos p, FwcValue *out)
{
    Pos start = p, end = P->end;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        if (++p == end) return fail(P, start, "Expecting value");
    }
    Pos istart = p;
    if (*p >= '1' && *p <= '9') {
        p++;
        while (p < end && is_digit(*p)) p++;
    } else if (*p == '0') {
        p++;
    } else {
        return fail(P, start, "Expecting value");
    }
    Pos iend = p, fstart = p, fend = p;
    int is_float = 0;
    if (end - p > 1 && *p == '.' && is_digit(p[1])) {
        is_float = 1;
        fstart = p + 1;
        p += 2;
        while (p < end && is_digit(*p)) p++;
        fend = p;
    }
    long exp10 = 0;
    if (end - p > 1 && (*p | 0x20) == 'e') {
        Pos q = p + 1;
        int eneg = 0;
        if (end - q > 1 && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        Pos ed = q;
        while (q < end && is_digit(*q)) q++;
        if (q > ed) {
            is_float = 1;
            for (Pos e = ed; e < q; e++)
                if (exp10 < 100000) exp10 = exp10 * 10 + (*e - '0'); /* clamped: hints only */
            if (eneg) exp10 = -exp10;
            p = q;
        }
    }

    if (!is_float) {
        size_t nd = (size_t)(iend - istart);
        if (nd <= 19) {
            uint64_t u = 0;
            for (Pos q = istart; q < iend; q++) u = u * 10 + (uint64_t)(*q - '0');
            if (u <= (uint64_t)INT64_MAX + (uint64_t)neg) {
                out->type = FWC_T_INT;
                out->ascii = 1;
                out->len = 0;
                out->u.i = neg ? (int64_t)(0 - u) : (int64_t)u;
                return p;
            }
        }
        if (nd > PY_INT_MAX_STR_DIGITS) {
            P->status =
                fwc_error_set(P->err, FWC_ETEMPLATE,
                              "Exceeds the limit (%d digits) for integer string conversion: "
                              "value has %zu digits; use sys.set_int_max_str_digits() "
                              "to increase the limit",
                              PY_INT_MAX_STR_DIGITS, nd);
            return NULL;
        }
        /* JSON integers have no leading zeros and "-0" fits int64: the text is already
         * what str(int(text)) prints. */
        size_t n = (size_t)(p - start);
        memcpy(P->pool, start, n);
        P->pool[n] = '\0';
        out->type = FWC_T_BIGINT;
        out->ascii = 1;
        out->len = (uint32_t)n;
        out->u.s = P->pool;
        P->pool += n + 1;
        return p;
    }

    double f;
    int done = 0;
#if FLT_EVAL_METHOD == 0
    /* Exact fast path: at most 19 significant digits forming w <= 2^53, scaled once by
     * an exactly representable power of ten: a single correctly rounded operation. */
    uint64_t w = 0;
    int sig = 0, ok = 1;
    for (Pos q = istart; q < fend && ok; q++) {
        if (q == iend) {
            q = fstart;
            if (q == fend) break;
        }
        unsigned dgt = *q - '0';
        if (w == 0 && dgt == 0) continue;
        if (++sig > 19) ok = 0;
        else w = w * 10 + dgt;
    }
    if (ok) {
        long e = exp10 - (long)(fend - fstart);
        if (w == 0) {
            f = 0.0;
            done = 1;
        } else if (w <= (UINT64_C(1) << 53) && e >= -22 && e <= 22) {
            f = (double)w;
            f = e < 0 ? f / pow10_exact[-e] : f * pow10_exact[e];
            done = 1;
        }
        if (done && neg) f = -f;
    }
#endif
    if (!done && slow_strtod((const char *)start, (size_t)(p - start), &f) < 0) return oom(P);
    out->type = FWC_T_FLOAT;
    out->ascii = 1;
    out->len = 0;
    out->u.f = f;
    return p;
}

/* ---------- containers ---------- */

/* Each parse_* below appends exactly one value to the temporary stack on success. */
static Pos parse_value(Parser *P, Pos p, int depth);

static Pos too_deep(Parser *P, Pos at)
{
    char msg[64];
    snprintf(msg, sizeof msg, "JSON nests deeper than %d levels", FWC_MAX_DEPTH);
    return fail(P, at, msg);
}

static Pos parse_array(Parser *P, Pos p, int depth)
{
    Pos end = P->end;
    if (depth >= FWC_MAX_DEPTH) return too_deep(P, p);
    size_t slot = P->top++, base = P->top; /* parse_value made room for the slot */
    p = skip_ws(p + 1, end);
    if (!(p < end && *p == ']')) {
        for (;;) {
            p = parse_value(P, p, depth + 1);
            if (!p) return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ']') break;
            if (p == end || *p != ',') return fail(P, p, "Expecting ',' delimiter");
            p = skip_ws(p + 1, end);
        }
    }
    size_t n = P->top - base;
    FwcValue *items = NULL;
    if (n) {
        items = fwc_arena_alloc(P->arena, n * sizeof *items);
        if (!items) return oom(P);
        memcpy(items, P->stk + base, n * sizeof *items);
    }
    P->top = base;
    FwcValue *out = &P->stk[slot];
    out->type = FWC_T_LIST;
    out->ascii = 1;
    out->len = (uint32_t)n;
    out->u.items = items;
    return p + 1;
}

static inline int same_key(const FwcValue *a, const FwcValue *b)
{
    /* first and middle bytes first (each string has its NUL, so len 0 is fine) */
    return a->len == b->len && a->u.s[0] == b->u.s[0] && a->u.s[a->len / 2] == b->u.s[b->len / 2] &&
           memcmp(a->u.s, b->u.s, a->len) == 0;
}

static uint64_t hash_key(const FwcValue *k)
{
    const unsigned char *s = (const unsigned char *)k->u.s;
    size_t n = k->len;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

/* Collapses repeated keys of the n key/value runs at kv as dict(pairs) does: the first
 * position, the last value.  Returns the new count, or -1 on OOM. */
static long dedupe(Parser *P, FwcValue *kv, size_t n)
{
    size_t k = 1;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            size_t j = 0;
            while (j < k && !same_key(&kv[2 * j], &kv[2 * i])) j++;
            if (j < k) {
                kv[2 * j + 1] = kv[2 * i + 1];
            } else {
                if (k != i) memcpy(&kv[2 * k], &kv[2 * i], 2 * sizeof *kv);
                k++;
            }
        }
        return (long)k;
    }
    size_t size = 64;
    while (size < 2 * n) size *= 2;
    if (P->nslots < size) {
        uint32_t *s = realloc(P->slots, size * sizeof *s);
        if (!s) return -1;
        P->slots = s;
        P->nslots = size;
    }
    uint32_t *slots = P->slots; /* kept index + 1; 0 = empty */
    memset(slots, 0, size * sizeof *slots);
    size_t mask = size - 1;
    k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)hash_key(&kv[2 * i]) & mask;
        for (;;) {
            uint32_t s = slots[h];
            if (!s) {
                slots[h] = (uint32_t)(k + 1);
                if (k != i) memcpy(&kv[2 * k], &kv[2 * i], 2 * sizeof *kv);
                k++;
                break;
            }
            if (same_key(&kv[2 * (s - 1)], &kv[2 * i])) {
                kv[2 * (s - 1) + 1] = kv[2 * i + 1];
                break;
            }
            h = (h + 1) & mask;
        }
    }
    return (long)k;
}

static Pos parse_object(Parser *P, Pos p, int depth)
{
    Pos end = P->end;
    if (depth >= FWC_MAX_DEPTH) return too_deep(P, p);
    size_t slot = P->top++, base = P->top; /* parse_value made room for the slot */
    p = skip_ws(p + 1, end);
    if (!(p < end && *p == '}')) {
        for (;;) {
            if (p == end || *p != '"')
                return fail(P, p, "Expecting property name enclosed in double quotes");
            FwcValue *key = next_slot(P);
            if (!key) return oom(P);
            p = parse_string(P, p + 1, key);
            if (!p) return NULL;
            P->top++;
            p = skip_ws(p, end);
            if (p == end || *p != ':') return fail(P, p, "Expecting ':' delimiter");
            p = skip_ws(p + 1, end);
            p = parse_value(P, p, depth + 1);
            if (!p) return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == '}') break;
            if (p == end || *p != ',') return fail(P, p, "Expecting ',' delimiter");
            p = skip_ws(p + 1, end);
        }
    }
    size_t n = (P->top - base) / 2;
    FwcPair *pairs = NULL;
    if (n) {
        long k = dedupe(P, P->stk + base, n);
        if (k < 0) return oom(P);
        n = (size_t)k;
        pairs = fwc_arena_alloc(P->arena, n * sizeof *pairs);
        if (!pairs) return oom(P);
        memcpy(pairs, P->stk + base, n * sizeof *pairs);
    }
    P->top = base;
    FwcValue *out = &P->stk[slot];
    out->type = FWC_T_DICT;
    out->ascii = 1;
    out->len = (uint32_t)n;
    out->u.pairs = pairs;
    return p + 1;
}

/* scan_once: one value at p (no leading whitespace).  Whatever is not a string,
 * container or constant goes to the number scanner, which reports "Expecting value". */
static Pos parse_value(Parser *P, Pos p, int depth)
{
    Pos end = P->end;
    if (p == end) return fail(P, p, "Expecting value");
    FwcValue *out = next_slot(P);
    if (!out) return oom(P);
    ptrdiff_t avail = end - p;
    switch (*p) {
    case '"': p = parse_string(P, p + 1, out); goto done;
    case '{': return parse_object(P, p, depth);
    case '[': return parse_array(P, p, depth);
    case 'n':
        if (avail >= 4 && memcmp(p, "null", 4) == 0) {
            *out = fwc_null();
            p += 4;
            goto done;
        }
        break;
    case 't':
        if (avail >= 4 && memcmp(p, "true", 4) == 0) {
            out->type = FWC_T_BOOL;
            out->ascii = 1;
            out->len = 0;
            out->u.i = 1;
            p += 4;
            goto done;
        }
        break;
    case 'f':
        if (avail >= 5 && memcmp(p, "false", 5) == 0) {
            out->type = FWC_T_BOOL;
            out->ascii = 1;
            out->len = 0;
            out->u.i = 0;
            p += 5;
            goto done;
        }
        break;
    case 'N':
        if (avail >= 3 && memcmp(p, "NaN", 3) == 0) {
            out->type = FWC_T_FLOAT;
            out->ascii = 1;
            out->len = 0;
            out->u.f = NAN;
            p += 3;
            goto done;
        }
        break;
    case 'I':
        if (avail >= 8 && memcmp(p, "Infinity", 8) == 0) {
            out->type = FWC_T_FLOAT;
            out->ascii = 1;
            out->len = 0;
            out->u.f = HUGE_VAL;
            p += 8;
            goto done;
        }
        break;
    case '-':
        if (avail >= 9 && memcmp(p, "-Infinity", 9) == 0) {
            out->type = FWC_T_FLOAT;
            out->ascii = 1;
            out->len = 0;
            out->u.f = -HUGE_VAL;
            p += 9;
            goto done;
        }
        break;
    }
    p = parse_number(P, p, out);
done:
    if (p) P->top++;
    return p;
}

/* ---------- entry point ---------- */

FwcStatus fwc_json_parse(FwcArena *arena, const char *text, size_t len, FwcValue *out,
                         FwcError *err)
{
    *out = fwc_null();
    if (len > FWC_MAX_LEN) return fwc_error_set(err, FWC_ETEMPLATE, "JSON text longer than 4 GiB");
    Parser P;
    P.text = (Pos)(text ? text : "");
    P.end = P.text + len;
    P.arena = arena;
    P.stk = P.small;
    P.top = 0;
    P.cap = sizeof P.small / sizeof P.small[0];
    P.slots = NULL;
    P.nslots = 0;
    P.err = err;
    P.status = FWC_OK;

    Pos p = P.text;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        fail(&P, p, "Unexpected UTF-8 BOM (decode using utf-8-sig)");
        return P.status;
    }
    /* every string and BIGINT text, each with its NUL, fits in len + 1 bytes */
    P.pool = fwc_arena_alloc(arena, len + 1);
    if (!P.pool) return fwc_error_set(err, FWC_ENOMEM, "out of memory");

    p = parse_value(&P, skip_ws(p, P.end), 0);
    if (p) {
        p = skip_ws(p, P.end);
        if (p != P.end) fail(&P, p, "Extra data");
        else *out = P.stk[0];
    }
    if (P.stk != P.small) free(P.stk);
    free(P.slots);
    return P.status;
}
