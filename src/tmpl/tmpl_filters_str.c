/* tmpl_filters_str.c — Jinja's text filters (string, safe, lower/upper/capitalize,
 * title, trim, replace, escape, striptags, truncate, wordcount, center, indent,
 * urlencode), the conversions (float, Frappe's int/flt/str) and JSON (tojson, Frappe's
 * json), called through the filter table of tmpl_filters.c.  No GIL. */
#include "tmpl/tmpl.h"

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v)     fwc_value_type_name(v)

/* ---------- JSON (tojson, json) ---------- */

/* A copy of v with dict keys sorted (for json.dumps(sort_keys=True)). */
static int sorted_copy(ExprCtx *ctx, const FwcValue *v, FwcValue *out, int depth)
{
    if (depth > FWC_MAX_DEPTH) return FAIL("ValueError: value nests too deeply");
    if (v->type == TMPL_T_UNDEF)
        return FAIL("TypeError: Object of type %s is not JSON serializable", "DebugUndefined");
    if (v->type == TMPL_T_LOOP)
        return FAIL("TypeError: Object of type LoopContext is not JSON serializable");
    if (v->type == TMPL_T_NS)
        return FAIL("TypeError: Object of type Namespace is not JSON serializable");
    if (v->type == FWC_T_LIST || v->type == FWC_T_TUPLE || v->type == FWC_T_SET) {
        if (v->type == FWC_T_SET)
            return FAIL("TypeError: Object of type set is not JSON serializable");
        FwcValue *items = v->len ? fwc_expr_alloc(ctx, sizeof *items * v->len) : NULL;
        if (v->len && !items) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            if (sorted_copy(ctx, &v->u.items[i], &items[i], depth + 1) < 0) return -1;
        *out = tmpl_list_value(FWC_T_LIST, items, v->len);
        return 0;
    }
    if (v->type == FWC_T_RANGE)
        return FAIL("TypeError: Object of type range is not JSON serializable");
    if (v->type != FWC_T_DICT) {
        *out = *v;
        return 0;
    }
    TKV *kv = v->len ? fwc_expr_alloc(ctx, sizeof *kv * v->len * 2) : NULL;
    if (v->len && !kv) return -1;
    for (uint32_t i = 0; i < v->len; i++) {
        kv[i].key = v->u.pairs[i].key;
        if (sorted_copy(ctx, &v->u.pairs[i].value, &kv[i].val, depth + 1) < 0) return -1;
    }
    if (fwc_tmpl_kv_sort(ctx, kv, kv + v->len, v->len, 0) < 0) return -1;
    FwcPair *pairs = v->len ? fwc_expr_alloc(ctx, sizeof *pairs * v->len) : NULL;
    if (v->len && !pairs) return -1;
    for (uint32_t i = 0; i < v->len; i++) {
        pairs[i].key = kv[i].key;
        pairs[i].value = kv[i].val;
    }
    *out = (FwcValue){ .type = FWC_T_DICT, .ascii = 1, .len = v->len, .u.pairs = pairs };
    return 0;
}

static int to_json(ExprCtx *ctx, const FwcValue *v, int style, FwcValue *out)
{
    FwcValue c;
    if (sorted_copy(ctx, v, &c, 0) < 0) return -1;
    FwcBuf b = FWC_BUF_INIT;
    FwcError e;
    FwcStatus st = fwc_json_write(&b, &c, style ? FWC_JSON_AS_JSON : FWC_JSON_DUMPS, &e);
    if (st) {
        fwc_buf_free(&b);
        return st == FWC_ENOMEM ? fwc_expr_nomem(ctx) : FAIL("TypeError: %s", e.message);
    }
    if (style) return fwc_tmpl_buf_value(ctx, &b, out);
    /* htmlsafe_json_dumps */
    FwcBuf h = FWC_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < b.len && rc == 0; i++) {
        char ch = b.data[i];
        rc = ch == '<'    ? tmpl_puts(&h, "\\u003c")
             : ch == '>'  ? tmpl_puts(&h, "\\u003e")
             : ch == '&'  ? tmpl_puts(&h, "\\u0026")
             : ch == '\'' ? tmpl_puts(&h, "\\u0027")
                          : fwc_buf_putc(&h, ch);
    }
    fwc_buf_free(&b);
    if (rc < 0) {
        fwc_buf_free(&h);
        return fwc_expr_nomem(ctx);
    }
    return fwc_tmpl_buf_value(ctx, &h, out);
}

/* ---------- text helpers ---------- */

static int html_escape(ExprCtx *ctx, const FwcValue *s, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    int rc = 0;
    for (uint32_t i = 0; i < s->len && rc == 0; i++) {
        char c = s->u.s[i];
        rc = c == '&'    ? tmpl_puts(&b, "&amp;")
             : c == '<'  ? tmpl_puts(&b, "&lt;")
             : c == '>'  ? tmpl_puts(&b, "&gt;")
             : c == '"'  ? tmpl_puts(&b, "&#34;")
             : c == '\'' ? tmpl_puts(&b, "&#39;")
                         : fwc_buf_putc(&b, c);
    }
    if (rc < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
}

static int url_quote(FwcBuf *b, const char *s, size_t n, int for_qs)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.' || c == '-' || c == '~' || (!for_qs && c == '/');
        int rc;
        if (safe) rc = fwc_buf_putc(b, (char)c);
        else if (for_qs && c == ' ') rc = fwc_buf_putc(b, '+');
        else {
            char t[3] = { '%', hex[c >> 4], hex[c & 15] };
            rc = tmpl_append(b, t, 3);
        }
        if (rc < 0) return -1;
    }
    return 0;
}

/* urllib's quote encodes to UTF-8 first: a lone surrogate (kept as its 3-byte form,
 * ED A0..BF xx) cannot be, as in Python.  0, or -2 with the error set. */
static int url_encodable(ExprCtx *ctx, const char *s, size_t n)
{
    for (size_t i = 0, cp = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xED && i + 1 < n && ((unsigned char)s[i + 1] & 0xE0) == 0xA0) {
            uint32_t u = 0xD000 | (((unsigned char)s[i + 1] & 0x3Fu) << 6) |
                         (i + 2 < n ? ((unsigned char)s[i + 2] & 0x3Fu) : 0);
            FAIL("UnicodeEncodeError: 'utf-8' codec can't encode character '\\u%04x' in position "
                 "%zu: surrogates not allowed",
                 u, cp);
            return -2;
        }
        cp += (c & 0xC0) != 0x80;
    }
    return 0;
}

/* "&k=v" (no "&" before the first pair), both quoted as urlencode does */
static int url_pair(FwcBuf *b, uint32_t i, const FwcValue *k, const FwcValue *v)
{
    if (i && fwc_buf_putc(b, '&') < 0) return -1;
    if (url_quote(b, k->u.s, k->len, 1) < 0 || fwc_buf_putc(b, '=') < 0) return -1;
    return url_quote(b, v->u.s, v->len, 1);
}

/* a character of Jinja's title separator class [-\s({\[<] (data may hold NUL: no strchr) */
static int title_sep(uint32_t c)
{
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || fwc_expr_is_space_cp(c);
}

/* Jinja's title: words split at [-\s({[<]+, each capitalised */
static int jinja_title(ExprCtx *ctx, const FwcValue *s, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    size_t i = 0;
    uint32_t c;
    while (i < s->len) {
        fwc_tmpl_cp_at(s, i, &c);
        int sep = title_sep(c);
        size_t j = i;
        while (j < s->len) {
            size_t k = fwc_tmpl_cp_at(s, j, &c);
            if (title_sep(c) != sep) break;
            j += k;
        }
        if (sep) {
            if (tmpl_append(&b, s->u.s + i, j - i) < 0) goto nomem;
        } else {
            size_t k = i + fwc_tmpl_cp_at(s, i, &c);
            FwcValue first = {
                .type = FWC_T_STR, .ascii = 0, .len = (uint32_t)(k - i), .u.s = s->u.s + i
            };
            FwcValue rest = {
                .type = FWC_T_STR, .ascii = 0, .len = (uint32_t)(j - k), .u.s = s->u.s + k
            };
            FwcValue u, l;
            if (fwc_tmpl_method(ctx, M_UPPER, &first, NULL, 0, &u) < 0 ||
                fwc_tmpl_method(ctx, M_LOWER, &rest, NULL, 0, &l) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (tmpl_append(&b, u.u.s, u.len) < 0 || tmpl_append(&b, l.u.s, l.len) < 0) goto nomem;
        }
        i = j;
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
nomem:
    fwc_buf_free(&b);
    return fwc_expr_nomem(ctx);
}

static size_t cplen(const FwcValue *s)
{
    return s->ascii ? s->len : fwc_expr_utf8_len(s->u.s, s->len);
}

static size_t cp_to_byte(const FwcValue *s, size_t cp)
{
    if (s->ascii) return cp < s->len ? cp : s->len;
    size_t off = 0;
    while (cp && off < s->len) {
        off++;
        while (off < s->len && ((unsigned char)s->u.s[off] & 0xC0) == 0x80) off++;
        cp--;
    }
    return off;
}

int fwc_tmpl_f_tojson(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    if (nargs > 1 || (nargs == 1 && args[0].type != FWC_T_NULL))
        return FAIL("TypeError: tojson(indent=...) is not supported");
    return to_json(ctx, in, 0, out);
}

int fwc_tmpl_f_json(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    if (nargs) return FAIL("TypeError: json filter arguments are not supported");
    return to_json(ctx, in, 1, out);
}

/* Frappe's int (cint), flt, str */
static int frappe_conv(ExprCtx *ctx, const char *fname, int uid, const FwcValue *in, FwcValue *args,
                       int nargs, const char **kw, FwcValue *out)
{
    FwcValue a[4];
    const char *k[4] = { NULL, NULL, NULL, NULL };
    if (nargs > 3) return FAIL("TypeError: %s() takes at most 3 arguments", fname);
    a[0] = *in;
    for (int i = 0; i < nargs; i++) {
        a[i + 1] = args[i];
        k[i + 1] = kw ? kw[i] : NULL;
    }
    if (tmpl_is_undef(in) && fwc_tmpl_str_of(ctx, in, &a[0]) < 0) return -1;
    return fwc_tmpl_util(ctx, uid, a, nargs + 1, k, out);
}

int fwc_tmpl_f_int(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return frappe_conv(ctx, "int", U_CINT, in, args, nargs, kw, out);
}

int fwc_tmpl_f_flt(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return frappe_conv(ctx, "flt", U_FLT, in, args, nargs, kw, out);
}

int fwc_tmpl_f_str(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return frappe_conv(ctx, "str", U_CSTR, in, args, nargs, kw, out);
}

int fwc_tmpl_f_float(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    static const char *const P[] = { "default", NULL };
    FwcValue sl[1] = { fwc_float(0.0) };
    if (fwc_tmpl_bind(ctx, "float", P, args, nargs, kw, sl, NULL) < 0) return -1;
    /* float(Undefined) raises in Jinja; the filter only catches TypeError/ValueError */
    if (tmpl_is_undef(in)) return fwc_tmpl_undefined_error(ctx, in);
    FwcValue v = *in;
    if (v.type == FWC_T_STR || v.type == FWC_T_INT || v.type == FWC_T_BOOL ||
        v.type == FWC_T_FLOAT || v.type == FWC_T_BIGINT) {
        FwcError saved = *ctx->err;
        if (fwc_tmpl_builtin(ctx, B_FLOAT, &v, 1, out) == 0) return 0;
        if (ctx->err->code == FWC_ENOMEM) return -1;
        *ctx->err = saved;
    }
    *out = sl[0];
    return 0;
}

int fwc_tmpl_f_string(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    return fwc_tmpl_str_of(ctx, in, out);
}

int fwc_tmpl_f_safe(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    if (in->type == FWC_T_DICT) return fwc_tmpl_not_markup(ctx);
    return fwc_tmpl_str_of(ctx, in, out);
}

/* lower, upper, capitalize: the str method */
static int str_method(ExprCtx *ctx, const char *fname, int mid, const FwcValue *in, FwcValue *args,
                      int nargs, const char **kw, FwcValue *out)
{
    FwcValue s;
    if (nargs) return FAIL("TypeError: %s() takes no arguments", fname);
    if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
    return fwc_tmpl_method(ctx, mid, &s, NULL, 0, out);
}

int fwc_tmpl_f_lower(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    return str_method(ctx, "lower", M_LOWER, in, args, nargs, kw, out);
}

int fwc_tmpl_f_upper(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    return str_method(ctx, "upper", M_UPPER, in, args, nargs, kw, out);
}

int fwc_tmpl_f_capitalize(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                          const char **kw, FwcValue *out)
{
    return str_method(ctx, "capitalize", M_CAPITALIZE, in, args, nargs, kw, out);
}

int fwc_tmpl_f_title(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    FwcValue s;
    if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
    return jinja_title(ctx, &s, out);
}

int fwc_tmpl_f_trim(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    FwcValue s;
    static const char *const P[] = { "chars", NULL };
    FwcValue sl[1] = { fwc_null() };
    if (fwc_tmpl_bind(ctx, "trim", P, args, nargs, kw, sl, NULL) < 0 ||
        fwc_tmpl_str_of(ctx, in, &s) < 0)
        return -1;
    return fwc_tmpl_method(ctx, M_STRIP, &s, sl, sl[0].type == FWC_T_NULL ? 0 : 1, out);
}

int fwc_tmpl_f_replace(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                       FwcValue *out)
{
    FwcValue s;
    static const char *const P[] = { "old", "new", "count", NULL };
    FwcValue sl[3] = { fwc_null(), fwc_null(), fwc_null() };
    int pr[3] = { 0, 0, 0 };
    if (fwc_tmpl_bind(ctx, "replace", P, args, nargs, kw, sl, pr) < 0) return -1;
    if (!pr[0] || !pr[1]) return FAIL("TypeError: replace() missing required arguments");
    if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
    FwcValue a[3];
    if (fwc_tmpl_str_of(ctx, &sl[0], &a[0]) < 0 || fwc_tmpl_str_of(ctx, &sl[1], &a[1]) < 0)
        return -1;
    a[2] = sl[2];
    return fwc_tmpl_method(ctx, M_REPLACE, &s, a, pr[2] && sl[2].type != FWC_T_NULL ? 3 : 2, out);
}

int fwc_tmpl_f_escape(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    FwcValue s;
    if (in->type == FWC_T_DICT) return fwc_tmpl_not_markup(ctx);
    if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
    return html_escape(ctx, &s, out);
}

int fwc_tmpl_f_striptags(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                         const char **kw, FwcValue *out)
{
    FwcValue s;
    /* markupsafe 3 Markup.striptags: from each '<', a comment "<!--...-->" or a tag
     * "<...>" is dropped; an unclosed one ends the scan (the rest is kept).  Then
     * whitespace (str.split()'s) collapses to single spaces, and basic entities are
     * unescaped.  One forward pass: every search starts past the previous match. */
    if (in->type == FWC_T_DICT) return fwc_tmpl_not_markup(ctx);
    if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
    if (fwc_expr_charge(ctx, s.len) < 0) return -1;
    const char *p = s.u.s, *e = s.u.s + s.len;
    FwcBuf kept = FWC_BUF_INIT, b = FWC_BUF_INIT;
    for (;;) {
        const char *lt = memchr(p, '<', (size_t)(e - p)), *end = NULL;
        if (lt && e - lt >= 4 && !memcmp(lt, "<!--", 4)) {
            for (const char *q = lt + 4; q + 3 <= e && !end; q++) {
                q = memchr(q, '-', (size_t)(e - q));
                if (!q) break;
                if (q + 3 <= e && !memcmp(q, "-->", 3)) end = q + 3;
            }
        } else if (lt) {
            end = memchr(lt, '>', (size_t)(e - lt));
            if (end) end++;
        }
        if (!end) break;
        if (tmpl_append(&kept, p, (size_t)(lt - p)) < 0) goto st_nomem;
        p = end;
    }
    if (tmpl_append(&kept, p, (size_t)(e - p)) < 0) goto st_nomem;
    FwcValue t = {
        .type = FWC_T_STR, .ascii = 0, .len = (uint32_t)kept.len, .u.s = kept.data ? kept.data : ""
    };
    size_t i = 0;
    int pending_space = 0;
    while (i < t.len) {
        uint32_t c;
        size_t k = fwc_tmpl_cp_at(&t, i, &c);
        if (fwc_expr_is_space_cp(c)) {
            pending_space = b.len > 0;
            i += k;
            continue;
        }
        if (pending_space && fwc_buf_putc(&b, ' ') < 0) goto st_nomem;
        pending_space = 0;
        static const struct {
            const char *ent, *txt;
        } E[] = { { "&amp;", "&" },  { "&lt;", "<" },  { "&gt;", ">" },         { "&quot;", "\"" },
                  { "&#34;", "\"" }, { "&#39;", "'" }, { "&nbsp;", "\xc2\xa0" } };
        int done = 0;
        for (size_t x = 0; t.u.s[i] == '&' && x < sizeof E / sizeof E[0] && !done; x++) {
            size_t el = strlen(E[x].ent);
            if (i + el <= t.len && !memcmp(t.u.s + i, E[x].ent, el)) {
                if (tmpl_puts(&b, E[x].txt) < 0) goto st_nomem;
                i += el;
                done = 1;
            }
        }
        if (done) continue;
        if (tmpl_append(&b, t.u.s + i, k) < 0) goto st_nomem;
        i += k;
    }
    fwc_buf_free(&kept);
    return fwc_tmpl_buf_value(ctx, &b, out);
st_nomem:
    fwc_buf_free(&kept);
    fwc_buf_free(&b);
    return fwc_expr_nomem(ctx);
}

int fwc_tmpl_f_truncate(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                        const char **kw, FwcValue *out)
{
    FwcValue s;
    static const char *const P[] = { "length", "killwords", "end", "leeway", NULL };
    FwcValue sl[4] = { fwc_int(255), fwc_bool(0), tmpl_cstr("..."), fwc_int(5) };
    int64_t length, leeway;
    if (tmpl_is_undef(in)) {
        *out = *in;
        return 0;
    }
    if (fwc_tmpl_bind(ctx, "truncate", P, args, nargs, kw, sl, NULL) < 0) return -1;
    if (in->type != FWC_T_STR) {
        /* len(s) <= length + leeway returns s itself, whatever it is */
        FwcValue n;
        int64_t l0, w0;
        if (fwc_tmpl_builtin(ctx, B_LEN, in, 1, &n) < 0 ||
            fwc_tmpl_need_int(ctx, "truncate", &sl[0], &l0) < 0 ||
            fwc_tmpl_need_int(ctx, "truncate", &sl[3], &w0) < 0)
            return -1;
        if (n.u.i <= l0 + w0) {
            *out = *in;
            return 0;
        }
        return FAIL("TypeError: truncate() needs a string");
    }
    if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
    if (fwc_tmpl_need_int(ctx, "truncate", &sl[0], &length) < 0 ||
        fwc_tmpl_need_int(ctx, "truncate", &sl[3], &leeway) < 0)
        return -1;
    FwcValue end;
    if (fwc_tmpl_str_of(ctx, &sl[2], &end) < 0) return -1;
    int64_t elen = (int64_t)cplen(&end), slen = (int64_t)cplen(&s);
    if (length < elen)
        return FAIL("AssertionError: expected length >= %lld, got %lld", (long long)elen,
                    (long long)length);
    if (leeway < 0)
        return FAIL("AssertionError: expected leeway >= 0, got %lld", (long long)leeway);
    if (slen <= length + leeway) {
        *out = s;
        return 0;
    }
    size_t cut = cp_to_byte(&s, (size_t)(length - elen));
    FwcBuf b = FWC_BUF_INIT;
    size_t keep = cut;
    if (!fwc_expr_truthy(&sl[1])) {
        size_t j = cut;
        while (j > 0 && s.u.s[j - 1] != ' ') j--;
        if (j > 0) keep = j - 1;
    }
    if (tmpl_append(&b, s.u.s, keep) < 0 || tmpl_append(&b, end.u.s, end.len) < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
}

int fwc_tmpl_f_wordcount(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                         const char **kw, FwcValue *out)
{
    FwcValue s;
    if (fwc_tmpl_str_of(ctx, in, &s) < 0 || fwc_expr_charge(ctx, s.len) < 0) return -1;
    int64_t words = 0;
    int inword = 0;
    for (size_t i = 0; i < s.len;) {
        uint32_t c;
        i += fwc_tmpl_cp_at(&s, i, &c);
        /* re's \w: ASCII alphanumerics and _; beyond ASCII, letters (not spaces, not lone surrogates) */
        int w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' ||
                (c >= 0x80 && !fwc_expr_is_space_cp(c) && !(c >= 0xD800 && c <= 0xDFFF));
        if (w && !inword) words++;
        inword = w;
    }
    *out = fwc_int(words);
    return 0;
}

int fwc_tmpl_f_center(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    FwcValue s;
    static const char *const P[] = { "width", NULL };
    FwcValue sl[1] = { fwc_int(80) };
    int64_t width;
    if (fwc_tmpl_bind(ctx, "center", P, args, nargs, kw, sl, NULL) < 0 ||
        fwc_tmpl_str_of(ctx, in, &s) < 0 || fwc_tmpl_need_int(ctx, "center", &sl[0], &width) < 0)
        return -1;
    int64_t len = (int64_t)cplen(&s);
    if (width > 100000) return FAIL("MemoryError: center width too large");
    if (width <= len) {
        *out = s;
        return 0;
    }
    int64_t marg = width - len, left = marg / 2 + (marg & width & 1);
    FwcBuf b = FWC_BUF_INIT;
    int rc = 0;
    for (int64_t i = 0; i < left && !rc; i++) rc = fwc_buf_putc(&b, ' ');
    if (!rc) rc = tmpl_append(&b, s.u.s, s.len);
    for (int64_t i = 0; i < marg - left && !rc; i++) rc = fwc_buf_putc(&b, ' ');
    if (rc < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
}

int fwc_tmpl_f_indent(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    FwcValue s;
    static const char *const P[] = { "width", "first", "blank", NULL };
    FwcValue sl[3] = { fwc_int(4), fwc_bool(0), fwc_bool(0) };
    if (in->type != FWC_T_STR)
        return FAIL("TypeError: unsupported operand type(s) for +=: '%s' and 'str'", TN(in));
    if (fwc_tmpl_bind(ctx, "indent", P, args, nargs, kw, sl, NULL) < 0 ||
        fwc_tmpl_str_of(ctx, in, &s) < 0)
        return -1;
    FwcValue ind;
    if (sl[0].type == FWC_T_STR) {
        ind = sl[0];
    } else {
        int64_t w;
        if (fwc_tmpl_need_int(ctx, "indent", &sl[0], &w) < 0) return -1;
        if (w < 0) w = 0;
        if (w > 1000) return FAIL("MemoryError: indent width too large");
        char *sp = fwc_expr_alloc(ctx, (size_t)w + 1);
        if (!sp) return -1;
        memset(sp, ' ', (size_t)w);
        sp[w] = '\0';
        ind = tmpl_cstr(sp);
    }
    int first = fwc_expr_truthy(&sl[1]), blank = fwc_expr_truthy(&sl[2]);
    /* Jinja 3.1: s += "\n"; lines = s.splitlines(); joined by "\n" + indent (blank) or
     * by "\n" with the indent before each non-empty line; first: indent before all.
     * splitlines breaks at \n \r \r\n \v \f \x1c-\x1e \x85 \u2028 \u2029. */
    FwcBuf b = FWC_BUF_INIT;
    size_t i = 0, n = s.len;
    int line_no = 0, rc = first ? tmpl_append(&b, ind.u.s, ind.len) : 0, done = 0;
    while (!done && !rc) {
        size_t j = i, k = 0;
        uint32_t c = 0;
        while (j < n) {
            k = fwc_tmpl_cp_at(&s, j, &c);
            if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
                c == 0x85 || c == 0x2028 || c == 0x2029)
                break;
            j += k;
        }
        if (j >= n) done = 1;                       /* the line ends at the appended "\n" */
        else if (c == '\r' && j + 1 == n) done = 1; /* "\r" + the appended "\n": one break */
        if (line_no && !rc) rc = fwc_buf_putc(&b, '\n');
        if (line_no && !rc && (blank || j > i)) rc = tmpl_append(&b, ind.u.s, ind.len);
        if (!rc) rc = tmpl_append(&b, s.u.s + i, j - i);
        line_no++;
        if (!done) i = j + k + (c == '\r' && j + 1 < n && s.u.s[j + 1] == '\n');
        if (b.len > FWC_EXPR_MAX_STR) { /* a million lines times the indent: stop building */
            fwc_buf_free(&b);
            return FAIL("MemoryError: string result too long (limit %u bytes)", FWC_EXPR_MAX_STR);
        }
    }
    if (rc < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
}

int fwc_tmpl_f_urlencode(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                         const char **kw, FwcValue *out)
{
    FwcValue s;
    FwcBuf b = FWC_BUF_INIT;
    int rc = 0;
    if (in->type == FWC_T_STR) {
        if (!(rc = url_encodable(ctx, in->u.s, in->len))) rc = url_quote(&b, in->u.s, in->len, 0);
    } else if (tmpl_is_undef(in)) {
        /* iterable: no pairs */
    } else if (in->type == FWC_T_LIST || in->type == FWC_T_TUPLE) {
        for (uint32_t i = 0; i < in->len && !rc; i++) {
            const FwcValue *p = &in->u.items[i];
            FwcValue k, v;
            if ((p->type != FWC_T_LIST && p->type != FWC_T_TUPLE) || p->len != 2) {
                fwc_buf_free(&b);
                return FAIL("ValueError: urlencode needs (key, value) pairs");
            }
            if (fwc_tmpl_str_of(ctx, &p->u.items[0], &k) < 0 ||
                fwc_tmpl_str_of(ctx, &p->u.items[1], &v) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (!(rc = url_encodable(ctx, k.u.s, k.len)) &&
                !(rc = url_encodable(ctx, v.u.s, v.len)))
                rc = url_pair(&b, i, &k, &v);
        }
    } else if (in->type == FWC_T_DICT) {
        for (uint32_t i = 0; i < in->len && !rc; i++) {
            FwcValue k, v;
            if (fwc_tmpl_str_of(ctx, &in->u.pairs[i].key, &k) < 0 ||
                fwc_tmpl_str_of(ctx, &in->u.pairs[i].value, &v) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (!(rc = url_encodable(ctx, k.u.s, k.len)) &&
                !(rc = url_encodable(ctx, v.u.s, v.len)))
                rc = url_pair(&b, i, &k, &v);
        }
    } else {
        if (fwc_tmpl_str_of(ctx, in, &s) < 0) return -1;
        if (!(rc = url_encodable(ctx, s.u.s, s.len))) rc = url_quote(&b, s.u.s, s.len, 0);
    }
    if (rc < 0) {
        fwc_buf_free(&b);
        return rc == -2 ? -1 : fwc_expr_nomem(ctx);
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
}
