/* json_write.c — the value tree as JSON text, byte-identical to Python's json.dumps
 * (ensure_ascii, allow_nan, insertion order) in the two styles Frappe uses.  No GIL. */
#include "json/json.h"
#include <math.h>

#define OOM(err) fwc_error_set(err, FWC_ENOMEM, "out of memory")

static const char hexdigits[] = "0123456789abcdef";

/* 1 where a byte must be escaped (or starts a non-ASCII sequence) under ensure_ascii:
 * json escapes everything outside ' '..'~' plus '"' and '\\'. */
static const unsigned char ESCAPE[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x7f ... 0xff] = 1,
};
#define needs_escape(c) ESCAPE[(unsigned char)(c)]

static char *put_u(char *p, unsigned cp)
{
    p[0] = '\\';
    p[1] = 'u';
    p[2] = hexdigits[(cp >> 12) & 0xF];
    p[3] = hexdigits[(cp >> 8) & 0xF];
    p[4] = hexdigits[(cp >> 4) & 0xF];
    p[5] = hexdigits[cp & 0xF];
    return p + 6;
}

/* Decodes one UTF-8 sequence (surrogates allowed, input is trusted: it comes from the
 * snapshot or the JSON parser); returns its length. */
static int utf8_decode(const unsigned char *s, unsigned *cp)
{
    if (s[0] < 0xE0) {
        *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (s[0] < 0xF0) {
        *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

/* Nonzero when one of the 8 bytes in w needs escaping: < 0x20, '"', '\\', >= 0x7f. */
static inline uint64_t word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t lt20 = (w - ones * 0x20) & ~w;
    uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\'), del = w ^ (ones * 0x7f);
    return (lt20 | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | ((del - ones) & ~del) |
            w) &
           highs;
}

static int write_string(FwcBuf *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    /* worst case: every byte a 6-char escape (a 4-byte character takes 12) */
    if (fwc_buf_reserve(out, 6 * n + 2) < 0) return -1;
    char *p = out->data + out->len;
    *p++ = '"';
    while (s < end) {
        /* plain text, copied 8 bytes at a time while no byte needs escaping */
        while (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (word_needs_escape(w)) break;
            memcpy(p, &w, 8);
            p += 8;
            s += 8;
        }
        while (s < end && !needs_escape(*s)) *p++ = (char)*s++;
        if (s == end) break;
        unsigned char c = *s;
        if (c < 0x80) {
            s++;
            *p++ = '\\';
            switch (c) {
            case '"': *p++ = '"'; break;
            case '\\': *p++ = '\\'; break;
            case '\n': *p++ = 'n'; break;
            case '\r': *p++ = 'r'; break;
            case '\t': *p++ = 't'; break;
            case '\b': *p++ = 'b'; break;
            case '\f': *p++ = 'f'; break;
            default: p = put_u(p - 1, c); break;
            }
            continue;
        }
        unsigned cp;
        s += utf8_decode(s, &cp);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            p = put_u(p, 0xD800 | (cp >> 10));
            p = put_u(p, 0xDC00 | (cp & 0x3FF));
        } else {
            p = put_u(p, cp);
        }
    }
    *p++ = '"';
    out->len = (size_t)(p - out->data);
    return 0;
}

/* float.__repr__, with json's spellings of the non-finite values */
static int write_float(FwcBuf *out, double f)
{
    if (f != f) return fwc_buf_append(out, "NaN", 3);
    if (f == HUGE_VAL) return fwc_buf_append(out, "Infinity", 8);
    if (f == -HUGE_VAL) return fwc_buf_append(out, "-Infinity", 9);
    char b[32];
    int n = fwc_float_repr(f, b);
    return fwc_buf_append(out, b, (size_t)n);
}

static int write_scalar(FwcBuf *out, const FwcValue *v)
{
    switch ((FwcType)v->type) {
    case FWC_T_NULL: return fwc_buf_append(out, "null", 4);
    case FWC_T_BOOL:
        return v->u.i ? fwc_buf_append(out, "true", 4) : fwc_buf_append(out, "false", 5);
    case FWC_T_INT: return fwc_buf_put_int(out, v->u.i);
    case FWC_T_BIGINT: return fwc_buf_append(out, v->u.s, v->len);
    case FWC_T_FLOAT: return write_float(out, v->u.f);
    case FWC_T_STR: return write_string(out, v->u.s, v->len);
    default: return -1;
    }
}

/* Keys as json converts them: str as is, numbers by their repr, true/false/null. */
static int write_key(FwcBuf *out, const FwcValue *k)
{
    if (k->type == FWC_T_STR) return write_string(out, k->u.s, k->len);
    if (fwc_buf_putc(out, '"') < 0 || write_scalar(out, k) < 0) return -1;
    return fwc_buf_putc(out, '"');
}

/* ---------- sort_keys: Python's ordering of the original keys ---------- */

static int is_number(const FwcValue *v)
{
    return v->type == FWC_T_BOOL || v->type == FWC_T_INT || v->type == FWC_T_BIGINT ||
           v->type == FWC_T_FLOAT;
}

typedef struct {
    FwcError *err;
    int failed;
} SortCtx;

/* a < b as Python evaluates it for dict keys; sets ctx->failed on a TypeError. */
static int key_less(SortCtx *ctx, const FwcValue *a, const FwcValue *b)
{
    if (ctx->failed) return 0;
    if (a->type == FWC_T_STR && b->type == FWC_T_STR) {
        size_t n = a->len < b->len ? a->len : b->len;
        int r = memcmp(a->u.s, b->u.s, n);
        return r < 0 || (r == 0 && a->len < b->len);
    }
    if (is_number(a) && is_number(b)) return fwc_num_compare(a, b) < 0; /* NaN: 2, not less */
    ctx->failed = 1;
    fwc_error_set(ctx->err, FWC_ETYPE, "'<' not supported between instances of '%s' and '%s'",
                  fwc_value_type_name(a), fwc_value_type_name(b));
    return 0;
}

/* Stable merge sort of pair pointers (Python's sort is stable too). */
static void merge_sort(SortCtx *ctx, const FwcPair **v, const FwcPair **tmp, size_t n)
{
    if (n < 2) return;
    if (n <= 8) { /* insertion sort for small runs */
        for (size_t i = 1; i < n; i++) {
            const FwcPair *x = v[i];
            size_t j = i;
            while (j > 0 && key_less(ctx, &x->key, &v[j - 1]->key)) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    merge_sort(ctx, v, tmp, h);
    merge_sort(ctx, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = key_less(ctx, &v[j]->key, &v[i]->key) ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* ---------- containers ---------- */

typedef struct {
    FwcBuf *out;
    FwcJsonStyle style;
    FwcError *err;
} Writer;

static FwcStatus write_value(Writer *w, const FwcValue *v, int depth);

static int newline_indent(FwcBuf *out, int depth)
{
    if (fwc_buf_grow(out, (size_t)depth + 1) < 0) return -1;
    out->data[out->len++] = '\n';
    memset(out->data + out->len, ' ', (size_t)depth); /* indent=1 */
    out->len += (size_t)depth;
    return 0;
}

/* Between items: ", " (dumps) or ",\n<indent>" (as_json); before the first item only the
 * indent. */
static int separator(Writer *w, int first, int depth)
{
    if (w->style == FWC_JSON_DUMPS) return first ? 0 : fwc_buf_append(w->out, ", ", 2);
    if (!first && fwc_buf_putc(w->out, ',') < 0) return -1;
    return newline_indent(w->out, depth);
}

static FwcStatus write_list(Writer *w, const FwcValue *v, int depth)
{
    if (v->len == 0) return fwc_buf_append(w->out, "[]", 2) < 0 ? OOM(w->err) : FWC_OK;
    if (fwc_buf_putc(w->out, '[') < 0) return OOM(w->err);
    for (uint32_t i = 0; i < v->len; i++) {
        if (separator(w, i == 0, depth + 1) < 0) return OOM(w->err);
        FwcStatus st = write_value(w, &v->u.items[i], depth + 1);
        if (st) return st;
    }
    if (w->style == FWC_JSON_AS_JSON && newline_indent(w->out, depth) < 0) return OOM(w->err);
    return fwc_buf_putc(w->out, ']') < 0 ? OOM(w->err) : FWC_OK;
}

static FwcStatus write_pairs(Writer *w, const FwcPair *const *pairs, uint32_t n, int depth)
{
    if (fwc_buf_putc(w->out, '{') < 0) return OOM(w->err);
    for (uint32_t i = 0; i < n; i++) {
        if (separator(w, i == 0, depth + 1) < 0 || write_key(w->out, &pairs[i]->key) < 0 ||
            fwc_buf_append(w->out, ": ", 2) < 0)
            return OOM(w->err);
        FwcStatus st = write_value(w, &pairs[i]->value, depth + 1);
        if (st) return st;
    }
    if (w->style == FWC_JSON_AS_JSON && newline_indent(w->out, depth) < 0) return OOM(w->err);
    return fwc_buf_putc(w->out, '}') < 0 ? OOM(w->err) : FWC_OK;
}

static FwcStatus write_dict(Writer *w, const FwcValue *v, int depth)
{
    if (v->len == 0) return fwc_buf_append(w->out, "{}", 2) < 0 ? OOM(w->err) : FWC_OK;
    if (w->style == FWC_JSON_DUMPS) { /* insertion order: straight through */
        if (fwc_buf_putc(w->out, '{') < 0) return OOM(w->err);
        for (uint32_t i = 0; i < v->len; i++) {
            const FwcPair *pair = &v->u.pairs[i];
            if ((i && fwc_buf_append(w->out, ", ", 2) < 0) || write_key(w->out, &pair->key) < 0 ||
                fwc_buf_append(w->out, ": ", 2) < 0)
                return OOM(w->err);
            FwcStatus st = write_value(w, &pair->value, depth + 1);
            if (st) return st;
        }
        return fwc_buf_putc(w->out, '}') < 0 ? OOM(w->err) : FWC_OK;
    }
    /* sort_keys: sort pointers to the pairs; small dicts on the stack */
    const FwcPair *stack[64], **order = stack;
    if (v->len > 32) {
        order = malloc(2 * sizeof *order * v->len);
        if (!order) return OOM(w->err);
    }
    for (uint32_t i = 0; i < v->len; i++) order[i] = &v->u.pairs[i];
    SortCtx ctx = { w->err, 0 };
    merge_sort(&ctx, order, order + v->len, v->len);
    FwcStatus st = ctx.failed ? FWC_ETYPE : write_pairs(w, order, v->len, depth);
    if (order != stack) free(order);
    return st;
}

static FwcStatus write_value(Writer *w, const FwcValue *v, int depth)
{
    /* tuples and sets (expression results) are written as arrays */
    if (v->type == FWC_T_LIST || v->type == FWC_T_TUPLE || v->type == FWC_T_SET)
        return write_list(w, v, depth);
    if (v->type == FWC_T_DICT) return write_dict(w, v, depth);
    if (v->type == FWC_T_RANGE)
        return fwc_error_set(w->err, FWC_ETYPE, "Object of type range is not JSON serializable");
    return write_scalar(w->out, v) < 0 ? OOM(w->err) : FWC_OK;
}

FwcStatus fwc_json_write(FwcBuf *out, const FwcValue *v, FwcJsonStyle style, FwcError *err)
{
    Writer w = { out, style, err };
    return write_value(&w, v, 0);
}
