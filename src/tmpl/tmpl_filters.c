/* tmpl_filters.c — Jinja's built-in filters and tests (jinja2/filters.py, tests.py) as
 * Frappe's environment has them: its json/len/int/str/flt replace or add to Jinja's
 * (int is Frappe's cint).  Python semantics come from the expression engine: filters
 * call its builtins, str methods and utils through small constant-argument nodes.
 * No GIL. */
#include "tmpl/tmpl.h"
#include <math.h>

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v) fwc_expr_type_name(v)

int fwc_expr_is_space_cp(uint32_t c);         /* expr_str.c: str.isspace(), re's \s */
uint64_t fwc_expr_hash(const FwcValue *v);    /* expr_value.c: consistent with fwc_expr_equal */

enum {
    F_ABS = 1, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_DEFAULT, F_D, F_DICTSORT, F_ESCAPE, F_E,
    F_FIRST, F_FLOAT, F_INDENT, F_INT, F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN,
    F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SLICE, F_SORT,
    F_STRING, F_STRIPTAGS, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_URLENCODE,
    F_WORDCOUNT, F_JSON, F_LEN, F_STR, F_FLT, F_FORMAT, F_GROUPBY,
};

static const char *const FILTERS[] = {
    "", "abs", "attr", "batch", "capitalize", "center", "count", "default", "d", "dictsort", "escape", "e",
    "first", "float", "indent", "int", "join", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort",
    "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode",
    "wordcount", "json", "len", "str", "flt", "format", "groupby", NULL,
};

enum {
    X_DEFINED = 1, X_UNDEFINED, X_NONE, X_NUMBER, X_STRING, X_MAPPING, X_SEQUENCE, X_ITERABLE, X_BOOLEAN,
    X_TRUE, X_FALSE, X_INTEGER, X_FLOAT, X_EVEN, X_ODD, X_DIVISIBLEBY, X_EQ, X_NE, X_LT, X_LE, X_GT, X_GE,
    X_IN, X_LOWER, X_UPPER, X_SAMEAS, X_EQUALTO, X_GREATERTHAN, X_LESSTHAN,
};

static const char *const TESTS[] = {
    "", "defined", "undefined", "none", "number", "string", "mapping", "sequence", "iterable", "boolean",
    "true", "false", "integer", "float", "even", "odd", "divisibleby", "eq", "ne", "lt", "le", "gt", "ge",
    "in", "lower", "upper", "sameas", "equalto", "greaterthan", "lessthan", NULL,
};

static int find(const char *const *names, const char *s, size_t n)
{
    for (int i = 1; names[i]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return i;
    return 0;
}

int fwc_tmpl_filter_id(const char *name, size_t n) { return find(FILTERS, name, n); }
int fwc_tmpl_test_id(const char *name, size_t n) { return find(TESTS, name, n); }

/* ---------- calling the expression engine with values ---------- */

static int call_core(ExprCtx *ctx, int kind, int op, const FwcValue *recv, const FwcValue *args, int nargs,
                     const char **kw, FwcValue *out)
{
    ExprNode consts[9], *argp[8], call, rnode;
    const char *nokw[8] = {NULL};
    if (nargs > 8) return FAIL("TypeError: too many arguments");
    memset(&call, 0, sizeof call);
    for (int i = 0; i < nargs; i++) {
        memset(&consts[i], 0, sizeof consts[i]);
        consts[i].kind = N_CONST;
        consts[i].k = args[i];
        argp[i] = &consts[i];
    }
    call.kind = (uint8_t)kind;
    call.op = (uint8_t)op;
    call.nargs = (uint16_t)nargs;
    call.args = argp;
    call.kwnames = kw ? kw : nokw;
    if (recv) {
        memset(&rnode, 0, sizeof rnode);
        rnode.kind = N_CONST;
        rnode.k = *recv;
        call.a = &rnode;
        call.name = fwc_expr_method_name(op);
        call.name_len = (uint32_t)strlen(call.name);
    }
    return fwc_expr_eval_node(ctx, &call, out);
}

static int builtin(ExprCtx *ctx, int id, const FwcValue *args, int nargs, FwcValue *out)
{
    return call_core(ctx, N_CALL_BUILTIN, id, NULL, args, nargs, NULL, out);
}
static int method(ExprCtx *ctx, int id, const FwcValue *recv, const FwcValue *args, int nargs, FwcValue *out)
{
    return call_core(ctx, N_CALL_METHOD, id, recv, args, nargs, NULL, out);
}
static int util(ExprCtx *ctx, int id, const FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    return call_core(ctx, N_CALL_UTIL, id, NULL, args, nargs, kw, out);
}

static int is_undef(const FwcValue *v) { return v->type == TMPL_T_UNDEF; }

static int compare(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, int *res) { return fwc_tmpl_compare(ctx, op, a, b, res); }

/* ---------- arguments ---------- */

/* Binds positional/keyword args onto params; missing optional ones keep their defaults
 * (the caller pre-fills slots). */
static int bind(ExprCtx *ctx, const char *fname, const char *const *params, FwcValue *args, int nargs, const char **kw,
                FwcValue *slots, int *present)
{
    int np = 0;
    while (params[np]) np++;
    int pos = 0;
    for (int i = 0; i < nargs; i++) {
        if (!kw || !kw[i]) {
            if (pos >= np) return FAIL("TypeError: %s() takes up to %d arguments (%d given)", fname, np + 1, nargs + 1);
            slots[pos] = args[i];
            if (present) present[pos] = 1;
            pos++;
            continue;
        }
        int j = 0;
        while (j < np && strcmp(params[j], kw[i]) != 0) j++;
        if (j == np) return FAIL("TypeError: %s() got an unexpected keyword argument '%s'", fname, kw[i]);
        slots[j] = args[i];
        if (present) present[j] = 1;
    }
    return 0;
}

static FwcValue cstr_value(const char *s)
{
    FwcValue v = {.type = FWC_T_STR, .ascii = 1, .len = (uint32_t)strlen(s), .u.s = s};
    return v;
}

/* the result string; its bytes are charged as work (every filter building text ends here) */
static int buf_value(ExprCtx *ctx, FwcBuf *b, FwcValue *out)
{
    int r = fwc_expr_charge(ctx, b->len) < 0 ? -1 : fwc_expr_new_str(ctx, b->data ? b->data : "", b->len, out);
    fwc_buf_free(b);
    return r;
}

static FwcValue list_value(int type, FwcValue *items, uint32_t n)
{
    FwcValue v = {.type = (uint8_t)type, .ascii = 1, .len = n, .u.items = items};
    return v;
}

static int get_path(ExprCtx *ctx, const FwcValue *item, const FwcValue *attr, FwcValue *out)
{
    return fwc_tmpl_get_path(ctx, item, attr, NULL, out);
}

/* lower-cased copy of a string (for case-insensitive sort/min/max/unique) */
static int ignore_case(ExprCtx *ctx, const FwcValue *v, int case_sensitive, FwcValue *out)
{
    if (case_sensitive || v->type != FWC_T_STR) {
        *out = *v;
        return 0;
    }
    return method(ctx, M_LOWER, v, NULL, 0, out);
}

static int str_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out) { return fwc_tmpl_str_of(ctx, v, out); }

/* ---------- JSON (tojson, json) ---------- */

/* A copy of v with dict keys sorted (for json.dumps(sort_keys=True)). */
static int sorted_copy(ExprCtx *ctx, const FwcValue *v, FwcValue *out, int depth)
{
    if (depth > FWC_MAX_DEPTH) return FAIL("ValueError: value nests too deeply");
    if (v->type == TMPL_T_UNDEF) return FAIL("TypeError: Object of type %s is not JSON serializable", "DebugUndefined");
    if (v->type == TMPL_T_LOOP) return FAIL("TypeError: Object of type LoopContext is not JSON serializable");
    if (v->type == TMPL_T_NS) return FAIL("TypeError: Object of type Namespace is not JSON serializable");
    if (v->type == FWC_T_LIST || v->type == FWC_T_TUPLE || v->type == FWC_T_SET) {
        if (v->type == FWC_T_SET) return FAIL("TypeError: Object of type set is not JSON serializable");
        FwcValue *items = v->len ? fwc_expr_alloc(ctx, sizeof *items * v->len) : NULL;
        if (v->len && !items) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            if (sorted_copy(ctx, &v->u.items[i], &items[i], depth + 1) < 0) return -1;
        *out = list_value(FWC_T_LIST, items, v->len);
        return 0;
    }
    if (v->type == FWC_T_RANGE) return FAIL("TypeError: Object of type range is not JSON serializable");
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
    *out = (FwcValue){.type = FWC_T_DICT, .ascii = 1, .len = v->len, .u.pairs = pairs};
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
    if (style) return buf_value(ctx, &b, out);
    /* htmlsafe_json_dumps */
    FwcBuf h = FWC_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < b.len && rc == 0; i++) {
        char ch = b.data[i];
        rc = ch == '<' ? tmpl_puts(&h, "\\u003c") : ch == '>' ? tmpl_puts(&h, "\\u003e")
           : ch == '&' ? tmpl_puts(&h, "\\u0026") : ch == '\'' ? tmpl_puts(&h, "\\u0027") : fwc_buf_putc(&h, ch);
    }
    fwc_buf_free(&b);
    if (rc < 0) {
        fwc_buf_free(&h);
        return fwc_expr_nomem(ctx);
    }
    return buf_value(ctx, &h, out);
}

/* ---------- text helpers ---------- */

static int html_escape(ExprCtx *ctx, const FwcValue *s, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    int rc = 0;
    for (uint32_t i = 0; i < s->len && rc == 0; i++) {
        char c = s->u.s[i];
        rc = c == '&' ? tmpl_puts(&b, "&amp;") : c == '<' ? tmpl_puts(&b, "&lt;") : c == '>' ? tmpl_puts(&b, "&gt;")
           : c == '"' ? tmpl_puts(&b, "&#34;") : c == '\'' ? tmpl_puts(&b, "&#39;") : fwc_buf_putc(&b, c);
    }
    if (rc < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    return buf_value(ctx, &b, out);
}

static int url_quote(FwcBuf *b, const char *s, size_t n, int for_qs)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                   c == '-' || c == '~' || (!for_qs && c == '/');
        int rc;
        if (safe) rc = fwc_buf_putc(b, (char)c);
        else if (for_qs && c == ' ') rc = fwc_buf_putc(b, '+');
        else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
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
            uint32_t u = 0xD000 | (((unsigned char)s[i + 1] & 0x3Fu) << 6) | (i + 2 < n ? ((unsigned char)s[i + 2] & 0x3Fu) : 0);
            FAIL("UnicodeEncodeError: 'utf-8' codec can't encode character '\\u%04x' in position %zu: surrogates not allowed", u, cp);
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


/* the code point at s[i] (a lone surrogate as its 3-byte form) and its byte length */
static size_t cp_at(const FwcValue *s, size_t i, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s->u.s;
    size_t k = 1;
    while (i + k < s->len && (u[i + k] & 0xC0) == 0x80) k++;
    uint32_t c = u[i];
    if (k > 1) c &= k == 2 ? 0x1F : k == 3 ? 0x0F : 0x07;
    for (size_t j = 1; j < k; j++) c = (c << 6) | (u[i + j] & 0x3Fu);
    *cp = c;
    return k;
}

/* a character of Jinja's title separator class [-\s({\[<] (data may hold NUL: no strchr) */
static int title_sep(uint32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || fwc_expr_is_space_cp(c); }

/* Jinja's title: words split at [-\s({[<]+, each capitalised */
static int jinja_title(ExprCtx *ctx, const FwcValue *s, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    size_t i = 0;
    uint32_t c;
    while (i < s->len) {
        cp_at(s, i, &c);
        int sep = title_sep(c);
        size_t j = i;
        while (j < s->len) {
            size_t k = cp_at(s, j, &c);
            if (title_sep(c) != sep) break;
            j += k;
        }
        if (sep) {
            if (tmpl_append(&b, s->u.s + i, j - i) < 0) goto nomem;
        } else {
            size_t k = i + cp_at(s, i, &c);
            FwcValue first = {.type = FWC_T_STR, .ascii = 0, .len = (uint32_t)(k - i), .u.s = s->u.s + i};
            FwcValue rest = {.type = FWC_T_STR, .ascii = 0, .len = (uint32_t)(j - k), .u.s = s->u.s + k};
            FwcValue u, l;
            if (method(ctx, M_UPPER, &first, NULL, 0, &u) < 0 || method(ctx, M_LOWER, &rest, NULL, 0, &l) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (tmpl_append(&b, u.u.s, u.len) < 0 || tmpl_append(&b, l.u.s, l.len) < 0) goto nomem;
        }
        i = j;
    }
    return buf_value(ctx, &b, out);
nomem:
    fwc_buf_free(&b);
    return fwc_expr_nomem(ctx);
}

static size_t cplen(const FwcValue *s) { return s->ascii ? s->len : fwc_expr_utf8_len(s->u.s, s->len); }

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

static int need_int(ExprCtx *ctx, const char *fname, const FwcValue *v, int64_t *out)
{
    if (v->type != FWC_T_INT && v->type != FWC_T_BOOL) return FAIL("TypeError: %s(): an integer is required, not '%s'", fname, TN(v));
    *out = v->u.i;
    return 0;
}

/* ---------- select/reject/map helpers ---------- */

static int run_test_by_name(ExprCtx *ctx, const FwcValue *name, const FwcValue *item, FwcValue *args, int nargs, int *res)
{
    if (name->type != FWC_T_STR) return FAIL("TypeError: test name must be a string");
    int id = fwc_tmpl_test_id(name->u.s, name->len);
    if (!id) return FAIL("TemplateRuntimeError: No test named '%.*s'.", (int)name->len, name->u.s);
    return fwc_tmpl_apply_test(ctx, id, item, args, nargs, res);
}

static int select_filter(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs, FwcValue *out)
{
    int by_attr = id == F_SELECTATTR || id == F_REJECTATTR;
    int want = id == F_SELECT || id == F_SELECTATTR;
    FwcValue *items;
    uint32_t n;
    if (!fwc_expr_truthy(in)) {   /* Jinja: `if value:` before anything else */
        *out = list_value(FWC_T_LIST, NULL, 0);
        return 0;
    }
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    if (by_attr && nargs < 1) return FAIL("TypeError: Missing parameter for attribute name");
    FwcValue *res = n ? fwc_expr_alloc(ctx, sizeof *res * n) : NULL;
    if (n && !res) return -1;
    uint32_t k = 0;
    int off = by_attr ? 1 : 0;
    for (uint32_t i = 0; i < n; i++) {
        FwcValue v = items[i];
        if (by_attr && get_path(ctx, &items[i], &args[0], &v) < 0) return -1;
        int t;
        if (nargs > off) {
            if (run_test_by_name(ctx, &args[off], &v, args + off + 1, nargs - off - 1, &t) < 0) return -1;
        } else {
            t = fwc_expr_truthy(&v);
        }
        if (t == want) res[k++] = items[i];
    }
    *out = list_value(FWC_T_LIST, res, k);
    return 0;
}

static int map_filter(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    if (!fwc_expr_truthy(in)) {
        *out = list_value(FWC_T_LIST, NULL, 0);
        return 0;
    }
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    FwcValue *res = n ? fwc_expr_alloc(ctx, sizeof *res * n) : NULL;
    if (n && !res) return -1;
    int attr_i = -1, dflt_i = -1;
    for (int i = 0; kw && i < nargs; i++) {
        if (kw[i] && !strcmp(kw[i], "attribute")) attr_i = i;
        else if (kw[i] && !strcmp(kw[i], "default")) dflt_i = i;
        else if (kw[i]) return FAIL("TypeError: map() got an unexpected keyword argument '%s'", kw[i]);
    }
    if (attr_i < 0 && (nargs < 1 || (kw && kw[0]))) return FAIL("FilterArgumentError: map requires a filter argument");
    int fid = 0;
    if (attr_i < 0) {
        if (args[0].type != FWC_T_STR || !(fid = fwc_tmpl_filter_id(args[0].u.s, args[0].len)))
            return FAIL("TemplateRuntimeError: No filter named '%.*s'.", (int)(args[0].type == FWC_T_STR ? args[0].len : 0),
                        args[0].type == FWC_T_STR ? args[0].u.s : "");
    }
    for (uint32_t i = 0; i < n; i++) {
        if (attr_i >= 0) {
            if (get_path(ctx, &items[i], &args[attr_i], &res[i]) < 0) return -1;
            if (dflt_i >= 0 && is_undef(&res[i])) res[i] = args[dflt_i];
        } else if (fwc_tmpl_apply_filter(ctx, fid, &items[i], args + 1, nargs - 1, kw ? kw + 1 : NULL, &res[i]) < 0) {
            return -1;
        }
    }
    *out = list_value(FWC_T_LIST, res, n);
    return 0;
}

/* sort / unique / min / max / dictsort share keyed sorting */
static int sorted_items(ExprCtx *ctx, FwcValue *items, uint32_t n, int case_sensitive, const FwcValue *attr, int reverse,
                        TKV **out)
{
    if (n == 0) return 0;   /* nothing to sort (and no kv + n on a NULL kv) */
    TKV *kv = fwc_expr_alloc(ctx, sizeof *kv * n * 2);
    if (!kv) return -1;
    for (uint32_t i = 0; i < n; i++) {
        FwcValue k = items[i];
        if (attr && get_path(ctx, &items[i], attr, &k) < 0) return -1;
        if (ignore_case(ctx, &k, case_sensitive, &kv[i].key) < 0) return -1;
        kv[i].val = items[i];
    }
    if (fwc_tmpl_kv_sort(ctx, kv, kv + n, n, reverse) < 0) return -1;
    *out = kv;
    return 0;
}

/* ---------- filters ---------- */

/* markupsafe asks a value for __html__; a frappe._dict answers None for any attribute,
 * so escaping one fails in Frappe. */
static int not_markup(ExprCtx *ctx) { return FAIL("TypeError: 'NoneType' object is not callable"); }

int fwc_tmpl_apply_filter(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    const char *fname = FILTERS[id];
    FwcValue s;
    switch (id) {
    case F_DEFAULT:
    case F_D: {
        static const char *const P[] = {"default_value", "boolean", NULL};
        FwcValue sl[2] = {cstr_value(""), fwc_bool(0)};
        if (bind(ctx, "default", P, args, nargs, kw, sl, NULL) < 0) return -1;
        *out = is_undef(in) || (fwc_expr_truthy(&sl[1]) && !fwc_expr_truthy(in)) ? sl[0] : *in;
        return 0;
    }
    case F_TOJSON:
        if (nargs > 1 || (nargs == 1 && args[0].type != FWC_T_NULL)) return FAIL("TypeError: tojson(indent=...) is not supported");
        return to_json(ctx, in, 0, out);
    case F_JSON:
        if (nargs) return FAIL("TypeError: json filter arguments are not supported");
        return to_json(ctx, in, 1, out);
    case F_LENGTH:
    case F_COUNT:
    case F_LEN:
        if (nargs) return FAIL("TypeError: %s() takes no arguments", fname);
        if (is_undef(in)) {   /* Undefined.__len__ is 0 (Frappe's len filter is Python's len) */
            *out = fwc_int(0);
            return 0;
        }
        return builtin(ctx, B_LEN, in, 1, out);
    case F_INT:
    case F_FLT:
    case F_STR: {
        FwcValue a[4];
        const char *k[4] = {NULL, NULL, NULL, NULL};
        if (nargs > 3) return FAIL("TypeError: %s() takes at most 3 arguments", fname);
        a[0] = *in;
        for (int i = 0; i < nargs; i++) {
            a[i + 1] = args[i];
            k[i + 1] = kw ? kw[i] : NULL;
        }
        if (is_undef(in) && str_of(ctx, in, &a[0]) < 0) return -1;
        return util(ctx, id == F_INT ? U_CINT : id == F_FLT ? U_FLT : U_CSTR, a, nargs + 1, k, out);
    }
    case F_FLOAT: {
        static const char *const P[] = {"default", NULL};
        FwcValue sl[1] = {fwc_float(0.0)};
        if (bind(ctx, "float", P, args, nargs, kw, sl, NULL) < 0) return -1;
        /* float(Undefined) raises in Jinja; the filter only catches TypeError/ValueError */
        if (is_undef(in)) return fwc_tmpl_undefined_error(ctx, in);
        FwcValue v = *in;
        if (v.type == FWC_T_STR || v.type == FWC_T_INT || v.type == FWC_T_BOOL || v.type == FWC_T_FLOAT || v.type == FWC_T_BIGINT) {
            FwcError saved = *ctx->err;
            if (builtin(ctx, B_FLOAT, &v, 1, out) == 0) return 0;
            if (ctx->err->code == FWC_ENOMEM) return -1;
            *ctx->err = saved;
        }
        *out = sl[0];
        return 0;
    }
    case F_STRING:
        return str_of(ctx, in, out);
    case F_SAFE:
        if (in->type == FWC_T_DICT) return not_markup(ctx);
        return str_of(ctx, in, out);
    case F_LOWER:
    case F_UPPER:
    case F_CAPITALIZE:
        if (nargs) return FAIL("TypeError: %s() takes no arguments", fname);
        if (str_of(ctx, in, &s) < 0) return -1;
        return method(ctx, id == F_LOWER ? M_LOWER : id == F_UPPER ? M_UPPER : M_CAPITALIZE, &s, NULL, 0, out);
    case F_TITLE:
        if (str_of(ctx, in, &s) < 0) return -1;
        return jinja_title(ctx, &s, out);
    case F_TRIM: {
        static const char *const P[] = {"chars", NULL};
        FwcValue sl[1] = {fwc_null()};
        if (bind(ctx, "trim", P, args, nargs, kw, sl, NULL) < 0 || str_of(ctx, in, &s) < 0) return -1;
        return method(ctx, M_STRIP, &s, sl, sl[0].type == FWC_T_NULL ? 0 : 1, out);
    }
    case F_REPLACE: {
        static const char *const P[] = {"old", "new", "count", NULL};
        FwcValue sl[3] = {fwc_null(), fwc_null(), fwc_null()};
        int pr[3] = {0, 0, 0};
        if (bind(ctx, "replace", P, args, nargs, kw, sl, pr) < 0) return -1;
        if (!pr[0] || !pr[1]) return FAIL("TypeError: replace() missing required arguments");
        if (str_of(ctx, in, &s) < 0) return -1;
        FwcValue a[3];
        if (str_of(ctx, &sl[0], &a[0]) < 0 || str_of(ctx, &sl[1], &a[1]) < 0) return -1;
        a[2] = sl[2];
        return method(ctx, M_REPLACE, &s, a, pr[2] && sl[2].type != FWC_T_NULL ? 3 : 2, out);
    }
    case F_JOIN: {
        static const char *const P[] = {"d", "attribute", NULL};
        FwcValue sl[2] = {cstr_value(""), fwc_null()};
        int pr[2] = {0, 0};
        FwcValue *items;
        uint32_t n;
        if (bind(ctx, "join", P, args, nargs, kw, sl, pr) < 0 || fwc_tmpl_items(ctx, in, &items, &n) < 0 ||
            fwc_expr_charge(ctx, (uint64_t)n * 8) < 0)
            return -1;
        FwcValue sep;
        if (str_of(ctx, &sl[0], &sep) < 0) return -1;
        FwcBuf b = FWC_BUF_INIT;
        for (uint32_t i = 0; i < n; i++) {
            FwcValue v = items[i];
            if ((pr[1] && get_path(ctx, &items[i], &sl[1], &v) < 0) || (i && tmpl_append(&b, sep.u.s, sep.len) < 0) ||
                fwc_tmpl_str_append(ctx, &b, &v) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (b.len > FWC_EXPR_MAX_STR) {
                fwc_buf_free(&b);
                return FAIL("MemoryError: string result too long");
            }
        }
        return buf_value(ctx, &b, out);
    }
    case F_FIRST:
    case F_LAST: {
        FwcValue *items;
        uint32_t n;
        if (id == F_LAST && in->type == FWC_T_SET) return FAIL("TypeError: 'set' object is not reversible");
        if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        if (!n)
            return fwc_tmpl_undefined(ctx, id == F_FIRST ? "{{ undefined value printed: No first item, sequence was empty. }}"
                                                         : "{{ undefined value printed: No last item, sequence was empty. }}", out);
        *out = items[id == F_FIRST ? 0 : n - 1];
        return 0;
    }
    case F_LIST: {
        FwcValue *items;
        uint32_t n;
        if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        *out = list_value(FWC_T_LIST, items, n);
        return 0;
    }
    case F_REVERSE: {
        if (in->type == FWC_T_STR) {
            FwcValue *items;
            uint32_t n;
            if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
            FwcBuf b = FWC_BUF_INIT;
            for (uint32_t i = n; i-- > 0;)
                if (tmpl_append(&b, items[i].u.s, items[i].len) < 0) {
                    fwc_buf_free(&b);
                    return fwc_expr_nomem(ctx);
                }
            return buf_value(ctx, &b, out);
        }
        FwcValue *items;
        uint32_t n;
        if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL;
        if (n && !r) return -1;
        for (uint32_t i = 0; i < n; i++) r[i] = items[n - 1 - i];
        *out = list_value(FWC_T_LIST, r, n);
        return 0;
    }
    case F_ABS:
        return builtin(ctx, B_ABS, in, 1, out);
    case F_ROUND: {
        static const char *const P[] = {"precision", "method", NULL};
        FwcValue sl[2] = {fwc_int(0), cstr_value("common")};
        if (bind(ctx, "round", P, args, nargs, kw, sl, NULL) < 0) return -1;
        if (sl[1].type != FWC_T_STR) return FAIL("FilterArgumentError: method must be common, ceil or floor");
        if (sl[1].len == 6 && !memcmp(sl[1].u.s, "common", 6)) {
            FwcValue a[2] = {*in, sl[0]};
            return builtin(ctx, B_ROUND, a, 2, out);
        }
        int ceil_ = sl[1].len == 4 && !memcmp(sl[1].u.s, "ceil", 4);
        if (!ceil_ && !(sl[1].len == 5 && !memcmp(sl[1].u.s, "floor", 5)))
            return FAIL("FilterArgumentError: method must be common, ceil or floor");
        double x, m;
        int64_t p, r;
        if (need_int(ctx, "round", &sl[0], &p) < 0 || fwc_expr_to_float(ctx, in, &x) < 0) return -1;
        if (p < 0 || p > 300) return FAIL("ValueError: precision out of supported range");
        m = pow(10.0, (double)p);
        if (fwc_expr_floor_to_int(ctx, x * m, &r, ceil_) < 0) return -1;
        *out = fwc_float((double)r / m);
        return 0;
    }
    case F_SUM: {
        static const char *const P[] = {"attribute", "start", NULL};
        FwcValue sl[2] = {fwc_null(), fwc_int(0)};
        int pr[2] = {0, 0};
        FwcValue *items;
        uint32_t n;
        if (bind(ctx, "sum", P, args, nargs, kw, sl, pr) < 0 || fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        FwcValue *vals = items;
        if (pr[0] && n) {
            if (!(vals = fwc_expr_alloc(ctx, sizeof *vals * n))) return -1;
            for (uint32_t i = 0; i < n; i++)
                if (get_path(ctx, &items[i], &sl[0], &vals[i]) < 0) return -1;
        }
        FwcValue a[2] = {list_value(FWC_T_LIST, vals, n), sl[1]};
        return builtin(ctx, B_SUM, a, 2, out);
    }
    case F_MIN:
    case F_MAX: {
        static const char *const P[] = {"case_sensitive", "attribute", NULL};
        FwcValue sl[2] = {fwc_bool(0), fwc_null()};
        int pr[2] = {0, 0};
        FwcValue *items;
        uint32_t n;
        TKV *kv;
        if (bind(ctx, fname, P, args, nargs, kw, sl, pr) < 0 || fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        if (!n)
            return fwc_tmpl_undefined(ctx, id == F_MIN ? "{{ undefined value printed: No aggregated item, sequence was empty. }}"
                                                       : "{{ undefined value printed: No aggregated item, sequence was empty. }}", out);
        if (sorted_items(ctx, items, n, fwc_expr_truthy(&sl[0]), pr[1] ? &sl[1] : NULL, 0, &kv) < 0) return -1;
        if (id == F_MIN) {
            *out = kv[0].val;
        } else {
            /* max returns the first of the largest: the last run's first element */
            uint32_t i = n - 1;
            while (i > 0) {
                int lt;
                if (fwc_tmpl_lt(ctx, &kv[i - 1].key, &kv[i].key, &lt) < 0) return -1;
                if (lt) break;
                i--;
            }
            *out = kv[i].val;
        }
        return 0;
    }
    case F_SORT: {
        static const char *const P[] = {"reverse", "case_sensitive", "attribute", NULL};
        FwcValue sl[3] = {fwc_bool(0), fwc_bool(0), fwc_null()};
        int pr[3] = {0, 0, 0};
        FwcValue *items;
        uint32_t n;
        TKV *kv;
        if (bind(ctx, "sort", P, args, nargs, kw, sl, pr) < 0 || fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        if (sorted_items(ctx, items, n, fwc_expr_truthy(&sl[1]), pr[2] ? &sl[2] : NULL, fwc_expr_truthy(&sl[0]), &kv) < 0) return -1;
        FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL;
        if (n && !r) return -1;
        for (uint32_t i = 0; i < n; i++) r[i] = kv[i].val;
        *out = list_value(FWC_T_LIST, r, n);
        return 0;
    }
    case F_UNIQUE: {
        static const char *const P[] = {"case_sensitive", "attribute", NULL};
        FwcValue sl[2] = {fwc_bool(0), fwc_null()};
        int pr[2] = {0, 0};
        FwcValue *items;
        uint32_t n, k = 0;
        if (bind(ctx, "unique", P, args, nargs, kw, sl, pr) < 0 || fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL, *keys = n ? fwc_expr_alloc(ctx, sizeof *keys * n) : NULL;
        if (n && (!r || !keys)) return -1;
        /* a set of the keys seen (Jinja keeps one): hashed, so linear, not one comparison
         * per pair; open addressing, slot = key index + 1 */
        uint32_t cap = 8;
        while (cap < 2 * n) cap *= 2;
        uint32_t *slot = fwc_expr_alloc(ctx, sizeof *slot * cap);
        if (!slot || fwc_expr_charge(ctx, (uint64_t)n * 32) < 0) return -1;
        memset(slot, 0, sizeof *slot * cap);
        for (uint32_t i = 0; i < n; i++) {
            FwcValue key = items[i];
            if (pr[1] && get_path(ctx, &items[i], &sl[1], &key) < 0) return -1;
            if (ignore_case(ctx, &key, fwc_expr_truthy(&sl[0]), &key) < 0) return -1;
            if (key.type == FWC_T_LIST || key.type == FWC_T_DICT || key.type == FWC_T_SET)
                return FAIL("TypeError: unhashable type: '%s'", TN(&key));
            keys[k] = key;
            /* Undefined equals any Undefined (hashes alike by type); a namespace or loop
             * is compared by identity (hashed by address) */
            uint64_t h = key.type == TMPL_T_NS || key.type == TMPL_T_LOOP ? (uint64_t)(uintptr_t)key.u.items * 0x9E3779B97F4A7C15ull
                                                                           : fwc_expr_hash(&keys[k]);
            uint32_t j = (uint32_t)(h ^ (h >> 32)) & (cap - 1);
            int seen = 0;
            while (slot[j] && !seen) {
                if (fwc_tmpl_equal(ctx, &keys[slot[j] - 1], &keys[k], &seen) < 0) return -1;
                j = (j + 1) & (cap - 1);
            }
            if (!seen) {
                slot[j] = k + 1;
                r[k++] = items[i];
            }
        }
        *out = list_value(FWC_T_LIST, r, k);
        return 0;
    }
    case F_DICTSORT: {
        static const char *const P[] = {"case_sensitive", "by", "reverse", NULL};
        FwcValue sl[3] = {fwc_bool(0), cstr_value("key"), fwc_bool(0)};
        if (bind(ctx, "dictsort", P, args, nargs, kw, sl, NULL) < 0) return -1;
        if (in->type != FWC_T_DICT) return FAIL("AttributeError: '%s' object has no attribute 'items'", TN(in));
        int by_value = sl[1].type == FWC_T_STR && sl[1].len == 5 && !memcmp(sl[1].u.s, "value", 5);
        if (!by_value && !(sl[1].type == FWC_T_STR && sl[1].len == 3 && !memcmp(sl[1].u.s, "key", 3)))
            return FAIL("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
        uint32_t n = in->len;
        TKV *kv = n ? fwc_expr_alloc(ctx, sizeof *kv * n * 2) : NULL;
        FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL;
        if (n && (!kv || !r)) return -1;
        for (uint32_t i = 0; i < n; i++) {
            FwcValue *pair = fwc_expr_alloc(ctx, sizeof *pair * 2);
            if (!pair) return -1;
            pair[0] = in->u.pairs[i].key;
            pair[1] = in->u.pairs[i].value;
            kv[i].val = list_value(FWC_T_TUPLE, pair, 2);
            if (ignore_case(ctx, &pair[by_value], fwc_expr_truthy(&sl[0]), &kv[i].key) < 0) return -1;
        }
        if (fwc_tmpl_kv_sort(ctx, kv, kv + n, n, fwc_expr_truthy(&sl[2])) < 0) return -1;
        for (uint32_t i = 0; i < n; i++) r[i] = kv[i].val;
        *out = list_value(FWC_T_LIST, r, n);
        return 0;
    }
    case F_ESCAPE:
    case F_E:
        if (in->type == FWC_T_DICT) return not_markup(ctx);
        if (str_of(ctx, in, &s) < 0) return -1;
        return html_escape(ctx, &s, out);
    case F_STRIPTAGS: {
        /* markupsafe 3 Markup.striptags: from each '<', a comment "<!--...-->" or a tag
         * "<...>" is dropped; an unclosed one ends the scan (the rest is kept).  Then
         * whitespace (str.split()'s) collapses to single spaces, and basic entities are
         * unescaped.  One forward pass: every search starts past the previous match. */
        if (in->type == FWC_T_DICT) return not_markup(ctx);
        if (str_of(ctx, in, &s) < 0) return -1;
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
        FwcValue t = {.type = FWC_T_STR, .ascii = 0, .len = (uint32_t)kept.len, .u.s = kept.data ? kept.data : ""};
        size_t i = 0;
        int pending_space = 0;
        while (i < t.len) {
            uint32_t c;
            size_t k = cp_at(&t, i, &c);
            if (fwc_expr_is_space_cp(c)) {
                pending_space = b.len > 0;
                i += k;
                continue;
            }
            if (pending_space && fwc_buf_putc(&b, ' ') < 0) goto st_nomem;
            pending_space = 0;
            static const struct {
                const char *ent, *txt;
            } E[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#34;", "\""}, {"&#39;", "'"}, {"&nbsp;", "\xc2\xa0"}};
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
        return buf_value(ctx, &b, out);
    st_nomem:
        fwc_buf_free(&kept);
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    case F_TRUNCATE: {
        static const char *const P[] = {"length", "killwords", "end", "leeway", NULL};
        FwcValue sl[4] = {fwc_int(255), fwc_bool(0), cstr_value("..."), fwc_int(5)};
        int64_t length, leeway;
        if (is_undef(in)) {
            *out = *in;
            return 0;
        }
        if (bind(ctx, "truncate", P, args, nargs, kw, sl, NULL) < 0) return -1;
        if (in->type != FWC_T_STR) {
            /* len(s) <= length + leeway returns s itself, whatever it is */
            FwcValue n;
            int64_t l0, w0;
            if (builtin(ctx, B_LEN, in, 1, &n) < 0 || need_int(ctx, "truncate", &sl[0], &l0) < 0 ||
                need_int(ctx, "truncate", &sl[3], &w0) < 0)
                return -1;
            if (n.u.i <= l0 + w0) {
                *out = *in;
                return 0;
            }
            return FAIL("TypeError: truncate() needs a string");
        }
        if (str_of(ctx, in, &s) < 0) return -1;
        if (need_int(ctx, "truncate", &sl[0], &length) < 0 || need_int(ctx, "truncate", &sl[3], &leeway) < 0) return -1;
        FwcValue end;
        if (str_of(ctx, &sl[2], &end) < 0) return -1;
        int64_t elen = (int64_t)cplen(&end), slen = (int64_t)cplen(&s);
        if (length < elen) return FAIL("AssertionError: expected length >= %lld, got %lld", (long long)elen, (long long)length);
        if (leeway < 0) return FAIL("AssertionError: expected leeway >= 0, got %lld", (long long)leeway);
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
        return buf_value(ctx, &b, out);
    }
    case F_WORDCOUNT: {
        if (str_of(ctx, in, &s) < 0 || fwc_expr_charge(ctx, s.len) < 0) return -1;
        int64_t words = 0;
        int inword = 0;
        for (size_t i = 0; i < s.len;) {
            uint32_t c;
            i += cp_at(&s, i, &c);
            /* re's \w: ASCII alphanumerics and _; beyond ASCII, letters (not spaces, not lone surrogates) */
            int w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    (c >= 0x80 && !fwc_expr_is_space_cp(c) && !(c >= 0xD800 && c <= 0xDFFF));
            if (w && !inword) words++;
            inword = w;
        }
        *out = fwc_int(words);
        return 0;
    }
    case F_CENTER: {
        static const char *const P[] = {"width", NULL};
        FwcValue sl[1] = {fwc_int(80)};
        int64_t width;
        if (bind(ctx, "center", P, args, nargs, kw, sl, NULL) < 0 || str_of(ctx, in, &s) < 0 || need_int(ctx, "center", &sl[0], &width) < 0)
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
        return buf_value(ctx, &b, out);
    }
    case F_INDENT: {
        static const char *const P[] = {"width", "first", "blank", NULL};
        FwcValue sl[3] = {fwc_int(4), fwc_bool(0), fwc_bool(0)};
        if (in->type != FWC_T_STR) return FAIL("TypeError: unsupported operand type(s) for +=: '%s' and 'str'", TN(in));
        if (bind(ctx, "indent", P, args, nargs, kw, sl, NULL) < 0 || str_of(ctx, in, &s) < 0) return -1;
        FwcValue ind;
        if (sl[0].type == FWC_T_STR) {
            ind = sl[0];
        } else {
            int64_t w;
            if (need_int(ctx, "indent", &sl[0], &w) < 0) return -1;
            if (w < 0) w = 0;
            if (w > 1000) return FAIL("MemoryError: indent width too large");
            char *sp = fwc_expr_alloc(ctx, (size_t)w + 1);
            if (!sp) return -1;
            memset(sp, ' ', (size_t)w);
            sp[w] = '\0';
            ind = cstr_value(sp);
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
                k = cp_at(&s, j, &c);
                if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 || c == 0x2028 ||
                    c == 0x2029)
                    break;
                j += k;
            }
            if (j >= n) done = 1;   /* the line ends at the appended "\n" */
            else if (c == '\r' && j + 1 == n) done = 1;   /* "\r" + the appended "\n": one break */
            if (line_no && !rc) rc = fwc_buf_putc(&b, '\n');
            if (line_no && !rc && (blank || j > i)) rc = tmpl_append(&b, ind.u.s, ind.len);
            if (!rc) rc = tmpl_append(&b, s.u.s + i, j - i);
            line_no++;
            if (!done) i = j + k + (c == '\r' && j + 1 < n && s.u.s[j + 1] == '\n');
            if (b.len > FWC_EXPR_MAX_STR) {   /* a million lines times the indent: stop building */
                fwc_buf_free(&b);
                return FAIL("MemoryError: string result too long (limit %u bytes)", FWC_EXPR_MAX_STR);
            }
        }
        if (rc < 0) {
            fwc_buf_free(&b);
            return fwc_expr_nomem(ctx);
        }
        return buf_value(ctx, &b, out);
    }
    case F_URLENCODE: {
        FwcBuf b = FWC_BUF_INIT;
        int rc = 0;
        if (in->type == FWC_T_STR) {
            if (!(rc = url_encodable(ctx, in->u.s, in->len))) rc = url_quote(&b, in->u.s, in->len, 0);
        } else if (is_undef(in)) {
            /* iterable: no pairs */
        } else if (in->type == FWC_T_LIST || in->type == FWC_T_TUPLE) {
            for (uint32_t i = 0; i < in->len && !rc; i++) {
                const FwcValue *p = &in->u.items[i];
                FwcValue k, v;
                if ((p->type != FWC_T_LIST && p->type != FWC_T_TUPLE) || p->len != 2) {
                    fwc_buf_free(&b);
                    return FAIL("ValueError: urlencode needs (key, value) pairs");
                }
                if (str_of(ctx, &p->u.items[0], &k) < 0 || str_of(ctx, &p->u.items[1], &v) < 0) {
                    fwc_buf_free(&b);
                    return -1;
                }
                if (!(rc = url_encodable(ctx, k.u.s, k.len)) && !(rc = url_encodable(ctx, v.u.s, v.len))) rc = url_pair(&b, i, &k, &v);
            }
        } else if (in->type == FWC_T_DICT) {
            for (uint32_t i = 0; i < in->len && !rc; i++) {
                FwcValue k, v;
                if (str_of(ctx, &in->u.pairs[i].key, &k) < 0 || str_of(ctx, &in->u.pairs[i].value, &v) < 0) {
                    fwc_buf_free(&b);
                    return -1;
                }
                if (!(rc = url_encodable(ctx, k.u.s, k.len)) && !(rc = url_encodable(ctx, v.u.s, v.len))) rc = url_pair(&b, i, &k, &v);
            }
        } else {
            if (str_of(ctx, in, &s) < 0) return -1;
            if (!(rc = url_encodable(ctx, s.u.s, s.len))) rc = url_quote(&b, s.u.s, s.len, 0);
        }
        if (rc < 0) {
            fwc_buf_free(&b);
            return rc == -2 ? -1 : fwc_expr_nomem(ctx);
        }
        return buf_value(ctx, &b, out);
    }
    case F_ATTR: {
        if (nargs != 1 || args[0].type != FWC_T_STR) return FAIL("TypeError: attr() takes one string argument");
        if (args[0].len && args[0].u.s[0] == '_') return FAIL("SecurityError: access to attribute '%.*s' is unsafe", (int)args[0].len, args[0].u.s);
        return fwc_tmpl_getattr(ctx, in, args[0].u.s, args[0].len, out);
    }
    case F_BATCH:
    case F_SLICE: {
        static const char *const PB[] = {"linecount", "fill_with", NULL}, *const PS[] = {"slices", "fill_with", NULL};
        FwcValue sl[2] = {fwc_null(), fwc_null()};
        int pr[2] = {0, 0};
        int64_t size;
        FwcValue *items;
        uint32_t n;
        if (bind(ctx, fname, id == F_BATCH ? PB : PS, args, nargs, kw, sl, pr) < 0) return -1;
        if (!pr[0] || need_int(ctx, fname, &sl[0], &size) < 0) return -1;
        if (size <= 0) return FAIL("ValueError: %s size must be positive", fname);
        if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        /* a batch longer than the items is all of them (unless filled): no uint32 wrap of
         * the size ([1]|batch(2**32) stepped by 0 forever) */
        if (id == F_BATCH && !pr[1] && size > (int64_t)n) size = n ? n : 1;
        if (id == F_BATCH && pr[1] && n && size > (int64_t)FWC_EXPR_MAX_ITEMS)
            return FAIL("MemoryError: list result too long (limit %d items)", FWC_EXPR_MAX_ITEMS);
        if (fwc_expr_charge(ctx, ((uint64_t)n + (uint64_t)(size < 100000 ? size : 100000)) * 4) < 0) return -1;
        FwcValue *groups = fwc_expr_alloc(ctx, sizeof *groups * (n + (uint32_t)(size < 100000 ? size : 100000) + 1));
        if (!groups) return -1;
        uint32_t ng = 0;
        if (id == F_BATCH) {
            for (uint32_t i = 0; i < n; i += (uint32_t)size) {
                uint32_t cnt = n - i < size ? n - i : (uint32_t)size, tot = pr[1] ? (uint32_t)size : cnt;
                FwcValue *g = fwc_expr_alloc(ctx, sizeof *g * tot);
                if (!g) return -1;
                for (uint32_t j = 0; j < tot; j++) g[j] = j < cnt ? items[i + j] : sl[1];
                groups[ng++] = list_value(FWC_T_LIST, g, tot);
            }
        } else {
            if (size > 100000) return FAIL("MemoryError: too many slices");
            uint32_t per = n / (uint32_t)size, extra = n % (uint32_t)size, off = 0;
            for (uint32_t k = 0; k < (uint32_t)size; k++) {
                uint32_t cnt = per + (k < extra ? 1 : 0), tot = cnt + (pr[1] && extra && k >= extra ? 1 : 0);
                FwcValue *g = tot ? fwc_expr_alloc(ctx, sizeof *g * tot) : NULL;
                if (tot && !g) return -1;
                for (uint32_t j = 0; j < cnt; j++) g[j] = items[off + j];
                if (tot > cnt) g[cnt] = sl[1];
                off += cnt;
                groups[ng++] = list_value(FWC_T_LIST, g, tot);
            }
        }
        *out = list_value(FWC_T_LIST, groups, ng);
        return 0;
    }
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR:
        for (int i = 0; kw && i < nargs; i++)
            if (kw[i]) return FAIL("TypeError: %s() takes no keyword arguments", fname);
        return select_filter(ctx, id, in, args, nargs, out);
    case F_MAP:
        return map_filter(ctx, in, args, nargs, kw, out);
    case F_FORMAT:
        return fwc_tmpl_filter_format(ctx, in, args, nargs, kw, out);
    case F_GROUPBY:
        return fwc_tmpl_filter_groupby(ctx, in, args, nargs, kw, out);
    }
    return FAIL("SystemError: unknown filter");
}

/* ---------- tests ---------- */

static int is_number(const FwcValue *v)
{
    return v->type == FWC_T_INT || v->type == FWC_T_BIGINT || v->type == FWC_T_FLOAT || v->type == FWC_T_BOOL;
}

int fwc_tmpl_apply_test(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs, int *out)
{
    int needs = id == X_DIVISIBLEBY || (id >= X_EQ && id <= X_IN) || id == X_SAMEAS || id >= X_EQUALTO;
    if (needs && nargs != 1) return FAIL("TypeError: test '%s' takes exactly one argument", TESTS[id]);
    if (!needs && nargs) return FAIL("TypeError: test '%s' takes no arguments", TESTS[id]);
    int t = in->type;
    switch (id) {
    case X_DEFINED: *out = t != TMPL_T_UNDEF; return 0;
    case X_UNDEFINED: *out = t == TMPL_T_UNDEF; return 0;
    case X_NONE: *out = t == FWC_T_NULL; return 0;
    case X_NUMBER: *out = is_number(in); return 0;
    case X_STRING: *out = t == FWC_T_STR; return 0;
    case X_MAPPING: *out = t == FWC_T_DICT; return 0;
    case X_SEQUENCE: *out = t == FWC_T_STR || t == FWC_T_LIST || t == FWC_T_TUPLE || t == FWC_T_DICT || t == FWC_T_RANGE || t == TMPL_T_UNDEF; return 0;
    case X_ITERABLE: *out = t == FWC_T_STR || t == FWC_T_LIST || t == FWC_T_TUPLE || t == FWC_T_DICT || t == FWC_T_SET || t == FWC_T_RANGE || t == TMPL_T_UNDEF || t == TMPL_T_LOOP; return 0;
    case X_BOOLEAN: *out = t == FWC_T_BOOL; return 0;
    case X_TRUE: *out = t == FWC_T_BOOL && in->u.i; return 0;
    case X_FALSE: *out = t == FWC_T_BOOL && !in->u.i; return 0;
    case X_INTEGER: *out = t == FWC_T_INT || t == FWC_T_BIGINT; return 0;
    case X_FLOAT: *out = t == FWC_T_FLOAT; return 0;
    case X_EVEN:
    case X_ODD:
    case X_DIVISIBLEBY: {
        FwcValue two = fwc_int(2), r, zero = fwc_int(0);
        ExprNode ca, cb, op, *unused = NULL;
        (void)unused;
        memset(&ca, 0, sizeof ca);
        memset(&cb, 0, sizeof cb);
        memset(&op, 0, sizeof op);
        ca.kind = cb.kind = N_CONST;
        ca.k = *in;
        cb.k = id == X_DIVISIBLEBY ? args[0] : two;
        op.kind = N_BINOP;
        op.op = OP_MOD;
        op.a = &ca;
        op.b = &cb;
        if (fwc_expr_eval_node(ctx, &op, &r) < 0) return -1;
        /* Jinja: odd is `value % 2 == 1` (not "not even": 1.5 is neither) */
        FwcValue one = fwc_int(1);
        int eq;
        if (compare(ctx, OP_EQ, &r, id == X_ODD ? &one : &zero, &eq) < 0) return -1;
        *out = eq;
        return 0;
    }
    case X_EQ: case X_EQUALTO: return compare(ctx, OP_EQ, in, &args[0], out);
    case X_NE: return compare(ctx, OP_NE, in, &args[0], out);
    case X_LT: case X_LESSTHAN: return compare(ctx, OP_LT, in, &args[0], out);
    case X_LE: return compare(ctx, OP_LE, in, &args[0], out);
    case X_GT: case X_GREATERTHAN: return compare(ctx, OP_GT, in, &args[0], out);
    case X_GE: return compare(ctx, OP_GE, in, &args[0], out);
    case X_IN: return compare(ctx, OP_IN, in, &args[0], out);
    case X_LOWER:
    case X_UPPER: {
        FwcValue s, l, u;
        if (fwc_tmpl_str_of(ctx, in, &s) < 0 || method(ctx, M_LOWER, &s, NULL, 0, &l) < 0 || method(ctx, M_UPPER, &s, NULL, 0, &u) < 0)
            return -1;
        int eq_l = fwc_expr_equal(&s, &l), eq_u = fwc_expr_equal(&s, &u);
        *out = id == X_LOWER ? eq_l && !eq_u : eq_u && !eq_l;
        return 0;
    }
    case X_SAMEAS: {
        const FwcValue *o = &args[0];
        *out = (t == FWC_T_NULL && o->type == FWC_T_NULL) || (t == FWC_T_BOOL && o->type == FWC_T_BOOL && in->u.i == o->u.i) ||
               (t == TMPL_T_UNDEF && o->type == TMPL_T_UNDEF && in->u.s == o->u.s) ||
               (t == FWC_T_INT && o->type == FWC_T_INT && in->u.i == o->u.i && in->u.i >= -5 && in->u.i <= 256) ||
               ((t == FWC_T_LIST || t == FWC_T_DICT) && o->type == t && in->u.items == o->u.items && in->len == o->len) ||
               ((t == TMPL_T_NS || t == TMPL_T_LOOP) && o->type == t && in->u.items == o->u.items);
        return 0;
    }
    }
    return FAIL("SystemError: unknown test");
}
