/* tmpl_value.c — Jinja's semantics of template values, shared by the renderer, the
 * filters, printf-style formatting, groupby and namespace(): type names and Jinja's
 * object_type_repr, DebugUndefined (making one, and the UndefinedError for using one),
 * str() and repr() output of values that are or hold template-only values, == and the
 * other comparisons (Python's, with Undefined's and identity for namespaces and loops),
 * iteration (items), attribute access falling back to item access (and back) -- with the
 * attributes of loop variables, _GroupTuple and namespace objects (their attribute dict
 * is read here; tmpl_namespace.c builds and writes it) -- make_attrgetter paths, and the
 * stable key sort of sorted().  The bottom of the template engine: it calls no other
 * file of src/tmpl.  No GIL. */
#include "tmpl/tmpl.h"

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

static int is_undef(const FwcValue *v) { return v->type == TMPL_T_UNDEF; }

/* ---------- Undefined and type names ---------- */

int fwc_tmpl_undefined(ExprCtx *ctx, const char *text, FwcValue *out)
{
    (void)ctx;
    *out = (FwcValue){ .type = TMPL_T_UNDEF, .ascii = 0, .len = 0, .u.s = text };
    return 0;
}

static int undefined_fmt(ExprCtx *ctx, FwcValue *out, const char *fmt, ...)
{
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    char *s = fwc_expr_alloc(ctx, (size_t)n + 1);
    if (!s) return -1;
    memcpy(s, tmp, (size_t)n);
    s[n] = '\0';
    return fwc_tmpl_undefined(ctx, s, out);
}

/* Jinja's object_type_repr */
static const char *type_repr(const FwcValue *v)
{
    switch (v->type) {
    case FWC_T_NULL: return "None";
    case FWC_T_BOOL: return "bool object";
    case FWC_T_INT:
    case FWC_T_BIGINT: return "int object";
    case FWC_T_FLOAT: return "float object";
    case FWC_T_STR: return "str object";
    case FWC_T_LIST: return "list object";
    case FWC_T_DICT: return "frappe._dict object";
    case FWC_T_TUPLE:
        return tmpl_is_group(v) ? "jinja2.filters._GroupTuple object" : "tuple object";
    case FWC_T_SET: return "set object";
    case FWC_T_RANGE: return "range object";
    case TMPL_T_LOOP: return "jinja2.runtime.LoopContext object";
    case TMPL_T_NS: return "jinja2.utils.Namespace object";
    default: return "object";
    }
}

const char *fwc_tmpl_type_name(const FwcValue *v)
{
    switch (v->type) {
    case TMPL_T_UNDEF: return "DebugUndefined";
    case TMPL_T_LOOP: return "LoopContext";
    case TMPL_T_NS: return "Namespace";
    case FWC_T_TUPLE: return tmpl_is_group(v) ? "_GroupTuple" : "tuple";
    default: return fwc_value_type_name(v);
    }
}

/* "{{ no such element: list object[5] }}" */
static int repr_special(FwcBuf *b, const FwcValue *v, int depth, const TSeen *seen);

static int no_such_element(ExprCtx *ctx, const FwcValue *obj, const FwcValue *key, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    /* the key may be an Undefined itself: [1][x] -> "list object[Undefined]" */
    if (repr_special(&b, key, 0, NULL) < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    int r = undefined_fmt(ctx, out, "{{ no such element: %s[%.*s] }}", type_repr(obj),
                          (int)(b.len > 400 ? 400 : b.len), b.data ? b.data : "");
    fwc_buf_free(&b);
    return r;
}

int fwc_tmpl_undefined_error(ExprCtx *ctx, const FwcValue *u)
{
    const char *s = u->u.s;
    if (u->ascii && strncmp(s, "{{ ", 3) == 0) {
        size_t n = strlen(s);
        return FAIL("UndefinedError: '%.*s' is undefined", (int)(n > 6 ? n - 6 : 0), s + 3);
    }
    return FAIL("UndefinedError: %s", *s ? s : "undefined value");
}

/* ---------- attribute and item access ---------- */

/* 1 and *out when the namespace has the attribute name, else 0 */
static int namespace_get(const FwcValue *v, const char *name, size_t n, FwcValue *out)
{
    const TNamespace *ns = tmpl_ns_of(v);
    for (uint32_t i = 0; i < ns->len; i++) {
        const FwcValue *k = &ns->pairs[i].key;
        if (k->type == FWC_T_STR && k->len == n && (n == 0 || memcmp(k->u.s, name, n) == 0)) {
            *out = ns->pairs[i].value;
            return 1;
        }
    }
    return 0;
}

static int is_dict_method(const char *name, size_t n)
{
    static const char *const m[] = { "get",  "keys",  "values",     "items",    "pop",     "update",
                                     "copy", "clear", "setdefault", "fromkeys", "popitem", NULL };
    for (int i = 0; m[i]; i++)
        if (strlen(m[i]) == n && memcmp(m[i], name, n) == 0) return 1;
    return 0;
}

static int loop_attr(ExprCtx *ctx, const TLoop *l, const char *name, size_t n, FwcValue *out)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) *out = fwc_int(l->index0 + 1);
    else if (IS("index0")) *out = fwc_int(l->index0);
    else if (IS("revindex")) *out = fwc_int(l->length - l->index0);
    else if (IS("revindex0")) *out = fwc_int(l->length - l->index0 - 1);
    else if (IS("first")) *out = fwc_bool(l->index0 == 0);
    else if (IS("last")) *out = fwc_bool(l->index0 == l->length - 1);
    else if (IS("length")) *out = fwc_int(l->length);
    else if (IS("depth")) *out = fwc_int(l->depth);
    else if (IS("depth0")) *out = fwc_int(l->depth - 1);
    else if (IS("previtem")) {
        if (l->index0 == 0)
            return fwc_tmpl_undefined(
                ctx, "{{ undefined value printed: there is no previous item }}", out);
        *out = l->items[l->index0 - 1];
    } else if (IS("nextitem")) {
        if (l->index0 >= l->length - 1)
            return fwc_tmpl_undefined(ctx, "{{ undefined value printed: there is no next item }}",
                                      out);
        *out = l->items[l->index0 + 1];
    } else {
        return undefined_fmt(ctx, out,
                             "{{ no such element: jinja2.runtime.LoopContext object['%.*s'] }}",
                             (int)n, name);
    }
    return 0;
#undef IS
}

static int str_key(ExprCtx *ctx, const char *name, size_t n, FwcValue *out)
{
    return fwc_expr_new_str(ctx, name, n, out);
}

/* Whether a str, list or tuple has the method (others are undefined attributes, as in
 * Jinja: "x".items is undefined, "x".upper a method). */
static int is_method_of(int id, int type)
{
    switch (id) {
    case M_GET:
    case M_KEYS:
    case M_VALUES:
    case M_ITEMS: return 0;
    case M_COUNT:
    case M_INDEX: return type == FWC_T_STR || type == FWC_T_LIST || type == FWC_T_TUPLE;
    default: return type == FWC_T_STR;
    }
}

int fwc_tmpl_getattr(ExprCtx *ctx, const FwcValue *obj, const char *name, size_t n, FwcValue *out)
{
    switch (obj->type) {
    case TMPL_T_UNDEF: return fwc_tmpl_undefined_error(ctx, obj);
    case TMPL_T_LOOP:
        return loop_attr(ctx, (const TLoop *)(const void *)obj->u.items, name, n, out);
    case TMPL_T_NS: {
        if (namespace_get(obj, name, n, out)) return 0;
        FwcValue k;
        if (str_key(ctx, name, n, &k) < 0) return -1;
        return no_such_element(ctx, obj, &k, out);
    }
    case FWC_T_DICT:
        for (uint32_t i = obj->len; i-- > 0;) {
            const FwcValue *k = &obj->u.pairs[i].key;
            if (k->type == FWC_T_STR && k->len == n && memcmp(k->u.s, name, n) == 0) {
                *out = obj->u.pairs[i].value;
                return 0;
            }
        }
        if (is_dict_method(name, n))
            return FAIL("TypeError: method '%.*s' must be called, e.g. doc.%.*s(...)", (int)n, name,
                        (int)n, name);
        *out = fwc_null(); /* frappe._dict: a missing key is None */
        return 0;
    default: {
        if (tmpl_is_group(obj) && n == 7 && memcmp(name, "grouper", 7) == 0) {
            *out = obj->u.items[0];
            return 0;
        }
        if (tmpl_is_group(obj) && n == 4 && memcmp(name, "list", 4) == 0) {
            *out = obj->u.items[1];
            return 0;
        }
        int id = fwc_expr_method_id(name, n);
        if (id && is_method_of(id, obj->type))
            return FAIL("TypeError: method '%.*s' must be called", (int)n, name);
        FwcValue k;
        if (str_key(ctx, name, n, &k) < 0) return -1;
        return no_such_element(ctx, obj, &k, out);
    }
    }
}

int fwc_tmpl_getitem(ExprCtx *ctx, const FwcValue *obj, const FwcValue *key, FwcValue *out)
{
    switch (obj->type) {
    case TMPL_T_UNDEF: return fwc_tmpl_undefined_error(ctx, obj);
    case TMPL_T_LOOP:
        if (key->type == FWC_T_STR)
            return loop_attr(ctx, (const TLoop *)(const void *)obj->u.items, key->u.s, key->len,
                             out);
        return no_such_element(ctx, obj, key, out);
    case FWC_T_DICT:
        for (uint32_t i = obj->len; i-- > 0;)
            if (fwc_expr_equal(&obj->u.pairs[i].key, key)) {
                *out = obj->u.pairs[i].value;
                return 0;
            }
        if (key->type == FWC_T_STR) return fwc_tmpl_getattr(ctx, obj, key->u.s, key->len, out);
        return no_such_element(ctx, obj, key, out);
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_STR: {
        if (key->type != FWC_T_INT && key->type != FWC_T_BOOL) {
            if (key->type == FWC_T_STR) return fwc_tmpl_getattr(ctx, obj, key->u.s, key->len, out);
            return no_such_element(ctx, obj, key, out);
        }
        int64_t i = key->u.i;
        size_t n = obj->type == FWC_T_STR
                       ? (obj->ascii ? obj->len : fwc_expr_utf8_len(obj->u.s, obj->len))
                       : obj->len;
        if (i < 0) i += (int64_t)n;
        if (i < 0 || (uint64_t)i >= n) return no_such_element(ctx, obj, key, out);
        if (obj->type != FWC_T_STR) {
            *out = obj->u.items[i];
            return 0;
        }
        size_t off = 0;
        for (int64_t c = 0; c < i; c++) {
            off++;
            while (off < obj->len && ((unsigned char)obj->u.s[off] & 0xC0) == 0x80) off++;
        }
        size_t k = 1;
        while (off + k < obj->len && ((unsigned char)obj->u.s[off + k] & 0xC0) == 0x80) k++;
        *out = (FwcValue){
            .type = FWC_T_STR, .ascii = (uint8_t)(k == 1), .len = (uint32_t)k, .u.s = obj->u.s + off
        };
        return 0;
    }
    default:
        if (key->type == FWC_T_STR) return fwc_tmpl_getattr(ctx, obj, key->u.s, key->len, out);
        return no_such_element(ctx, obj, key, out);
    }
}

/* attribute getter for attribute= arguments: "a.b" and integer parts, as Jinja's
 * make_attrgetter (environment.getitem per part; an undefined part becomes the default) */
int fwc_tmpl_get_path(ExprCtx *ctx, const FwcValue *item, const FwcValue *attr,
                      const FwcValue *dflt, FwcValue *out)
{
    if (dflt && dflt->type == FWC_T_NULL) dflt = NULL;
    if (attr->type != FWC_T_STR) {
        if (fwc_tmpl_getitem(ctx, item, attr, out) < 0) return -1;
        if (dflt && is_undef(out)) *out = *dflt;
        return 0;
    }
    FwcValue cur = *item;
    const char *s = attr->u.s, *end = s + attr->len;
    while (s <= end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        if (!dot) dot = end;
        size_t n = (size_t)(dot - s);
        int digits = n > 0 && n < 19;
        for (size_t i = 0; i < n && digits; i++) digits = s[i] >= '0' && s[i] <= '9';
        FwcValue key, next;
        if (digits) {
            int64_t v = 0;
            for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
            key = fwc_int(v);
        } else if (fwc_expr_new_str(ctx, s, n, &key) < 0) {
            return -1;
        }
        if (fwc_tmpl_getitem(ctx, &cur, &key, &next) < 0) return -1;
        cur = dflt && is_undef(&next) ? *dflt : next;
        s = dot + 1;
    }
    *out = cur;
    return 0;
}

/* ---------- iteration ---------- */

int fwc_tmpl_items(ExprCtx *ctx, const FwcValue *v, FwcValue **items, uint32_t *n)
{
    switch (v->type) {
    case TMPL_T_UNDEF:
        *items = NULL;
        *n = 0;
        return 0;
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_SET:
        *items = v->u.items;
        *n = v->len;
        return 0;
    case FWC_T_DICT: {
        FwcValue *a = v->len ? fwc_expr_alloc(ctx, sizeof *a * v->len) : NULL;
        if (v->len && !a) return -1;
        for (uint32_t i = 0; i < v->len; i++) a[i] = v->u.pairs[i].key;
        *items = a;
        *n = v->len;
        return 0;
    }
    case FWC_T_RANGE: {
        FwcValue *a = v->len ? fwc_expr_alloc(ctx, sizeof *a * v->len) : NULL;
        if (v->len && !a) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            a[i] = fwc_int(v->u.range[0] + (int64_t)i * v->u.range[1]);
        *items = a;
        *n = v->len;
        return 0;
    }
    case FWC_T_STR: {
        size_t cn = v->ascii ? v->len : fwc_expr_utf8_len(v->u.s, v->len);
        FwcValue *a = cn ? fwc_expr_alloc(ctx, sizeof *a * cn) : NULL;
        if (cn && !a) return -1;
        size_t off = 0;
        for (size_t i = 0; i < cn; i++) {
            size_t k = 1;
            while (off + k < v->len && ((unsigned char)v->u.s[off + k] & 0xC0) == 0x80) k++;
            a[i] = (FwcValue){ .type = FWC_T_STR,
                               .ascii = (uint8_t)(k == 1),
                               .len = (uint32_t)k,
                               .u.s = v->u.s + off };
            off += k;
        }
        *items = a;
        *n = (uint32_t)cn;
        return 0;
    }
    default: return FAIL("TypeError: '%s' object is not iterable", fwc_tmpl_type_name(v));
    }
}

/* ---------- str() and repr() ---------- */

FwcValue fwc_tmpl_namespace_attrs(const FwcValue *v)
{
    const TNamespace *ns = tmpl_ns_of(v);
    return (FwcValue){ .type = FWC_T_DICT, .ascii = 1, .len = ns->len, .u.pairs = ns->pairs };
}

/* Does a container hold template-only values (which have no Python repr here)? */
static int has_special(const FwcValue *v, int depth)
{
    if (v->type == TMPL_T_UNDEF || v->type == TMPL_T_LOOP || v->type == TMPL_T_NS) return 1;
    if (depth > FWC_MAX_DEPTH + FWC_EXPR_MAX_DEPTH) return 0;
    if (v->type == FWC_T_LIST || v->type == FWC_T_TUPLE || v->type == FWC_T_SET) {
        for (uint32_t i = 0; i < v->len; i++)
            if (has_special(&v->u.items[i], depth + 1)) return 1;
    } else if (v->type == FWC_T_DICT) {
        for (uint32_t i = 0; i < v->len; i++)
            if (has_special(&v->u.pairs[i].key, depth + 1) ||
                has_special(&v->u.pairs[i].value, depth + 1))
                return 1;
    }
    return 0;
}

/* repr() of a value that is or holds template-only values: repr(Undefined) is "Undefined",
 * a loop "<LoopContext 2/5>", a namespace "<Namespace {'a': 1}>" */
static int repr_special(FwcBuf *b, const FwcValue *v, int depth, const TSeen *seen)
{
    if (depth > FWC_MAX_DEPTH + FWC_EXPR_MAX_DEPTH)
        return tmpl_puts(b, "..."); /* as fwc_expr_repr_append */
    if (v->type == TMPL_T_UNDEF) return tmpl_puts(b, "Undefined");
    if (v->type == TMPL_T_LOOP) {
        const TLoop *l = (const TLoop *)(const void *)v->u.items;
        char t[64];
        snprintf(t, sizeof t, "<LoopContext %lld/%lld>", (long long)(l->index0 + 1),
                 (long long)l->length);
        return tmpl_puts(b, t);
    }
    if (v->type == TMPL_T_NS) {
        for (const TSeen *s = seen; s; s = s->up)
            if (s->ns == (const void *)v->u.items) return tmpl_puts(b, "<Namespace {...}>");
        if (depth > FWC_MAX_DEPTH) return tmpl_puts(b, "<Namespace ...>");
        TSeen me = { v->u.items, seen };
        FwcValue attrs = fwc_tmpl_namespace_attrs(v);
        if (tmpl_puts(b, "<Namespace ") < 0 || repr_special(b, &attrs, depth + 1, &me) < 0)
            return -1;
        return fwc_buf_putc(b, '>');
    }
    if (!has_special(v, depth)) return fwc_expr_repr_append(b, v, depth);
    if (v->type == FWC_T_DICT) {
        if (fwc_buf_putc(b, '{') < 0) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            if ((i && tmpl_puts(b, ", ") < 0) ||
                repr_special(b, &v->u.pairs[i].key, depth + 1, seen) < 0 ||
                tmpl_puts(b, ": ") < 0 ||
                repr_special(b, &v->u.pairs[i].value, depth + 1, seen) < 0)
                return -1;
        return fwc_buf_putc(b, '}');
    }
    const char *open = v->type == FWC_T_LIST ? "[" : v->type == FWC_T_TUPLE ? "(" : "{";
    const char *close = v->type == FWC_T_LIST ? "]" : v->type == FWC_T_TUPLE ? ")" : "}";
    if (tmpl_puts(b, open) < 0) return -1;
    for (uint32_t i = 0; i < v->len; i++)
        if ((i && tmpl_puts(b, ", ") < 0) || repr_special(b, &v->u.items[i], depth + 1, seen) < 0)
            return -1;
    if (v->type == FWC_T_TUPLE && v->len == 1 && fwc_buf_putc(b, ',') < 0) return -1;
    return tmpl_puts(b, close);
}

int fwc_tmpl_str_append(ExprCtx *ctx, FwcBuf *b, const FwcValue *v)
{
    int r;
    if (v->type == FWC_T_STR) r = tmpl_append(b, v->u.s, v->len);
    else if (v->type == TMPL_T_UNDEF) r = tmpl_puts(b, v->u.s);
    else r = repr_special(b, v, 0, NULL);
    return r < 0 ? fwc_expr_nomem(ctx) : 0;
}

int fwc_tmpl_repr_append(ExprCtx *ctx, FwcBuf *b, const FwcValue *v)
{
    return repr_special(b, v, 0, NULL) < 0 ? fwc_expr_nomem(ctx) : 0;
}

int fwc_tmpl_str_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out)
{
    if (v->type == FWC_T_STR) {
        *out = *v;
        return 0;
    }
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_tmpl_str_append(ctx, &b, v) < 0) {
        fwc_buf_free(&b);
        return -1;
    }
    int r = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
    fwc_buf_free(&b);
    return r;
}

/* ---------- comparison and sorting ---------- */

int fwc_tmpl_compare(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, int *res)
{
    ExprNode ca, cb, cmp, *args[2] = { &ca, &cb };
    uint8_t ops[1] = { (uint8_t)op };
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    memset(&cmp, 0, sizeof cmp);
    ca.kind = cb.kind = N_CONST;
    ca.k = *a;
    cb.k = *b;
    cmp.kind = N_COMPARE;
    cmp.nargs = 2;
    cmp.args = args;
    cmp.ops = ops;
    FwcValue v;
    if (fwc_expr_eval_node(ctx, &cmp, &v) < 0) return -1;
    *res = (int)v.u.i;
    return 0;
}

int fwc_tmpl_lt(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, int *res)
{
    /* Undefined's ordering methods raise (and int < Undefined reflects to them) */
    if (is_undef(a) || is_undef(b)) return fwc_tmpl_undefined_error(ctx, is_undef(a) ? a : b);
    return fwc_tmpl_compare(ctx, OP_LT, a, b, res);
}

int fwc_tmpl_equal(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, int *res)
{
    int au = a->type == TMPL_T_UNDEF, bu = b->type == TMPL_T_UNDEF;
    if (au || bu) {
        *res = au && bu; /* Undefined.__eq__: type(self) is type(other) */
        return 0;
    }
    if (a->type == TMPL_T_NS || b->type == TMPL_T_NS || a->type == TMPL_T_LOOP ||
        b->type == TMPL_T_LOOP) {
        *res = a->type == b->type && a->u.items == b->u.items; /* identity */
        return 0;
    }
    if (a->type == b->type && (a->type == FWC_T_LIST || a->type == FWC_T_TUPLE) &&
        has_special(a, 0) + has_special(b, 0)) {
        *res = a->len == b->len;
        for (uint32_t i = 0; i < a->len && *res; i++)
            if (fwc_tmpl_equal(ctx, &a->u.items[i], &b->u.items[i], res) < 0) return -1;
        return 0;
    }
    return fwc_tmpl_compare(ctx, OP_EQ, a, b, res);
}

/* stable merge sort of (key, value) pairs */
int fwc_tmpl_kv_sort(ExprCtx *ctx, TKV *a, TKV *tmp, uint32_t n, int reverse)
{
    if (n < 2) return 0;
    uint32_t h = n / 2;
    if (fwc_tmpl_kv_sort(ctx, a, tmp, h, reverse) < 0 ||
        fwc_tmpl_kv_sort(ctx, a + h, tmp, n - h, reverse) < 0)
        return -1;
    uint32_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int lt;
        /* stable: take from the right only when strictly smaller (reverse: larger) */
        if (reverse ? fwc_tmpl_lt(ctx, &a[i].key, &a[j].key, &lt)
                    : fwc_tmpl_lt(ctx, &a[j].key, &a[i].key, &lt))
            return -1;
        tmp[k++] = lt ? a[j++] : a[i++];
    }
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, sizeof *a * n);
    return 0;
}
