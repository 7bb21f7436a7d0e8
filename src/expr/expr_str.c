/* expr_str.c — the whitelisted methods: str (on UTF-8, indices in code points), dict
 * (get keys values items) and list/tuple (index count).  Case mapping covers Latin
 * (ASCII, Latin-1, Extended-A, Extended Additional), Greek, Cyrillic, Armenian and
 * fullwidth Latin, with Python's special cases ß -> SS, İ -> i̇, final sigma; other
 * scripts are left unchanged (documented in the README).  No GIL. */
#include "expr/expr.h"

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v)     fwc_value_type_name(v)

/* ---------- code points ---------- */

static uint32_t *decode(ExprCtx *ctx, const FwcValue *s, size_t *n)
{
    uint32_t *cps = fwc_expr_alloc(ctx, sizeof *cps * (s->len + 1));
    if (!cps) return NULL;
    const unsigned char *u = (const unsigned char *)s->u.s;
    size_t i = 0, k = 0;
    while (i < s->len) {
        unsigned char c = u[i];
        uint32_t cp;
        if (c < 0x80) {
            cp = c;
            i++;
        } else if (c < 0xE0 && i + 1 < s->len) {
            cp = ((c & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu);
            i += 2;
        } else if (c < 0xF0 && i + 2 < s->len) {
            cp = ((c & 0x0Fu) << 12) | ((u[i + 1] & 0x3Fu) << 6) | (u[i + 2] & 0x3Fu);
            i += 3;
        } else if (i + 3 < s->len) {
            cp = ((c & 0x07u) << 18) | ((u[i + 1] & 0x3Fu) << 12) | ((u[i + 2] & 0x3Fu) << 6) |
                 (u[i + 3] & 0x3Fu);
            i += 4;
        } else {
            cp = c;
            i++;
        }
        cps[k++] = cp;
    }
    *n = k;
    return cps;
}

/* the result string, its bytes charged as work */
static int buf_result(ExprCtx *ctx, FwcBuf *b, FwcValue *out)
{
    int r = fwc_expr_charge(ctx, b->len) < 0
                ? -1
                : fwc_expr_new_str(ctx, b->data ? b->data : "", b->len, out);
    fwc_buf_free(b);
    return r;
}

static int in_pair_range(uint32_t c, uint32_t lo, uint32_t hi, int upper_parity)
{
    return c >= lo && c <= hi && (int)(c & 1) == upper_parity;
}

static uint32_t lower1(uint32_t c)
{
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c < 0x100) return (c >= 0xC0 && c <= 0xDE && c != 0xD7) ? c + 32 : c;
    if (c <= 0x17F) {
        if (c == 0x130) return 'i';
        if (c == 0x178) return 0xFF;
        if (in_pair_range(c, 0x100, 0x137, 0) || in_pair_range(c, 0x14A, 0x177, 0)) return c + 1;
        if (in_pair_range(c, 0x139, 0x148, 1) || in_pair_range(c, 0x179, 0x17E, 1)) return c + 1;
        return c;
    }
    if (c >= 0x386 && c <= 0x3A9) {
        if (c >= 0x391 && c != 0x3A2) return c + 32;
        if (c == 0x386) return 0x3AC;
        if (c >= 0x388 && c <= 0x38A) return c + 37;
        if (c == 0x38C) return 0x3CC;
        if (c == 0x38E || c == 0x38F) return c + 63;
        return c;
    }
    if (c >= 0x400 && c <= 0x52F) {
        if (c <= 0x40F) return c + 80;
        if (c <= 0x42F) return c + 32;
        if (in_pair_range(c, 0x460, 0x481, 0) || in_pair_range(c, 0x48A, 0x4BF, 0) ||
            in_pair_range(c, 0x4D0, 0x52F, 0))
            return c + 1;
        if (in_pair_range(c, 0x4C1, 0x4CE, 1)) return c + 1;
        if (c == 0x4C0) return 0x4CF;
        return c;
    }
    if (c >= 0x531 && c <= 0x556) return c + 48;
    if (c >= 0x1E00 && c <= 0x1EFF) {
        if (c == 0x1E9E) return 0xDF;
        if (in_pair_range(c, 0x1E00, 0x1E95, 0) || in_pair_range(c, 0x1EA0, 0x1EFF, 0))
            return c + 1;
        return c;
    }
    if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
    return c;
}

static uint32_t upper1(uint32_t c)
{
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c < 0x100) {
        if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
        if (c == 0xFF) return 0x178;
        if (c == 0xB5) return 0x39C;
        return c;
    }
    if (c <= 0x17F) {
        if (c == 0x131) return 'I';
        if (c == 0x17F) return 'S';
        if (in_pair_range(c, 0x101, 0x137, 1) || in_pair_range(c, 0x14B, 0x177, 1)) return c - 1;
        if (in_pair_range(c, 0x13A, 0x148, 0) || in_pair_range(c, 0x17A, 0x17E, 0)) return c - 1;
        return c;
    }
    if (c >= 0x3AC && c <= 0x3CE) {
        if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 32;
        if (c == 0x3AC) return 0x386;
        if (c >= 0x3AD && c <= 0x3AF) return c - 37;
        if (c == 0x3CC) return 0x38C;
        if (c == 0x3CD || c == 0x3CE) return c - 63;
        return c;
    }
    if (c >= 0x430 && c <= 0x52F) {
        if (c <= 0x44F) return c - 32;
        if (c <= 0x45F) return c - 80;
        if (in_pair_range(c, 0x461, 0x481, 1) || in_pair_range(c, 0x48B, 0x4BF, 1) ||
            in_pair_range(c, 0x4D1, 0x52F, 1))
            return c - 1;
        if (in_pair_range(c, 0x4C2, 0x4CE, 0)) return c - 1;
        if (c == 0x4CF) return 0x4C0;
        return c;
    }
    if (c >= 0x561 && c <= 0x586) return c - 48;
    if (c >= 0x1E01 && c <= 0x1EFF) {
        if (in_pair_range(c, 0x1E01, 0x1E95, 1) || in_pair_range(c, 0x1EA1, 0x1EFF, 1))
            return c - 1;
        return c;
    }
    if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
    return c;
}

static int is_cased(uint32_t c)
{
    return lower1(c) != c || upper1(c) != c || c == 0xDF || c == 0x138 || c == 0x149 || c == 0x1E9E;
}

static int put_upper(FwcBuf *b, uint32_t c, int title)
{
    if (c == 0xDF) return title ? fwc_buf_append(b, "Ss", 2) : fwc_buf_append(b, "SS", 2);
    if (c == 0x149) return fwc_buf_put_utf8(b, 0x2BC) < 0 ? -1 : fwc_buf_put_utf8(b, 'N');
    return fwc_buf_put_utf8(b, upper1(c));
}

/* lower() of cps[i], with İ -> i̇ and the final-sigma rule */
static int put_lower(FwcBuf *b, const uint32_t *cps, size_t n, size_t i)
{
    uint32_t c = cps[i];
    if (c == 0x130) return fwc_buf_append(b, "i\xcc\x87", 3);
    if (c == 0x3A3) {
        int before = i > 0 && is_cased(cps[i - 1]);
        int after = i + 1 < n && is_cased(cps[i + 1]);
        return fwc_buf_put_utf8(b, before && !after ? 0x3C2 : 0x3C3);
    }
    return fwc_buf_put_utf8(b, lower1(c));
}

static int case_convert(ExprCtx *ctx, int id, const FwcValue *s, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    if (s->ascii) {
        if (fwc_buf_grow(&b, s->len + 1) < 0) return fwc_expr_nomem(ctx);
        int prev_cased = 0;
        for (uint32_t i = 0; i < s->len; i++) {
            char c = s->u.s[i];
            int up = c >= 'a' && c <= 'z', lo = c >= 'A' && c <= 'Z';
            char r = c;
            switch (id) {
            case M_LOWER:
                if (lo) r = (char)(c + 32);
                break;
            case M_UPPER:
                if (up) r = (char)(c - 32);
                break;
            case M_TITLE:
                if (prev_cased) {
                    if (lo) r = (char)(c + 32);
                } else if (up) r = (char)(c - 32);
                prev_cased = up || lo;
                break;
            case M_CAPITALIZE:
                if (i == 0) {
                    if (up) r = (char)(c - 32);
                } else if (lo) r = (char)(c + 32);
                break;
            }
            b.data[b.len++] = r;
        }
        return buf_result(ctx, &b, out);
    }
    size_t n;
    uint32_t *cps = decode(ctx, s, &n);
    if (!cps) return -1;
    int prev_cased = 0, r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        uint32_t c = cps[i];
        switch (id) {
        case M_LOWER: r = put_lower(&b, cps, n, i); break;
        case M_UPPER: r = put_upper(&b, c, 0); break;
        case M_TITLE:
            r = prev_cased ? put_lower(&b, cps, n, i) : put_upper(&b, c, 1);
            prev_cased = is_cased(c);
            break;
        case M_CAPITALIZE: r = i == 0 ? put_upper(&b, c, 1) : put_lower(&b, cps, n, i); break;
        }
    }
    if (r < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    return buf_result(ctx, &b, out);
}

/* str.isspace() of one code point (also Python re's \s and str.split()'s whitespace) */
int fwc_expr_is_space_cp(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_digit_cp(uint32_t c)
{
    if (c >= '0' && c <= '9') return 1;
    if (c < 0x80) return 0;
    if (c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0x2070 || (c >= 0x2074 && c <= 0x2079) ||
        (c >= 0x2080 && c <= 0x2089))
        return 1;
    if (c >= 0x2460 && c <= 0x2468) return 1;
    static const uint32_t zeros[] = { 0x660, 0x6F0, 0x7C0,  0x966,  0x9E6,  0xA66,  0xAE6,
                                      0xB66, 0xBE6, 0xC66,  0xCE6,  0xD66,  0xDE6,  0xE50,
                                      0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0xFF10 };
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++)
        if (c >= zeros[i] && c <= zeros[i] + 9) return 1;
    return 0;
}

/* ---------- helpers for str methods ---------- */

static int cp_in(const uint32_t *set, size_t n, uint32_t c);
static int cmp_cp(const void *a, const void *b);

static int argc(ExprCtx *ctx, const char *m, int nargs, int lo, int hi)
{
    if (nargs < lo)
        return FAIL("TypeError: %s() takes at least %d argument%s (%d given)", m, lo,
                    lo == 1 ? "" : "s", nargs);
    if (nargs > hi)
        return FAIL("TypeError: %s() takes at most %d argument%s (%d given)", m, hi,
                    hi == 1 ? "" : "s", nargs);
    return 0;
}

size_t fwc_expr_cp_len(const FwcValue *s)
{
    return s->ascii ? s->len : fwc_expr_utf8_len(s->u.s, s->len);
}

size_t fwc_expr_cp_offset(const FwcValue *s, size_t i)
{
    if (s->ascii) return i;
    size_t off = 0;
    while (i && off < s->len) {
        off++;
        while (off < s->len && ((unsigned char)s->u.s[off] & 0xC0) == 0x80) off++;
        i--;
    }
    return off;
}

static size_t byte_to_cp(const FwcValue *s, size_t off)
{
    return s->ascii ? off : fwc_expr_utf8_len(s->u.s, off);
}

/* start/end arguments (None allowed) adjusted like Python's ADJUST_INDICES. */
static int adjust(ExprCtx *ctx, FwcValue *args, int nargs, int first, size_t len, int64_t *start,
                  int64_t *end)
{
    *start = 0;
    *end = (int64_t)len;
    for (int k = 0; k < 2; k++) {
        if (first + k >= nargs) break;
        FwcValue *v = &args[first + k];
        if (v->type == FWC_T_NULL) continue;
        if (v->type != FWC_T_INT && v->type != FWC_T_BOOL)
            return FAIL(
                "TypeError: slice indices must be integers or None or have an __index__ method");
        if (k == 0) *start = v->u.i;
        else *end = v->u.i;
    }
    if (*end > (int64_t)len) *end = (int64_t)len;
    else if (*end < 0) {
        *end += (int64_t)len;
        if (*end < 0) *end = 0;
    }
    if (*start < 0) {
        *start += (int64_t)len;
        if (*start < 0) *start = 0;
    }
    return 0;
}

/* Substring search, linear in haystack + needle over all the calls of one operation
 * (each call starts where the last match ended).  Short needles: memchr + memcmp (at most
 * 16 bytes compared per position).  Longer ones: Knuth-Morris-Pratt (memchr + memcmp
 * would be quadratic: "aaa...ab" in "aaaa...").  Not memmem: sanitizer interceptors of
 * memmem check the whole haystack on every call (quadratic for count/split/replace). */
typedef struct {
    const char *nd;
    size_t nn;
    uint32_t *fail; /* KMP: fail[i] = longest proper border of nd[0..i] */
} Finder;

static int finder_init(ExprCtx *ctx, Finder *f, const char *nd, size_t nn)
{
    f->nd = nd;
    f->nn = nn;
    f->fail = NULL;
    if (nn <= 16) return 0;
    if (!(f->fail = fwc_expr_alloc(ctx, sizeof *f->fail * nn))) return -1;
    f->fail[0] = 0;
    for (size_t i = 1, k = 0; i < nn; i++) {
        while (k && nd[i] != nd[k]) k = f->fail[k - 1];
        if (nd[i] == nd[k]) k++;
        f->fail[i] = (uint32_t)k;
    }
    return fwc_expr_charge(ctx, nn);
}

static const char *find_bytes(const Finder *f, const char *h, size_t hn)
{
    const char *nd = f->nd;
    size_t nn = f->nn;
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    if (!f->fail) {
        const char *end = h + (hn - nn) + 1, *p = h;
        while (p < end) {
            const char *m = memchr(p, nd[0], (size_t)(end - p));
            if (!m) return NULL;
            if (memcmp(m, nd, nn) == 0) return m;
            p = m + 1;
        }
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < hn; i++) {
        if (k == 0) { /* skip to the next possible start */
            const char *m = memchr(h + i, nd[0], hn - i);
            if (!m || (size_t)(m - h) + nn > hn) return NULL;
            i = (size_t)(m - h);
        }
        while (k && h[i] != nd[k]) k = f->fail[k - 1];
        if (h[i] == nd[k] && ++k == nn) return h + i + 1 - nn;
    }
    return NULL;
}

/* find/index/count of sub in s[start:end] (code points). */
static int str_search(ExprCtx *ctx, int id, const char *m, const FwcValue *s, FwcValue *args,
                      int nargs, FwcValue *out)
{
    if (argc(ctx, m, nargs, 1, 3) < 0) return -1;
    if (args[0].type != FWC_T_STR) return FAIL("TypeError: must be str, not %s", TN(&args[0]));
    const FwcValue *sub = &args[0];
    size_t len = fwc_expr_cp_len(s);
    int64_t start, end;
    if (adjust(ctx, args, nargs, 1, len, &start, &end) < 0) return -1;
    if (fwc_expr_charge(ctx, s->len) < 0) return -1;
    if (id == M_COUNT) {
        if (start > (int64_t)len) {
            *out = fwc_int(0);
            return 0;
        }
        if (sub->len == 0) {
            *out = fwc_int(end >= start ? end - start + 1 : 0);
            return 0;
        }
        if (end < start) {
            *out = fwc_int(0);
            return 0;
        }
        size_t b0 = fwc_expr_cp_offset(s, (size_t)start), b1 = fwc_expr_cp_offset(s, (size_t)end);
        int64_t cnt = 0;
        const char *p = s->u.s + b0, *e = s->u.s + b1;
        Finder fd;
        if (finder_init(ctx, &fd, sub->u.s, sub->len) < 0) return -1;
        while (p < e) {
            const char *f = find_bytes(&fd, p, (size_t)(e - p));
            if (!f) break;
            cnt++;
            p = f + sub->len;
        }
        if (fwc_expr_charge(ctx, (size_t)cnt * 8) < 0) return -1;
        *out = fwc_int(cnt);
        return 0;
    }
    int64_t pos = -1;
    if (start <= (int64_t)len && end - start >= (int64_t)fwc_expr_cp_len(sub)) {
        size_t b0 = fwc_expr_cp_offset(s, (size_t)start), b1 = fwc_expr_cp_offset(s, (size_t)end);
        Finder fd;
        if (finder_init(ctx, &fd, sub->u.s, sub->len) < 0) return -1;
        const char *f = find_bytes(&fd, s->u.s + b0, b1 - b0);
        if (f) pos = (int64_t)byte_to_cp(s, (size_t)(f - s->u.s));
    }
    if (pos < 0 && id == M_INDEX) return FAIL("ValueError: substring not found");
    *out = fwc_int(pos);
    return 0;
}

/* s[b0:b1] starts (ends) with p; b0/b1 are the byte offsets of start/end, computed once
 * for all the prefixes of a tuple.  A byte match is a code-point match (UTF-8). */
static int str_match_one(const FwcValue *s, size_t b0, size_t b1, const FwcValue *p, int ends)
{
    if (p->len > b1 - b0) return 0;
    return ends ? memcmp(s->u.s + b1 - p->len, p->u.s, p->len) == 0
                : memcmp(s->u.s + b0, p->u.s, p->len) == 0;
}

static int str_affix(ExprCtx *ctx, int ends, const FwcValue *s, FwcValue *args, int nargs,
                     FwcValue *out)
{
    const char *m = ends ? "endswith" : "startswith";
    if (argc(ctx, m, nargs, 1, 3) < 0) return -1;
    size_t len = fwc_expr_cp_len(s);
    int64_t start, end;
    if (adjust(ctx, args, nargs, 1, len, &start, &end) < 0) return -1;
    const FwcValue *p = &args[0];
    if (p->type != FWC_T_STR && p->type != FWC_T_TUPLE)
        return FAIL("TypeError: %s first arg must be str or a tuple of str, not %s", m, TN(p));
    const FwcValue *ps = p->type == FWC_T_STR ? p : p->u.items;
    uint32_t np = p->type == FWC_T_STR ? 1 : p->len;
    /* Python: start past the end, or end before start, matches nothing (not even "") */
    int possible = start <= (int64_t)len && end >= start;
    size_t b0 = possible ? fwc_expr_cp_offset(s, (size_t)start) : 0,
           b1 = possible ? fwc_expr_cp_offset(s, (size_t)end) : 0;
    if (fwc_expr_charge(ctx, (uint64_t)s->len + (uint64_t)np * 32) < 0) return -1;
    for (uint32_t i = 0; i < np; i++) {
        if (ps[i].type != FWC_T_STR)
            return FAIL("TypeError: tuple for %s must only contain str, not %s", m, TN(&ps[i]));
        if (possible && str_match_one(s, b0, b1, &ps[i], ends)) {
            *out = fwc_bool(1);
            return 0;
        }
    }
    *out = fwc_bool(0);
    return 0;
}

static int str_strip(ExprCtx *ctx, int id, const FwcValue *s, FwcValue *args, int nargs,
                     FwcValue *out)
{
    const char *m = id == M_STRIP ? "strip" : id == M_LSTRIP ? "lstrip" : "rstrip";
    if (argc(ctx, m, nargs, 0, 1) < 0) return -1;
    const FwcValue *chars = nargs && args[0].type != FWC_T_NULL ? &args[0] : NULL;
    if (chars && chars->type != FWC_T_STR) return FAIL("TypeError: %s arg must be None or str", m);
    size_t n;
    uint32_t *cps = decode(ctx, s, &n);
    if (!cps) return -1;
    size_t nc = 0;
    uint32_t *set = NULL;
    if (chars && !(set = decode(ctx, chars, &nc))) return -1;
    if (set) qsort(set, nc, sizeof *set, cmp_cp); /* binary search: no O(len(s) * len(chars)) */
    if (fwc_expr_charge(ctx, (uint64_t)s->len + (chars ? chars->len : 0) * 8) < 0) return -1;
    size_t lo = 0, hi = n;
#define STRIPPABLE(c) (chars ? cp_in(set, nc, c) : fwc_expr_is_space_cp(c))
    if (id != M_RSTRIP)
        while (lo < hi && STRIPPABLE(cps[lo])) lo++;
    if (id != M_LSTRIP)
        while (hi > lo && STRIPPABLE(cps[hi - 1])) hi--;
#undef STRIPPABLE
    size_t b0 = fwc_expr_cp_offset(s, lo), b1 = fwc_expr_cp_offset(s, hi);
    out->type = FWC_T_STR;
    out->ascii = s->ascii;
    out->len = (uint32_t)(b1 - b0);
    out->u.s = s->u.s + b0;
    return 0;
}

static int cmp_cp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* c in a sorted set */
static int cp_in(const uint32_t *set, size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set[mid] == c) return 1;
        if (set[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

typedef struct {
    FwcValue *items;
    uint32_t n, cap;
} SVec;

static int svec_push(ExprCtx *ctx, SVec *v, const char *s, size_t n, int ascii)
{
    if (v->n == v->cap) {
        if (v->n >= FWC_EXPR_MAX_ITEMS)
            return FAIL("MemoryError: list result too long (limit %d items)", FWC_EXPR_MAX_ITEMS);
        uint32_t cap = v->cap ? v->cap * 2 : 8;
        FwcValue *items = fwc_expr_alloc(ctx, sizeof *items * cap);
        if (!items) return -1;
        if (v->n) memcpy(items, v->items, sizeof *items * v->n);
        v->items = items;
        v->cap = cap;
    }
    FwcValue *x = &v->items[v->n++];
    x->type = FWC_T_STR;
    x->ascii = (uint8_t)ascii;
    if (!ascii) {
        x->ascii = 1;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] >= 0x80) {
                x->ascii = 0;
                break;
            }
    }
    x->len = (uint32_t)n;
    x->u.s = s;
    return 0;
}

/* length in bytes of the UTF-8 sequence at s[i] and its code point */
static size_t cp_at(const FwcValue *s, size_t i, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s->u.s;
    unsigned char c = u[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t k = 1;
    while (i + k < s->len && (u[i + k] & 0xC0) == 0x80) k++;
    if (k == 2) *cp = ((c & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu);
    else if (k == 3) *cp = ((c & 0x0Fu) << 12) | ((u[i + 1] & 0x3Fu) << 6) | (u[i + 2] & 0x3Fu);
    else
        *cp = ((c & 0x07u) << 18) | ((u[i + 1] & 0x3Fu) << 12) | ((u[i + 2] & 0x3Fu) << 6) |
              (u[i + 3] & 0x3Fu);
    return k;
}

static int str_split(ExprCtx *ctx, const FwcValue *s, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    FwcValue sep = fwc_null(), maxv = fwc_int(-1);
    int pos = 0;
    for (int i = 0; i < nargs; i++) {
        const char *k = kw ? kw[i] : NULL;
        if (!k) {
            if (pos == 0) sep = args[i];
            else if (pos == 1) maxv = args[i];
            else return FAIL("TypeError: split() takes at most 2 arguments (%d given)", nargs);
            pos++;
        } else if (strcmp(k, "sep") == 0) sep = args[i];
        else if (strcmp(k, "maxsplit") == 0) maxv = args[i];
        else return FAIL("TypeError: split() got an unexpected keyword argument '%s'", k);
    }
    if (sep.type != FWC_T_NULL && sep.type != FWC_T_STR)
        return FAIL("TypeError: must be str or None, not %s", TN(&sep));
    if (maxv.type != FWC_T_INT && maxv.type != FWC_T_BOOL)
        return FAIL("TypeError: '%s' object cannot be interpreted as an integer", TN(&maxv));
    int64_t maxsplit = maxv.u.i;
    if (maxsplit < 0) maxsplit = INT64_MAX;
    if (fwc_expr_charge(ctx, s->len) < 0) return -1;
    SVec r = { 0 };
    const char *p = s->u.s;
    size_t n = s->len;
    if (sep.type == FWC_T_STR) {
        if (sep.len == 0) return FAIL("ValueError: empty separator");
        size_t i = 0;
        int64_t splits = 0;
        Finder fd;
        if (finder_init(ctx, &fd, sep.u.s, sep.len) < 0) return -1;
        while (splits < maxsplit) {
            const char *f = find_bytes(&fd, p + i, n - i);
            if (!f) break;
            if (svec_push(ctx, &r, p + i, (size_t)(f - (p + i)), s->ascii) < 0) return -1;
            i = (size_t)(f - p) + sep.len;
            splits++;
        }
        if (svec_push(ctx, &r, p + i, n - i, s->ascii) < 0) return -1;
    } else {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            uint32_t cp;
            size_t k;
            while (i < n && fwc_expr_is_space_cp((k = cp_at(s, i, &cp), cp))) i += k;
            if (i >= n) break;
            if (splits >= maxsplit) {
                /* the rest, as it is (Python keeps its trailing whitespace) */
                if (svec_push(ctx, &r, p + i, n - i, s->ascii) < 0) return -1;
                break;
            }
            size_t j = i;
            while (j < n && !fwc_expr_is_space_cp((k = cp_at(s, j, &cp), cp))) j += k;
            if (svec_push(ctx, &r, p + i, j - i, s->ascii) < 0) return -1;
            splits++;
            i = j;
        }
    }
    out->type = FWC_T_LIST;
    out->ascii = 1;
    out->len = r.n;
    out->u.items = r.items;
    return fwc_expr_charge(ctx, (size_t)r.n * 8);
}

static int str_replace(ExprCtx *ctx, const FwcValue *s, FwcValue *args, int nargs, FwcValue *out)
{
    if (argc(ctx, "replace", nargs, 2, 3) < 0) return -1;
    if (args[0].type != FWC_T_STR)
        return FAIL("TypeError: replace() argument 1 must be str, not %s", TN(&args[0]));
    if (args[1].type != FWC_T_STR)
        return FAIL("TypeError: replace() argument 2 must be str, not %s", TN(&args[1]));
    int64_t count = -1;
    if (nargs == 3) {
        if (args[2].type != FWC_T_INT && args[2].type != FWC_T_BOOL)
            return FAIL("TypeError: '%s' object cannot be interpreted as an integer", TN(&args[2]));
        count = args[2].u.i;
    }
    if (count < 0) count = INT64_MAX;
    const FwcValue *old = &args[0], *new = &args[1];
    if (fwc_expr_charge(ctx, s->len) < 0) return -1;
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_buf_grow(&b, 64) < 0) return fwc_expr_nomem(ctx); /* never memcpy to NULL */
    size_t i = 0;
    int64_t done = 0;
    int r = 0;
    if (old->len == 0) {
        /* insert `new` before every code point and at the end */
        while (r == 0) {
            if (done < count) {
                r = fwc_buf_append(&b, new->u.s, new->len);
                done++;
            }
            if (i >= s->len) break;
            size_t k = 1;
            while (i + k < s->len && ((unsigned char)s->u.s[i + k] & 0xC0) == 0x80) k++;
            if (r == 0) r = fwc_buf_append(&b, s->u.s + i, k);
            i += k;
            if (b.len > FWC_EXPR_MAX_STR) break;
        }
    } else {
        Finder fd;
        if (finder_init(ctx, &fd, old->u.s, old->len) < 0) {
            fwc_buf_free(&b);
            return -1;
        }
        while (r == 0 && done < count) {
            const char *f = find_bytes(&fd, s->u.s + i, s->len - i);
            if (!f) break;
            r = fwc_buf_append(&b, s->u.s + i, (size_t)(f - (s->u.s + i)));
            if (r == 0) r = fwc_buf_append(&b, new->u.s, new->len);
            i = (size_t)(f - s->u.s) + old->len;
            done++;
            if (b.len > FWC_EXPR_MAX_STR) break;
        }
        if (r == 0 && i < s->len) r = fwc_buf_append(&b, s->u.s + i, s->len - i);
    }
    if (r < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    /* work: one step per 4 replacements, besides the bytes scanned (and built: buf_result) */
    if (fwc_expr_charge(ctx, (size_t)done * 8) < 0) {
        fwc_buf_free(&b);
        return -1;
    }
    return buf_result(ctx, &b, out);
}

static int str_join(ExprCtx *ctx, const FwcValue *s, FwcValue *args, int nargs, FwcValue *out)
{
    if (nargs != 1) return FAIL("TypeError: join() takes exactly one argument (%d given)", nargs);
    const FwcValue *seq = &args[0];
    FwcValue *items;
    uint32_t n;
    FwcValue tmp;
    /* materialise strings, dict keys, ranges (which fail: not str) */
    if (seq->type == FWC_T_LIST || seq->type == FWC_T_TUPLE || seq->type == FWC_T_SET) {
        items = seq->u.items;
        n = seq->len;
    } else if (seq->type == FWC_T_DICT) {
        n = seq->len;
        items = fwc_expr_alloc(ctx, sizeof *items * (n ? n : 1));
        if (!items) return -1;
        for (uint32_t i = 0; i < n; i++) items[i] = seq->u.pairs[i].key;
    } else if (seq->type == FWC_T_STR) {
        size_t nc;
        uint32_t *cps = decode(ctx, seq, &nc);
        if (!cps) return -1;
        n = (uint32_t)nc;
        items = fwc_expr_alloc(ctx, sizeof *items * (n ? n : 1));
        if (!items) return -1;
        size_t off = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t cp;
            size_t k = cp_at(seq, off, &cp);
            items[i].type = FWC_T_STR;
            items[i].ascii = (uint8_t)(k == 1);
            items[i].len = (uint32_t)k;
            items[i].u.s = seq->u.s + off;
            off += k;
        }
    } else if (seq->type == FWC_T_RANGE) {
        if (seq->len == 0) return fwc_expr_new_str(ctx, "", 0, out);
        tmp = fwc_int(seq->u.range[0]);
        return FAIL("TypeError: sequence item 0: expected str instance, %s found", TN(&tmp));
    } else {
        return FAIL("TypeError: can only join an iterable");
    }
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_buf_grow(&b, 64) < 0) return fwc_expr_nomem(ctx); /* never memcpy to NULL */
    for (uint32_t i = 0; i < n; i++) {
        if (items[i].type != FWC_T_STR) {
            fwc_buf_free(&b);
            return FAIL("TypeError: sequence item %u: expected str instance, %s found", i,
                        TN(&items[i]));
        }
        if ((i && fwc_buf_append(&b, s->u.s, s->len) < 0) ||
            fwc_buf_append(&b, items[i].u.s, items[i].len) < 0) {
            fwc_buf_free(&b);
            return fwc_expr_nomem(ctx);
        }
        if (b.len > FWC_EXPR_MAX_STR) break;
    }
    if (fwc_expr_charge(ctx, (uint64_t)n * 8) < 0) { /* the items visited; buf_result the bytes */
        fwc_buf_free(&b);
        return -1;
    }
    return buf_result(ctx, &b, out);
}

/* ---------- dispatch ---------- */

/* One function per method and receiver kind, with one signature (m: the method's name). */
typedef int (*MethodFn)(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                        int nargs, const char **kw, FwcValue *out);

static int m_case(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                  int nargs, const char **kw, FwcValue *out)
{
    (void)args;
    (void)kw;
    if (argc(ctx, m, nargs, 0, 0) < 0) return -1;
    if (fwc_expr_charge(ctx, recv->len) < 0) return -1;
    return case_convert(ctx, id, recv, out);
}

static int m_isdigit(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                     int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)args;
    (void)kw;
    if (argc(ctx, m, nargs, 0, 0) < 0 || fwc_expr_charge(ctx, recv->len) < 0) return -1;
    int ok = recv->len > 0;
    for (size_t i = 0; ok && i < recv->len;) {
        uint32_t cp;
        i += cp_at(recv, i, &cp);
        ok = is_digit_cp(cp);
    }
    *out = fwc_bool(ok);
    return 0;
}

static int m_strip(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                   int nargs, const char **kw, FwcValue *out)
{
    (void)m;
    (void)kw;
    return str_strip(ctx, id, recv, args, nargs, out);
}

static int m_affix(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                   int nargs, const char **kw, FwcValue *out)
{
    (void)m;
    (void)kw;
    return str_affix(ctx, id == M_ENDSWITH, recv, args, nargs, out);
}

static int m_replace(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                     int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)m;
    (void)kw;
    return str_replace(ctx, recv, args, nargs, out);
}

static int m_split(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                   int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)m;
    return str_split(ctx, recv, args, nargs, kw, out);
}

static int m_join(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                  int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)m;
    (void)kw;
    return str_join(ctx, recv, args, nargs, out);
}

static int m_search(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                    int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    return str_search(ctx, id, m, recv, args, nargs, out);
}

static int dict_get_m(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                      int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)m;
    (void)kw;
    if (nargs < 1 || nargs > 2)
        return FAIL("TypeError: get expected at least 1 argument, got %d", nargs);
    const FwcValue *k = &args[0];
    if (k->type == FWC_T_LIST || k->type == FWC_T_DICT || k->type == FWC_T_SET)
        return FAIL("TypeError: unhashable type: '%s'", TN(k));
    if (fwc_expr_charge(ctx, (uint64_t)recv->len * 4) < 0)
        return -1; /* a linear scan of the keys */
    for (uint32_t i = recv->len; i-- > 0;)
        if (k->type == FWC_T_STR
                ? (recv->u.pairs[i].key.type == FWC_T_STR && recv->u.pairs[i].key.len == k->len &&
                   memcmp(recv->u.pairs[i].key.u.s, k->u.s, k->len) == 0)
                : fwc_expr_equal(&recv->u.pairs[i].key, k)) {
            *out = recv->u.pairs[i].value;
            return 0;
        }
    *out = nargs == 2 ? args[1] : fwc_null();
    return 0;
}

/* keys() / values() / items() */
static int dict_view_m(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                       int nargs, const char **kw, FwcValue *out)
{
    (void)args;
    (void)kw;
    if (argc(ctx, m, nargs, 0, 0) < 0 || fwc_expr_charge(ctx, (uint64_t)recv->len * 8) < 0)
        return -1;
    uint32_t n = recv->len;
    FwcValue *items = fwc_expr_alloc(ctx, sizeof *items * (n ? n : 1));
    if (!items) return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (id == M_KEYS) items[i] = recv->u.pairs[i].key;
        else if (id == M_VALUES) items[i] = recv->u.pairs[i].value;
        else {
            FwcValue *kv = fwc_expr_alloc(ctx, sizeof *kv * 2);
            if (!kv) return -1;
            kv[0] = recv->u.pairs[i].key;
            kv[1] = recv->u.pairs[i].value;
            items[i].type = FWC_T_TUPLE;
            items[i].ascii = 1;
            items[i].len = 2;
            items[i].u.items = kv;
        }
    }
    out->type = FWC_T_LIST;
    out->ascii = 1;
    out->len = n;
    out->u.items = items;
    return 0;
}

/* list/tuple .count(x) */
static int seq_count_m(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                       int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)m;
    (void)kw;
    if (nargs != 1) return FAIL("TypeError: count() takes exactly one argument (%d given)", nargs);
    int64_t c = 0;
    for (uint32_t i = 0; i < recv->len; i++) c += fwc_expr_equal(&recv->u.items[i], &args[0]);
    *out = fwc_int(c);
    return fwc_expr_charge(ctx, (size_t)recv->len * 32);
}

/* list/tuple .index(x[, start[, end]]) */
static int seq_index_m(ExprCtx *ctx, int id, const char *m, const FwcValue *recv, FwcValue *args,
                       int nargs, const char **kw, FwcValue *out)
{
    (void)id;
    (void)kw;
    if (argc(ctx, m, nargs, 1, 3) < 0) return -1;
    int64_t start, end;
    if (adjust(ctx, args, nargs, 1, recv->len, &start, &end) < 0) return -1;
    if (fwc_expr_charge(ctx, (size_t)recv->len * 32) < 0) return -1;
    for (int64_t i = start; i < end; i++)
        if (fwc_expr_equal(&recv->u.items[i], &args[0])) {
            *out = fwc_int(i);
            return 0;
        }
    if (recv->type == FWC_T_TUPLE) return FAIL("ValueError: tuple.index(x): x not in tuple");
    FwcBuf b = FWC_BUF_INIT;
    fwc_expr_repr_append(&b, &args[0], 0);
    FAIL("ValueError: %.*s is not in list", (int)(b.len > 200 ? 200 : b.len), b.data ? b.data : "");
    fwc_buf_free(&b);
    return -1;
}

/* Indexed by ExprMethod: the function for a str, a dict, a list or tuple receiver (NULL:
 * no such attribute). */
typedef struct {
    MethodFn str, dict, seq;
} MethodDef;

static const MethodDef METHOD_TABLE[] = {
    [M_LOWER] = { m_case, NULL, NULL },      [M_UPPER] = { m_case, NULL, NULL },
    [M_STRIP] = { m_strip, NULL, NULL },     [M_LSTRIP] = { m_strip, NULL, NULL },
    [M_RSTRIP] = { m_strip, NULL, NULL },    [M_STARTSWITH] = { m_affix, NULL, NULL },
    [M_ENDSWITH] = { m_affix, NULL, NULL },  [M_REPLACE] = { m_replace, NULL, NULL },
    [M_SPLIT] = { m_split, NULL, NULL },     [M_JOIN] = { m_join, NULL, NULL },
    [M_FIND] = { m_search, NULL, NULL },     [M_COUNT] = { m_search, NULL, seq_count_m },
    [M_TITLE] = { m_case, NULL, NULL },      [M_CAPITALIZE] = { m_case, NULL, NULL },
    [M_ISDIGIT] = { m_isdigit, NULL, NULL }, [M_GET] = { NULL, dict_get_m, NULL },
    [M_KEYS] = { NULL, dict_view_m, NULL },  [M_VALUES] = { NULL, dict_view_m, NULL },
    [M_ITEMS] = { NULL, dict_view_m, NULL }, [M_INDEX] = { m_search, NULL, seq_index_m },
};

int fwc_expr_call_method(ExprCtx *ctx, int id, const FwcValue *recv, FwcValue *args, int nargs,
                         const char **kw, FwcValue *out)
{
    const char *m = fwc_expr_method_name(id);
    if (id != M_SPLIT)
        for (int i = 0; kw && i < nargs; i++)
            if (kw[i]) return FAIL("TypeError: %s() takes no keyword arguments", m);
    MethodFn fn = NULL;
    if (id >= 1 && (size_t)id < sizeof METHOD_TABLE / sizeof METHOD_TABLE[0]) {
        const MethodDef *d = &METHOD_TABLE[id];
        switch ((FwcType)recv->type) {
        case FWC_T_STR: fn = d->str; break;
        case FWC_T_DICT: fn = d->dict; break;
        case FWC_T_LIST:
        case FWC_T_TUPLE: fn = d->seq; break;
        default: break;
        }
    }
    if (fn) return fn(ctx, id, m, recv, args, nargs, kw, out);
    return FAIL("AttributeError: '%s' object has no attribute '%s'", TN(recv), m);
}
