/* expr_value.c — Python semantics of runtime values for the expression engine: type
 * names, truthiness, equality, ordering (numbers through core's fwc_num_compare),
 * hashing, str()/repr(), number parsing and rounding, UTF-8 helpers and Unicode case
 * mapping, and the step charge of the sandbox. */
#include "expr/expr.h"
#include <math.h>
#include <errno.h>
#include <strings.h>

/* ---------- errors and allocation ---------- */

int fwc_expr_fail(ExprCtx *ctx, const char *fmt, ...)
{
    if (ctx->err->code == FWC_OK) {
        va_list ap;
        va_start(ap, fmt);
        ctx->err->code = FWC_ECONDITION;
        vsnprintf(ctx->err->message, sizeof ctx->err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int fwc_expr_nomem(ExprCtx *ctx)
{
    if (ctx->err->code == FWC_OK) fwc_error_set(ctx->err, FWC_ENOMEM, "out of memory");
    return -1;
}

int fwc_expr_charge(ExprCtx *ctx, uint64_t work)
{
    ctx->steps += work / 32;
    if (ctx->steps > FWC_EXPR_MAX_STEPS)
        return fwc_expr_fail(ctx, "RuntimeError: evaluation exceeded its step limit (%d steps)",
                             FWC_EXPR_MAX_STEPS);
    return 0;
}

void *fwc_expr_alloc(ExprCtx *ctx, size_t n)
{
    if (n > FWC_EXPR_MAX_MEM || ctx->arena->total + n > FWC_EXPR_MAX_MEM) {
        fwc_expr_fail(ctx, "MemoryError: condition evaluation exceeded its memory limit (%u bytes)",
                      FWC_EXPR_MAX_MEM);
        return NULL;
    }
    void *p = fwc_arena_alloc(ctx->arena, n ? n : 1);
    if (!p) fwc_expr_nomem(ctx);
    return p;
}

int fwc_expr_new_str(ExprCtx *ctx, const char *s, size_t n, FwcValue *out)
{
    if (n > FWC_EXPR_MAX_STR)
        return fwc_expr_fail(ctx, "MemoryError: string result too long (limit %u bytes)",
                             FWC_EXPR_MAX_STR);
    char *p = fwc_expr_alloc(ctx, n + 1);
    if (!p) return -1;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    int ascii = 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) {
            ascii = 0;
            break;
        }
    out->type = FWC_T_STR;
    out->ascii = (uint8_t)ascii;
    out->len = (uint32_t)n;
    out->u.s = p;
    return 0;
}

int fwc_expr_truthy(const FwcValue *v)
{
    switch ((FwcType)v->type) {
    case FWC_T_NULL: return 0;
    case FWC_T_BOOL:
    case FWC_T_INT: return v->u.i != 0;
    case FWC_T_BIGINT: return 1;
    case FWC_T_FLOAT: return v->u.f != 0.0;
    default: return v->len != 0;
    }
}

/* ---------- UTF-8 ---------- */

size_t fwc_expr_utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* ---------- numbers ---------- */

static int is_num(const FwcValue *v)
{
    return v->type == FWC_T_BOOL || v->type == FWC_T_INT || v->type == FWC_T_FLOAT ||
           v->type == FWC_T_BIGINT;
}

static int set_contains(const FwcValue *s, const FwcValue *x)
{
    for (uint32_t i = 0; i < s->len; i++)
        if (fwc_expr_equal(&s->u.items[i], x)) return 1;
    return 0;
}

int fwc_expr_equal(const FwcValue *a, const FwcValue *b)
{
    if (is_num(a) && is_num(b)) return fwc_num_compare(a, b) == 0;
    if (a->type != b->type) return 0;
    switch ((FwcType)a->type) {
    case FWC_T_NULL: return 1;
    case FWC_T_STR:
        return a->len == b->len && (a->u.s == b->u.s || memcmp(a->u.s, b->u.s, a->len) == 0);
    case FWC_T_LIST:
    case FWC_T_TUPLE:
        if (a->len != b->len) return 0;
        for (uint32_t i = 0; i < a->len; i++)
            if (!fwc_expr_equal(&a->u.items[i], &b->u.items[i])) return 0;
        return 1;
    case FWC_T_RANGE:
        if (a->len != b->len) return 0;
        if (a->len == 0) return 1;
        if (a->u.range[0] != b->u.range[0]) return 0;
        return a->len == 1 || a->u.range[1] == b->u.range[1];
    case FWC_T_SET:
        if (a->len != b->len) return 0;
        for (uint32_t i = 0; i < a->len; i++)
            if (!set_contains(b, &a->u.items[i])) return 0;
        return 1;
    case FWC_T_DICT:
        if (a->len != b->len) return 0;
        for (uint32_t i = 0; i < a->len; i++) {
            const FwcPair *pa = &a->u.pairs[i];
            int found = 0;
            for (uint32_t j = b->len; j-- > 0;)
                if (fwc_expr_equal(&pa->key, &b->u.pairs[j].key)) {
                    if (!fwc_expr_equal(&pa->value, &b->u.pairs[j].value)) return 0;
                    found = 1;
                    break;
                }
            if (!found) return 0;
        }
        return 1;
    default: return 0;
    }
}

/* A hash consistent with fwc_expr_equal: equal values hash alike (1 == 1.0 == True, a
 * big int and the float it equals); sets and dicts (order-free equality) by length only.
 * For hashed dedup (unique, has_common) instead of comparing every pair. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* at: where the value lives; a NaN equals nothing, so it hashes by its address (all NaNs
 * in one bucket would make a dedup of many NaNs quadratic) */
static uint64_t hash_double(double f, const void *at)
{
    if (f != f) return mix64((uint64_t)(uintptr_t)at);
    if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 && f == trunc(f))
        return mix64((uint64_t)(int64_t)f);
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    return mix64(bits);
}

uint64_t fwc_expr_hash(const FwcValue *v)
{
    switch ((FwcType)v->type) {
    case FWC_T_NULL: return 0x4E6F6E65;
    case FWC_T_BOOL:
    case FWC_T_INT: return mix64((uint64_t)v->u.i);
    case FWC_T_FLOAT: return hash_double(v->u.f, v);
    case FWC_T_BIGINT:
        return hash_double(strtod(v->u.s, NULL), v); /* compared with floats that way */
    case FWC_T_STR: {
        uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a */
        for (uint32_t i = 0; i < v->len; i++) h = (h ^ (unsigned char)v->u.s[i]) * 0x100000001B3ull;
        return mix64(h);
    }
    case FWC_T_LIST:
    case FWC_T_TUPLE: {
        uint64_t h = 0x7475706C65ull + v->len;
        for (uint32_t i = 0; i < v->len; i++) h = mix64(h ^ fwc_expr_hash(&v->u.items[i]));
        return h;
    }
    case FWC_T_RANGE:
        return mix64((uint64_t)v->len ^ mix64(v->len ? (uint64_t)v->u.range[0] : 0) ^
                     (v->len > 1 ? mix64(~(uint64_t)v->u.range[1]) : 0));
    default: return mix64((uint64_t)v->type << 32 | v->len);
    }
}

/* float(text) as Python parses it: whitespace, sign, digits with single '_' between
 * digits, '.', exponent, inf/infinity/nan in any case.  0 ok, -1 invalid. */
int fwc_expr_parse_float_text(const char *s, size_t n, double *out)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
    while (n > i && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r'))) n--;
    if (i >= n) return -1;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        i++;
    }
    size_t rest = n - i;
    const char *r = s + i;
    if ((rest == 3 && strncasecmp(r, "inf", 3) == 0) ||
        (rest == 8 && strncasecmp(r, "infinity", 8) == 0)) {
        *out = neg ? -HUGE_VAL : HUGE_VAL;
        return 0;
    }
    if (rest == 3 && strncasecmp(r, "nan", 3) == 0) {
        *out = neg ? -NAN : NAN;
        return 0;
    }
    /* every character is checked (a NUL or junk after a long mantissa too) before strtod
     * reads the NUL-terminated copy, which has room for all of them */
    char small[512], *buf = rest + 2 <= sizeof small ? small : malloc(rest + 2);
    if (!buf) return -1;
    size_t bn = 0;
    int digits = 0, prev_digit = 0, seen_dot = 0, seen_e = 0, bad = 0;
    for (; i < n && !bad; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            digits++;
            prev_digit = 1;
        } else if (c == '_') {
            bad = !prev_digit || i + 1 >= n || !(s[i + 1] >= '0' && s[i + 1] <= '9');
            prev_digit = 0;
            continue;
        } else if (c == '.' && !seen_dot && !seen_e) {
            seen_dot = 1;
            prev_digit = 0;
        } else if ((c == 'e' || c == 'E') && !seen_e && digits) {
            seen_e = 1;
            prev_digit = 0;
            buf[bn++] = 'e';
            if (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-')) buf[bn++] = s[++i];
            bad = i + 1 >= n || !(s[i + 1] >= '0' && s[i + 1] <= '9');
            continue;
        } else {
            bad = 1;
            break;
        }
        buf[bn++] = c;
    }
    double v = 0;
    if (!bad && digits) {
        buf[bn] = '\0';
        v = strtod(buf, NULL);
    }
    if (buf != small) free(buf);
    if (bad || !digits) return -1;
    *out = neg ? -v : v;
    return 0;
}

/* int(text) base 10: whitespace, sign, digits with single '_' between digits.
 * 0 ok, -1 invalid, -2 out of int64 range. */
int fwc_expr_parse_int_text(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
    while (n > i && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r'))) n--;
    if (i >= n) return -1;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        i++;
    }
    if (i >= n) return -1;
    uint64_t v = 0;
    int overflow = 0, prev_digit = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            if (!prev_digit || i + 1 >= n || !(s[i + 1] >= '0' && s[i + 1] <= '9')) return -1;
            prev_digit = 0;
            continue;
        }
        if (c < '0' || c > '9') return -1;
        prev_digit = 1;
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10) overflow = 1;
        else v = v * 10 + d;
    }
    if (overflow || v > (uint64_t)INT64_MAX + (uint64_t)neg) return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int fwc_expr_to_float(ExprCtx *ctx, const FwcValue *v, double *out)
{
    switch ((FwcType)v->type) {
    case FWC_T_BOOL:
    case FWC_T_INT: *out = (double)v->u.i; return 0;
    case FWC_T_FLOAT: *out = v->u.f; return 0;
    case FWC_T_BIGINT:
        *out = strtod(v->u.s, NULL);
        if (isinf(*out))
            return fwc_expr_fail(ctx, "OverflowError: int too large to convert to float");
        return 0;
    case FWC_T_STR:
        if (fwc_expr_parse_float_text(v->u.s, v->len, out) == 0) return 0;
        {
            FwcBuf b = FWC_BUF_INIT;
            fwc_expr_repr_append(&b, v, 0);
            fwc_expr_fail(ctx, "ValueError: could not convert string to float: %.*s",
                          (int)(b.len > 200 ? 200 : b.len), b.data ? b.data : "");
            fwc_buf_free(&b);
            return -1;
        }
    default:
        return fwc_expr_fail(
            ctx, "TypeError: float() argument must be a string or a real number, not '%s'",
            fwc_value_type_name(v));
    }
}

/* round(x, ndigits) for a double, as CPython's double_round: the correctly rounded
 * decimal (half-even on the exact binary value), read back. */
double fwc_expr_round_float(double x, int64_t nd)
{
    if (!isfinite(x) || x == 0.0) return x;
    if (nd > 323) return x;
    if (nd >= 0 && fabs(x) >= 4503599627370496.0) return x; /* 2**52: already an integer */
    if (nd < -308) return 0.0 * x;
    if (nd >= 0 && nd <= 22) {
        /* Exactly, without printing: 10**nd is a double, and fma gives the error of
         * the product, so |x| * 10**nd = y + e exactly; the half-way test on y - floor(y)
         * is exact too, and e only decides a tie (|e| < half an ulp of y, while a
         * non-zero y - floor(y) - 0.5 is at least one ulp).  The result k / 10**nd is
         * correctly rounded, as reading the printed decimal back would be. */
        static const double pow10[23] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                          1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
        const double p = pow10[nd], ax = fabs(x), y = ax * p;
        if (y < 4503599627370496.0) {
            const double e = fma(ax, p, -y), f = floor(y), t = (y - f) - 0.5;
            const int up = t > 0 || (t == 0 && (e > 0 || (e == 0 && fmod(f, 2.0) != 0)));
            return copysign((up ? f + 1 : f) / p, x);
        }
    }
    char buf[512];
    if (nd >= 0) {
        snprintf(buf, sizeof buf, "%.*f", (int)nd, x);
        return strtod(buf, NULL);
    }
    /* negative ndigits: round to a multiple of 10**-nd, half-even on the exact value */
    int e10 = (int)floor(log10(fabs(x)));
    long sig = (long)e10 + nd + 1; /* significant digits kept */
    if (sig <= 0) {
        /* |x| < 10**-nd: compare with half of 10**-nd */
        if (sig < 0) return copysign(0.0, x);
        double unit = pow(10.0, (double)-nd);
        double half = unit / 2;
        if (fabs(x) > half) return copysign(unit, x);
        return copysign(0.0, x);
    }
    snprintf(buf, sizeof buf, "%.*e", (int)(sig - 1), x);
    return strtod(buf, NULL);
}

int fwc_expr_floor_to_int(ExprCtx *ctx, double x, int64_t *out, int ceil_)
{
    if (x != x) return fwc_expr_fail(ctx, "ValueError: cannot convert float NaN to integer");
    if (isinf(x))
        return fwc_expr_fail(ctx, "OverflowError: cannot convert float infinity to integer");
    double f = ceil_ ? ceil(x) : floor(x);
    if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
        return fwc_expr_fail(ctx, "OverflowError: integer result out of supported range");
    *out = (int64_t)f;
    return 0;
}

/* ---------- repr / str ---------- */

static int utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp)
{
    unsigned char c = s[*i];
    if (c < 0x80 || *i + 1 >= n) {
        *cp = c;
        (*i)++;
        return 0;
    }
    if (c < 0xE0) {
        *cp = ((c & 0x1Fu) << 6) | (s[*i + 1] & 0x3Fu);
        *i += 2;
    } else if (c < 0xF0 || *i + 4 > n) {
        *cp = ((c & 0x0Fu) << 12) | ((s[*i + 1] & 0x3Fu) << 6) |
              (*i + 2 < n ? (s[*i + 2] & 0x3Fu) : 0);
        *i += 3;
    } else {
        *cp = ((c & 0x07u) << 18) | ((s[*i + 1] & 0x3Fu) << 12) | ((s[*i + 2] & 0x3Fu) << 6) |
              (s[*i + 3] & 0x3Fu);
        *i += 4;
    }
    return 0;
}

/* str.isprintable for the common ranges (see the README: Unicode limits) */
static int cp_printable(uint32_t c)
{
    if (c < 0x20 || c == 0x7F) return 0;
    if (c < 0x7F) return 1;
    if (c <= 0xA0 || c == 0xAD) return 0;
    if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
        (c >= 0x205F && c <= 0x206F))
        return 0;
    if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return 0;
    if (c >= 0xD800 && c <= 0xDFFF) return 0;
    if (c >= 0xE000 && c <= 0xF8FF) return 0;
    if (c == 0xFFFE || c == 0xFFFF || c >= 0xF0000) return 0;
    if (c == 0x180E || c == 0x1680 || c == 0x61C) return 0;
    return 1;
}

static int repr_str(FwcBuf *b, const char *s, size_t n)
{
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (fwc_buf_putc(b, q) < 0) return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t c;
        utf8_next(u, n, &i, &c);
        char t[16];
        if (c == (uint32_t)q || c == '\\') {
            t[0] = '\\';
            t[1] = (char)c;
            if (fwc_buf_append(b, t, 2) < 0) return -1;
        } else if (c == '\n') {
            if (fwc_buf_append(b, "\\n", 2) < 0) return -1;
        } else if (c == '\r') {
            if (fwc_buf_append(b, "\\r", 2) < 0) return -1;
        } else if (c == '\t') {
            if (fwc_buf_append(b, "\\t", 2) < 0) return -1;
        } else if (cp_printable(c)) {
            if (fwc_buf_append(b, s + start, i - start) < 0) return -1;
        } else {
            int k = c < 0x100     ? snprintf(t, sizeof t, "\\x%02x", c)
                    : c < 0x10000 ? snprintf(t, sizeof t, "\\u%04x", c)
                                  : snprintf(t, sizeof t, "\\U%08x", c);
            if (fwc_buf_append(b, t, (size_t)k) < 0) return -1;
        }
    }
    return fwc_buf_putc(b, q);
}

static int put_float(FwcBuf *b, double f)
{
    char t[32];
    int n;
    if (f != f) return fwc_buf_puts(b, "nan");
    if (isinf(f)) return fwc_buf_puts(b, f > 0 ? "inf" : "-inf");
    n = fwc_float_repr(f, t);
    return fwc_buf_append(b, t, (size_t)n);
}

int fwc_expr_repr_append(FwcBuf *b, const FwcValue *v, int depth)
{
    if (depth > FWC_MAX_DEPTH + FWC_EXPR_MAX_DEPTH) return fwc_buf_puts(b, "...");
    switch ((FwcType)v->type) {
    case FWC_T_NULL: return fwc_buf_puts(b, "None");
    case FWC_T_BOOL: return fwc_buf_puts(b, v->u.i ? "True" : "False");
    case FWC_T_INT: return fwc_buf_put_int(b, v->u.i);
    case FWC_T_BIGINT: return fwc_buf_append(b, v->u.s, v->len);
    case FWC_T_FLOAT: return put_float(b, v->u.f);
    case FWC_T_STR: return repr_str(b, v->u.s, v->len);
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_SET: {
        if (v->type == FWC_T_SET && v->len == 0) return fwc_buf_puts(b, "set()");
        const char *open = v->type == FWC_T_LIST ? "[" : v->type == FWC_T_TUPLE ? "(" : "{";
        const char *close = v->type == FWC_T_LIST ? "]" : v->type == FWC_T_TUPLE ? ")" : "}";
        if (fwc_buf_puts(b, open) < 0) return -1;
        for (uint32_t i = 0; i < v->len; i++) {
            if (i && fwc_buf_puts(b, ", ") < 0) return -1;
            if (fwc_expr_repr_append(b, &v->u.items[i], depth + 1) < 0) return -1;
        }
        if (v->type == FWC_T_TUPLE && v->len == 1 && fwc_buf_putc(b, ',') < 0) return -1;
        return fwc_buf_puts(b, close);
    }
    case FWC_T_DICT:
        if (fwc_buf_putc(b, '{') < 0) return -1;
        for (uint32_t i = 0; i < v->len; i++) {
            if (i && fwc_buf_puts(b, ", ") < 0) return -1;
            if (fwc_expr_repr_append(b, &v->u.pairs[i].key, depth + 1) < 0 ||
                fwc_buf_puts(b, ": ") < 0 ||
                fwc_expr_repr_append(b, &v->u.pairs[i].value, depth + 1) < 0)
                return -1;
        }
        return fwc_buf_putc(b, '}');
    case FWC_T_RANGE: {
        int64_t start = v->len ? v->u.range[0] : 0, step = v->len ? v->u.range[1] : 1;
        int64_t stop = start + (int64_t)v->len * step;
        char t[96];
        int n = step == 1
                    ? snprintf(t, sizeof t, "range(%lld, %lld)", (long long)start, (long long)stop)
                    : snprintf(t, sizeof t, "range(%lld, %lld, %lld)", (long long)start,
                               (long long)stop, (long long)step);
        return fwc_buf_append(b, t, (size_t)n);
    }
    }
    return -1;
}

int fwc_expr_str_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out)
{
    if (v->type == FWC_T_STR) {
        *out = *v;
        return 0;
    }
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_expr_repr_append(&b, v, 0) < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    int r = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
    fwc_buf_free(&b);
    return r;
}
