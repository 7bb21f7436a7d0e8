/* expr_eval.c — evaluation of the expression tree over FwcValues, with Python's
 * semantics, without the GIL.  Scratch values live in the caller's arena; every
 * evaluation is bounded in steps, memory and result sizes (expr.h).  Also the public
 * entry points (compile/eval/free). */
#include "expr/expr.h"
#include <math.h>

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v)     fwc_value_type_name(v)

static int is_num(const FwcValue *v)
{
    return v->type == FWC_T_BOOL || v->type == FWC_T_INT || v->type == FWC_T_FLOAT ||
           v->type == FWC_T_BIGINT;
}
static int is_intlike(const FwcValue *v) { return v->type == FWC_T_BOOL || v->type == FWC_T_INT; }

/* Charges work proportional to n (bytes or items) against the step limit (expr_value.c). */
#define charge fwc_expr_charge

/* ---------- vectors in the scratch arena ---------- */

typedef struct {
    FwcValue *items;
    uint32_t n, cap;
} Vec;

static int vec_push(ExprCtx *ctx, Vec *v, const FwcValue *x)
{
    if (v->n == v->cap) {
        if (v->n >= FWC_EXPR_MAX_ITEMS)
            return FAIL("MemoryError: list result too long (limit %d items)", FWC_EXPR_MAX_ITEMS);
        uint32_t cap = v->cap ? v->cap * 2 : 8;
        if (cap > FWC_EXPR_MAX_ITEMS) cap = FWC_EXPR_MAX_ITEMS;
        FwcValue *items = fwc_expr_alloc(ctx, sizeof *items * cap);
        if (!items) return -1;
        if (v->n) memcpy(items, v->items, sizeof *items * v->n);
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = *x;
    return 0;
}

static FwcValue seq_value(int type, FwcValue *items, uint32_t n)
{
    FwcValue v = { (uint8_t)type, 1, n, { 0 } };
    v.u.items = items;
    return v;
}

/* ---------- iteration ---------- */

typedef struct {
    const FwcValue *v;
    uint32_t i;
    size_t off;
} Iter;

static int iter_init(ExprCtx *ctx, const FwcValue *v, Iter *it)
{
    switch ((FwcType)v->type) {
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_SET:
    case FWC_T_DICT:
    case FWC_T_STR:
    case FWC_T_RANGE:
        it->v = v;
        it->i = 0;
        it->off = 0;
        return 0;
    default: return FAIL("TypeError: '%s' object is not iterable", TN(v));
    }
}

static int iter_next(Iter *it, FwcValue *out)
{
    const FwcValue *v = it->v;
    switch ((FwcType)v->type) {
    case FWC_T_STR: {
        if (it->off >= v->len) return 0;
        size_t k = 1;
        while (it->off + k < v->len && ((unsigned char)v->u.s[it->off + k] & 0xC0) == 0x80) k++;
        out->type = FWC_T_STR;
        out->ascii = (uint8_t)(k == 1);
        out->len = (uint32_t)k;
        out->u.s = v->u.s + it->off;
        it->off += k;
        return 1;
    }
    case FWC_T_DICT:
        if (it->i >= v->len) return 0;
        *out = v->u.pairs[it->i++].key;
        return 1;
    case FWC_T_RANGE:
        if (it->i >= v->len) return 0;
        *out = fwc_int(v->u.range[0] + (int64_t)it->i * v->u.range[1]);
        it->i++;
        return 1;
    default:
        if (it->i >= v->len) return 0;
        *out = v->u.items[it->i++];
        return 1;
    }
}

/* The items of an iterable as an array (borrowed for list/tuple/set). */
static int items_of(ExprCtx *ctx, const FwcValue *v, FwcValue **items, uint32_t *n)
{
    if (v->type == FWC_T_LIST || v->type == FWC_T_TUPLE || v->type == FWC_T_SET) {
        *items = v->u.items;
        *n = v->len;
        return 0;
    }
    Iter it;
    if (iter_init(ctx, v, &it) < 0) return -1;
    Vec out = { 0 };
    FwcValue x;
    while (iter_next(&it, &x))
        if (vec_push(ctx, &out, &x) < 0) return -1;
    if (charge(ctx, out.n) < 0) return -1;
    *items = out.items;
    *n = out.n;
    return 0;
}

/* ---------- hashing rules (dict keys, set items) ---------- */

static int check_hashable(ExprCtx *ctx, const FwcValue *v)
{
    if (v->type == FWC_T_LIST || v->type == FWC_T_DICT || v->type == FWC_T_SET)
        return FAIL("TypeError: unhashable type: '%s'", TN(v));
    if (v->type == FWC_T_TUPLE)
        for (uint32_t i = 0; i < v->len; i++)
            if (check_hashable(ctx, &v->u.items[i]) < 0) return -1;
    return 0;
}

static const FwcValue *dict_find(const FwcValue *d, const FwcValue *key)
{
    if (key->type == FWC_T_STR) {
        for (uint32_t i = d->len; i-- > 0;) {
            const FwcValue *k = &d->u.pairs[i].key;
            if (k->type == FWC_T_STR && k->len == key->len &&
                memcmp(k->u.s, key->u.s, key->len) == 0)
                return &d->u.pairs[i].value;
        }
        return NULL;
    }
    for (uint32_t i = d->len; i-- > 0;)
        if (fwc_expr_equal(&d->u.pairs[i].key, key)) return &d->u.pairs[i].value;
    return NULL;
}

/* dict_find for a str key with the node's inline cache: documents of one kind share
 * their layout, so the index where the key was found last almost always hits.  Keys of
 * a dict are unique (snapshots, literals and the JSON parser deduplicate). */
static const FwcValue *dict_find_hinted(const FwcValue *d, const char *s, uint32_t n,
                                        const ExprNode *node)
{
    int *hp = (int *)&node->hint;
    int h = __atomic_load_n(hp, __ATOMIC_RELAXED);
    if (h >= 0 && (uint32_t)h < d->len) {
        const FwcValue *k = &d->u.pairs[h].key;
        if (k->type == FWC_T_STR && k->len == n && memcmp(k->u.s, s, n) == 0)
            return &d->u.pairs[h].value;
    }
    for (uint32_t i = d->len; i-- > 0;) {
        const FwcValue *k = &d->u.pairs[i].key;
        if (k->type == FWC_T_STR && k->len == n && memcmp(k->u.s, s, n) == 0) {
            __atomic_store_n(hp, (int)i, __ATOMIC_RELAXED);
            return &d->u.pairs[i].value;
        }
    }
    return NULL;
}

static int set_add(ExprCtx *ctx, Vec *s, const FwcValue *x)
{
    if (check_hashable(ctx, x) < 0 || charge(ctx, s->n) < 0) return -1;
    for (uint32_t i = 0; i < s->n; i++)
        if (fwc_expr_equal(&s->items[i], x)) return 0;
    return vec_push(ctx, s, x);
}

typedef struct {
    FwcPair *pairs;
    uint32_t n, cap;
} PairVec;

static int dict_set(ExprCtx *ctx, PairVec *d, const FwcValue *k, const FwcValue *v)
{
    if (check_hashable(ctx, k) < 0 || charge(ctx, d->n) < 0) return -1;
    for (uint32_t i = 0; i < d->n; i++)
        if (fwc_expr_equal(&d->pairs[i].key, k)) {
            d->pairs[i].value = *v;
            return 0;
        }
    if (d->n == d->cap) {
        if (d->n >= FWC_EXPR_MAX_ITEMS)
            return FAIL("MemoryError: dict result too large (limit %d items)", FWC_EXPR_MAX_ITEMS);
        uint32_t cap = d->cap ? d->cap * 2 : 8;
        FwcPair *p = fwc_expr_alloc(ctx, sizeof *p * cap);
        if (!p) return -1;
        if (d->n) memcpy(p, d->pairs, sizeof *p * d->n);
        d->pairs = p;
        d->cap = cap;
    }
    d->pairs[d->n].key = *k;
    d->pairs[d->n].value = *v;
    d->n++;
    return 0;
}

static FwcValue dict_value(PairVec *d)
{
    FwcValue v = { FWC_T_DICT, 1, d->n, { 0 } };
    v.u.pairs = d->pairs;
    return v;
}

/* ---------- comparisons ---------- */

static const char *op_text(int op)
{
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_FLOORDIV: return "//";
    case OP_MOD: return "%";
    case OP_POW: return "** or pow()";
    case OP_LSHIFT: return "<<";
    case OP_RSHIFT: return ">>";
    case OP_BITAND: return "&";
    case OP_BITOR: return "|";
    case OP_BITXOR: return "^";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    }
    return "?";
}

static int test_order(int op, int c)
{
    switch (op) {
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

static int is_subset(const FwcValue *a, const FwcValue *b)
{
    for (uint32_t i = 0; i < a->len; i++) {
        int found = 0;
        for (uint32_t j = 0; j < b->len && !found; j++)
            found = fwc_expr_equal(&a->u.items[i], &b->u.items[j]);
        if (!found) return 0;
    }
    return 1;
}

/* a <op> b for < <= > >=; 0 with *res, -1 on TypeError. */
static int order(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, int *res)
{
    if (is_num(a) && is_num(b)) {
        int c = fwc_num_compare(a, b);
        *res = c == 2 ? 0 : test_order(op, c);
        return 0;
    }
    if (a->type == FWC_T_STR && b->type == FWC_T_STR) {
        if (charge(ctx, a->len < b->len ? a->len : b->len) < 0) return -1;
        size_t n = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->u.s, b->u.s, n);
        if (c == 0) c = a->len < b->len ? -1 : a->len > b->len;
        *res = test_order(op, c);
        return 0;
    }
    if (a->type == b->type && (a->type == FWC_T_LIST || a->type == FWC_T_TUPLE)) {
        uint32_t n = a->len < b->len ? a->len : b->len;
        for (uint32_t i = 0; i < n; i++) {
            if (fwc_expr_equal(&a->u.items[i], &b->u.items[i])) continue;
            return order(ctx, op, &a->u.items[i], &b->u.items[i], res);
        }
        int c = a->len < b->len ? -1 : a->len > b->len;
        *res = test_order(op, c);
        return 0;
    }
    if (a->type == FWC_T_SET && b->type == FWC_T_SET) {
        if (charge(ctx, (size_t)a->len * b->len) < 0) return -1;
        switch (op) {
        case OP_LT: *res = a->len < b->len && is_subset(a, b); break;
        case OP_LE: *res = a->len <= b->len && is_subset(a, b); break;
        case OP_GT: *res = a->len > b->len && is_subset(b, a); break;
        default: *res = a->len >= b->len && is_subset(b, a); break;
        }
        return 0;
    }
    return FAIL("TypeError: '%s' not supported between instances of '%s' and '%s'", op_text(op),
                TN(a), TN(b));
}

static int contains(ExprCtx *ctx, const FwcValue *container, const FwcValue *x, int *res)
{
    switch ((FwcType)container->type) {
    case FWC_T_STR:
        if (x->type != FWC_T_STR)
            return FAIL("TypeError: 'in <string>' requires string as left operand, not %s", TN(x));
        if (charge(ctx, container->len) < 0) return -1;
        *res = x->len == 0 || (x->len <= container->len &&
                               memmem(container->u.s, container->len, x->u.s, x->len) != NULL);
        return 0;
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_SET:
        /* set.__contains__ looks a set up as a frozenset */
        if (container->type == FWC_T_SET && x->type != FWC_T_SET && check_hashable(ctx, x) < 0)
            return -1;
        if (charge(ctx, container->len) < 0) return -1;
        for (uint32_t i = 0; i < container->len; i++)
            if (fwc_expr_equal(&container->u.items[i], x)) {
                *res = 1;
                return 0;
            }
        *res = 0;
        return 0;
    case FWC_T_DICT:
        if (check_hashable(ctx, x) < 0 || charge(ctx, container->len) < 0) return -1;
        *res = dict_find(container, x) != NULL;
        return 0;
    case FWC_T_RANGE: {
        *res = 0;
        int64_t v;
        if (is_intlike(x)) {
            v = x->u.i;
        } else if (x->type == FWC_T_FLOAT && x->u.f == floor(x->u.f) && fabs(x->u.f) < 9.2e18) {
            v = (int64_t)x->u.f;
        } else {
            return 0;
        }
        if (container->len == 0) return 0;
        int64_t start = container->u.range[0], step = container->u.range[1];
        __int128 d = (__int128)v - start;
        if (d % step != 0) return 0;
        __int128 k = d / step;
        *res = k >= 0 && k < container->len;
        return 0;
    }
    default: return FAIL("TypeError: argument of type '%s' is not iterable", TN(container));
    }
}

static int identical(const FwcValue *a, const FwcValue *b)
{
    if (a->type != b->type) return 0;
    switch ((FwcType)a->type) {
    case FWC_T_NULL: return 1;
    case FWC_T_BOOL:
    case FWC_T_INT: return a->u.i == b->u.i;
    case FWC_T_FLOAT: return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
    case FWC_T_RANGE: return a->u.range == b->u.range;
    default: return a->len == b->len && a->u.s == b->u.s;
    }
}

static int compare(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, int *res)
{
    switch (op) {
    case OP_EQ:
    case OP_NE: {
        size_t la =
            a->type == FWC_T_DICT || a->type == FWC_T_SET ? (size_t)a->len * a->len : a->len;
        if (a->type != FWC_T_NULL && !is_num(a) && charge(ctx, la) < 0) return -1;
        int e = fwc_expr_equal(a, b);
        *res = op == OP_EQ ? e : !e;
        return 0;
    }
    case OP_IS: *res = identical(a, b); return 0;
    case OP_ISNOT: *res = !identical(a, b); return 0;
    case OP_IN:
    case OP_NOTIN:
        if (contains(ctx, b, a, res) < 0) return -1;
        if (op == OP_NOTIN) *res = !*res;
        return 0;
    default: return order(ctx, op, a, b, res);
    }
}

/* ---------- arithmetic ---------- */

static int int_overflow(ExprCtx *ctx)
{
    return FAIL("OverflowError: integer result out of supported range");
}

static int int_pow(ExprCtx *ctx, int64_t base, int64_t exp, FwcValue *out)
{
    if (exp < 0) {
        if (base == 0) return FAIL("ZeroDivisionError: 0.0 cannot be raised to a negative power");
        *out = fwc_float(pow((double)base, (double)exp));
        return 0;
    }
    int64_t r = 1, b = base;
    while (exp) {
        if (exp & 1)
            if (__builtin_mul_overflow(r, b, &r)) return int_overflow(ctx);
        exp >>= 1;
        if (exp && __builtin_mul_overflow(b, b, &b)) {
            /* b*b overflowing matters only if b is used again; |base| >= 2 here */
            return int_overflow(ctx);
        }
    }
    *out = fwc_int(r);
    return 0;
}

static int is_odd_integer(double w)
{
    return fabs(w) < 9007199254740992.0 && w == floor(w) && fmod(w, 2.0) != 0.0;
}

static int float_pow(ExprCtx *ctx, double v, double w, FwcValue *out)
{
    if (w == 0.0) {
        *out = fwc_float(1.0);
        return 0;
    }
    if (v == 0.0 && w < 0.0)
        return FAIL("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    if (v < 0.0 && isfinite(v) && isfinite(w) && w != floor(w))
        return FAIL("ValueError: complex results are not supported (negative number raised to a "
                    "fractional power)");
    double r = pow(v, w);
    if (isinf(r) && isfinite(v) && isfinite(w))
        return FAIL("OverflowError: (34, 'Numerical result out of range')");
    (void)is_odd_integer;
    *out = fwc_float(r);
    return 0;
}

static int num_binop(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, FwcValue *out)
{
    int use_float = a->type == FWC_T_FLOAT || b->type == FWC_T_FLOAT;
    if (!use_float && (a->type == FWC_T_BIGINT || b->type == FWC_T_BIGINT)) {
        if (op != OP_DIV) return int_overflow(ctx);
        use_float = 1;
    }
    if (use_float) {
        if (op == OP_LSHIFT || op == OP_RSHIFT || op == OP_BITAND || op == OP_BITOR ||
            op == OP_BITXOR)
            return FAIL("TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op_text(op),
                        TN(a), TN(b));
        double x, y;
        if (fwc_expr_to_float(ctx, a, &x) < 0 || fwc_expr_to_float(ctx, b, &y) < 0) return -1;
        switch (op) {
        case OP_ADD: *out = fwc_float(x + y); return 0;
        case OP_SUB: *out = fwc_float(x - y); return 0;
        case OP_MUL: *out = fwc_float(x * y); return 0;
        case OP_DIV:
            if (y == 0.0)
                return FAIL(a->type == FWC_T_FLOAT || b->type == FWC_T_FLOAT
                                ? "ZeroDivisionError: float division by zero"
                                : "ZeroDivisionError: division by zero");
            *out = fwc_float(x / y);
            return 0;
        case OP_FLOORDIV:
        case OP_MOD: {
            if (y == 0.0)
                return FAIL(op == OP_MOD ? "ZeroDivisionError: float modulo"
                                         : "ZeroDivisionError: float floor division by zero");
            double mod = fmod(x, y), div = (x - mod) / y, floordiv;
            if (mod != 0.0) {
                if ((y < 0) != (mod < 0)) {
                    mod += y;
                    div -= 1.0;
                }
            } else {
                mod = copysign(0.0, y);
            }
            if (div != 0.0) {
                floordiv = floor(div);
                if (div - floordiv > 0.5) floordiv += 1.0;
            } else {
                floordiv = copysign(0.0, x / y);
            }
            *out = fwc_float(op == OP_MOD ? mod : floordiv);
            return 0;
        }
        case OP_POW: return float_pow(ctx, x, y, out);
        }
        return FAIL("TypeError: unsupported operand");
    }
    int64_t x = a->u.i, y = b->u.i, r;
    switch (op) {
    case OP_ADD:
        if (__builtin_add_overflow(x, y, &r)) return int_overflow(ctx);
        break;
    case OP_SUB:
        if (__builtin_sub_overflow(x, y, &r)) return int_overflow(ctx);
        break;
    case OP_MUL:
        if (__builtin_mul_overflow(x, y, &r)) return int_overflow(ctx);
        break;
    case OP_DIV: {
        if (y == 0) return FAIL("ZeroDivisionError: division by zero");
        const int64_t lim = (int64_t)1 << 53;
        double q;
        if (x <= lim && x >= -lim && y <= lim && y >= -lim) q = (double)x / (double)y;
        else q = (double)((long double)x / (long double)y);
        *out = fwc_float(q);
        return 0;
    }
    case OP_FLOORDIV:
        if (y == 0) return FAIL("ZeroDivisionError: integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) return int_overflow(ctx);
        r = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
        break;
    case OP_MOD:
        if (y == 0) return FAIL("ZeroDivisionError: integer division or modulo by zero");
        if (y == -1) {
            r = 0;
            break;
        }
        r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        break;
    case OP_POW: return int_pow(ctx, x, y, out);
    case OP_LSHIFT:
        if (y < 0) return FAIL("ValueError: negative shift count");
        if (x == 0) {
            r = 0;
            break;
        }
        if (y >= 63) return int_overflow(ctx);
        r = (int64_t)((uint64_t)x << y);
        if ((r >> y) != x) return int_overflow(ctx);
        break;
    case OP_RSHIFT:
        if (y < 0) return FAIL("ValueError: negative shift count");
        r = y >= 63 ? (x < 0 ? -1 : 0) : (x >> y);
        break;
    case OP_BITAND:
    case OP_BITOR:
    case OP_BITXOR:
        r = op == OP_BITAND ? (x & y) : op == OP_BITOR ? (x | y) : (x ^ y);
        if (a->type == FWC_T_BOOL && b->type == FWC_T_BOOL) {
            *out = fwc_bool((int)r);
            return 0;
        }
        break;
    default: return FAIL("TypeError: unsupported operand");
    }
    *out = fwc_int(r);
    return 0;
}

static int repeat(ExprCtx *ctx, const FwcValue *seq, const FwcValue *count, FwcValue *out)
{
    int64_t n = count->u.i;
    if (n < 0 || seq->len == 0) n = 0; /* '' * 10**9: no billion empty copies */
    if (seq->type == FWC_T_STR) {
        if (n && (uint64_t)seq->len * (uint64_t)n > FWC_EXPR_MAX_STR)
            return FAIL("MemoryError: string result too long (limit %u bytes)", FWC_EXPR_MAX_STR);
        size_t total = (size_t)seq->len * (size_t)n;
        char *p = fwc_expr_alloc(ctx, total + 1);
        if (!p) return -1;
        for (int64_t i = 0; i < n; i++) memcpy(p + (size_t)i * seq->len, seq->u.s, seq->len);
        p[total] = '\0';
        if (charge(ctx, total) < 0) return -1;
        out->type = FWC_T_STR;
        out->ascii = seq->ascii;
        out->len = (uint32_t)total;
        out->u.s = p;
        return 0;
    }
    if (n && (uint64_t)seq->len * (uint64_t)n > FWC_EXPR_MAX_ITEMS)
        return FAIL("MemoryError: %s result too long (limit %d items)", TN(seq),
                    FWC_EXPR_MAX_ITEMS);
    size_t total = (size_t)seq->len * (size_t)n;
    FwcValue *items = fwc_expr_alloc(ctx, sizeof *items * (total ? total : 1));
    if (!items) return -1;
    for (int64_t i = 0; i < n && seq->len; i++)
        memcpy(items + (size_t)i * seq->len, seq->u.items, sizeof *items * seq->len);
    if (charge(ctx, total) < 0) return -1;
    *out = seq_value(seq->type, items, (uint32_t)total);
    return 0;
}

static int concat(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, FwcValue *out)
{
    if (a->type == FWC_T_STR) {
        size_t n = (size_t)a->len + b->len;
        if (n > FWC_EXPR_MAX_STR)
            return FAIL("MemoryError: string result too long (limit %u bytes)", FWC_EXPR_MAX_STR);
        char *p = fwc_expr_alloc(ctx, n + 1);
        if (!p) return -1;
        memcpy(p, a->u.s, a->len);
        memcpy(p + a->len, b->u.s, b->len);
        p[n] = '\0';
        out->type = FWC_T_STR;
        out->ascii = a->ascii && b->ascii;
        out->len = (uint32_t)n;
        out->u.s = p;
        return charge(ctx, n);
    }
    size_t n = (size_t)a->len + b->len;
    if (n > FWC_EXPR_MAX_ITEMS)
        return FAIL("MemoryError: %s result too long (limit %d items)", TN(a), FWC_EXPR_MAX_ITEMS);
    FwcValue *items = fwc_expr_alloc(ctx, sizeof *items * (n ? n : 1));
    if (!items) return -1;
    if (a->len) memcpy(items, a->u.items, sizeof *items * a->len);
    if (b->len) memcpy(items + a->len, b->u.items, sizeof *items * b->len);
    *out = seq_value(a->type, items, (uint32_t)n);
    return charge(ctx, n);
}

static int set_binop(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, FwcValue *out)
{
    Vec r = { 0 };
    if (charge(ctx, (size_t)a->len * b->len) < 0) return -1;
    for (uint32_t i = 0; i < a->len; i++) {
        int in_b = 0;
        for (uint32_t j = 0; j < b->len && !in_b; j++)
            in_b = fwc_expr_equal(&a->u.items[i], &b->u.items[j]);
        if ((op == OP_BITAND && in_b) || ((op == OP_SUB || op == OP_BITXOR) && !in_b) ||
            op == OP_BITOR)
            if (vec_push(ctx, &r, &a->u.items[i]) < 0) return -1;
    }
    if (op == OP_BITOR || op == OP_BITXOR)
        for (uint32_t j = 0; j < b->len; j++) {
            int in_a = 0;
            for (uint32_t i = 0; i < a->len && !in_a; i++)
                in_a = fwc_expr_equal(&a->u.items[i], &b->u.items[j]);
            if (!in_a && vec_push(ctx, &r, &b->u.items[j]) < 0) return -1;
        }
    *out = seq_value(FWC_T_SET, r.items, r.n);
    return 0;
}

static int binop(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, FwcValue *out)
{
    if (is_num(a) && is_num(b)) return num_binop(ctx, op, a, b, out);
    switch (op) {
    case OP_ADD:
        if (a->type == FWC_T_STR || a->type == FWC_T_LIST || a->type == FWC_T_TUPLE) {
            if (b->type == a->type) return concat(ctx, a, b, out);
            if (a->type == FWC_T_STR)
                return FAIL("TypeError: can only concatenate str (not \"%s\") to str", TN(b));
            return FAIL("TypeError: can only concatenate %s (not \"%s\") to %s", TN(a), TN(b),
                        TN(a));
        }
        break;
    case OP_MUL: {
        const FwcValue *seq = NULL, *cnt = NULL;
        if (a->type == FWC_T_STR || a->type == FWC_T_LIST || a->type == FWC_T_TUPLE)
            seq = a, cnt = b;
        else if (b->type == FWC_T_STR || b->type == FWC_T_LIST || b->type == FWC_T_TUPLE)
            seq = b, cnt = a;
        if (seq) {
            if (!is_intlike(cnt)) {
                if (cnt->type == FWC_T_BIGINT)
                    return FAIL("OverflowError: cannot fit 'int' into an index-sized integer");
                return FAIL("TypeError: can't multiply sequence by non-int of type '%s'", TN(cnt));
            }
            return repeat(ctx, seq, cnt, out);
        }
        break;
    }
    case OP_MOD:
        if (a->type == FWC_T_STR)
            return FAIL("TypeError: string formatting with %% is not supported");
        break;
    case OP_SUB:
    case OP_BITAND:
    case OP_BITOR:
    case OP_BITXOR:
        if (a->type == FWC_T_SET && b->type == FWC_T_SET) return set_binop(ctx, op, a, b, out);
        break;
    }
    return FAIL("TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op_text(op), TN(a),
                TN(b));
}

static int unary(ExprCtx *ctx, int op, const FwcValue *a, FwcValue *out)
{
    if (op == OP_BANG) {
        *out = fwc_bool(!fwc_expr_truthy(a));
        return 0;
    }
    const char *sym = op == OP_SUB ? "-" : op == OP_ADD ? "+" : "~";
    if (is_intlike(a)) {
        int64_t x = a->u.i;
        if (op == OP_SUB) {
            if (x == INT64_MIN) return int_overflow(ctx);
            *out = fwc_int(-x);
        } else if (op == OP_ADD) {
            *out = fwc_int(x);
        } else {
            *out = fwc_int(~x);
        }
        return 0;
    }
    if (a->type == FWC_T_FLOAT && op != OP_TILDE) {
        *out = fwc_float(op == OP_SUB ? -a->u.f : a->u.f);
        return 0;
    }
    if (a->type == FWC_T_BIGINT) {
        if (op == OP_ADD) {
            *out = *a;
            return 0;
        }
        return int_overflow(ctx);
    }
    return FAIL("TypeError: bad operand type for unary %s: '%s'", sym, TN(a));
}

/* ---------- subscripts and slices ---------- */

static int index_of(ExprCtx *ctx, const FwcValue *seq, const FwcValue *idx, FwcValue *out)
{
    if (!is_intlike(idx)) {
        if (idx->type == FWC_T_BIGINT)
            return FAIL("IndexError: cannot fit 'int' into an index-sized integer");
        if (seq->type == FWC_T_STR)
            return FAIL("TypeError: string indices must be integers, not '%s'", TN(idx));
        return FAIL("TypeError: %s indices must be integers or slices, not %s", TN(seq), TN(idx));
    }
    int64_t i = idx->u.i;
    size_t n = seq->type == FWC_T_STR ? fwc_expr_cp_len(seq) : seq->len;
    if (i < 0) i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n) {
        const char *what = seq->type == FWC_T_STR     ? "string"
                           : seq->type == FWC_T_RANGE ? "range object"
                                                      : TN(seq);
        return FAIL("IndexError: %s index out of range", what);
    }
    switch ((FwcType)seq->type) {
    case FWC_T_STR: {
        size_t off = fwc_expr_cp_offset(seq, (size_t)i), k = 1;
        while (off + k < seq->len && ((unsigned char)seq->u.s[off + k] & 0xC0) == 0x80) k++;
        out->type = FWC_T_STR;
        out->ascii = (uint8_t)(k == 1);
        out->len = (uint32_t)k;
        out->u.s = seq->u.s + off;
        return 0;
    }
    case FWC_T_RANGE: *out = fwc_int(seq->u.range[0] + i * seq->u.range[1]); return 0;
    default: *out = seq->u.items[i]; return 0;
    }
}

static int subscript(ExprCtx *ctx, const FwcValue *obj, const FwcValue *key, FwcValue *out)
{
    switch ((FwcType)obj->type) {
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_STR:
    case FWC_T_RANGE: return index_of(ctx, obj, key, out);
    case FWC_T_DICT: {
        if (check_hashable(ctx, key) < 0) return -1;
        const FwcValue *v = dict_find(obj, key);
        if (!v) {
            FwcBuf b = FWC_BUF_INIT;
            fwc_expr_repr_append(&b, key, 0);
            FAIL("KeyError: %.*s", (int)(b.len > 300 ? 300 : b.len), b.data ? b.data : "");
            fwc_buf_free(&b);
            return -1;
        }
        *out = *v;
        return 0;
    }
    default: return FAIL("TypeError: '%s' object is not subscriptable", TN(obj));
    }
}

static int slice_index(ExprCtx *ctx, const FwcValue *v, int64_t *out, int *present)
{
    *present = 0;
    if (!v || v->type == FWC_T_NULL) return 0;
    if (!is_intlike(v)) {
        if (v->type == FWC_T_BIGINT) {
            *out = v->u.s[0] == '-' ? INT64_MIN / 2 : INT64_MAX / 2;
            *present = 1;
            return 0;
        }
        return FAIL(
            "TypeError: slice indices must be integers or None or have an __index__ method");
    }
    *out = v->u.i;
    *present = 1;
    return 0;
}

static int do_slice(ExprCtx *ctx, const FwcValue *obj, const FwcValue *lo, const FwcValue *hi,
                    const FwcValue *st, FwcValue *out)
{
    if (obj->type == FWC_T_DICT) return FAIL("TypeError: unhashable type: 'slice'");
    if (!(obj->type == FWC_T_LIST || obj->type == FWC_T_TUPLE || obj->type == FWC_T_STR ||
          obj->type == FWC_T_RANGE))
        return FAIL("TypeError: '%s' object is not subscriptable", TN(obj));
    int64_t start = 0, stop = 0, step = 1;
    int has_start, has_stop, has_step;
    if (slice_index(ctx, st, &step, &has_step) < 0 ||
        slice_index(ctx, lo, &start, &has_start) < 0 || slice_index(ctx, hi, &stop, &has_stop) < 0)
        return -1;
    if (!has_step) step = 1;
    if (step == 0) return FAIL("ValueError: slice step cannot be zero");
    if (step < -INT64_MAX) step = -INT64_MAX;
    int64_t len = obj->type == FWC_T_STR ? (int64_t)fwc_expr_cp_len(obj) : (int64_t)obj->len;
    if (!has_start) start = step < 0 ? len - 1 : 0;
    else if (start < 0) {
        start += len;
        if (start < 0) start = step < 0 ? -1 : 0;
    } else if (start >= len) start = step < 0 ? len - 1 : len;
    if (!has_stop) stop = step < 0 ? -1 : len;
    else if (stop < 0) {
        stop += len;
        if (stop < 0) stop = step < 0 ? -1 : 0;
    } else if (stop >= len) stop = step < 0 ? len - 1 : len;
    int64_t count = 0;
    if (step > 0) count = stop > start ? (stop - start - 1) / step + 1 : 0;
    else count = start > stop ? (start - stop - 1) / (-step) + 1 : 0;
    if (charge(ctx, (size_t)count) < 0) return -1;
    if (obj->type == FWC_T_RANGE) {
        int64_t *r = fwc_expr_alloc(ctx, 2 * sizeof(int64_t));
        if (!r) return -1;
        int64_t rs = obj->len ? obj->u.range[0] : 0, rst = obj->len ? obj->u.range[1] : 1;
        if (__builtin_mul_overflow(start, rst, &r[0]) || __builtin_add_overflow(r[0], rs, &r[0]) ||
            __builtin_mul_overflow(step, rst, &r[1]))
            return int_overflow(ctx);
        out->type = FWC_T_RANGE;
        out->ascii = 1;
        out->len = (uint32_t)count;
        out->u.range = r;
        return 0;
    }
    if (obj->type == FWC_T_STR) {
        if (obj->ascii) {
            if (step == 1) {
                out->type = FWC_T_STR;
                out->ascii = 1;
                out->len = (uint32_t)count;
                out->u.s = obj->u.s + start;
                return 0;
            }
            char *p = fwc_expr_alloc(ctx, (size_t)count + 1);
            if (!p) return -1;
            for (int64_t k = 0; k < count; k++) p[k] = obj->u.s[start + k * step];
            p[count] = '\0';
            out->type = FWC_T_STR;
            out->ascii = 1;
            out->len = (uint32_t)count;
            out->u.s = p;
            return 0;
        }
        /* code point offsets */
        size_t *offs = fwc_expr_alloc(ctx, sizeof(size_t) * ((size_t)len + 1));
        if (!offs) return -1;
        size_t o = 0;
        for (int64_t k = 0; k < len; k++) {
            offs[k] = o;
            o++;
            while (o < obj->len && ((unsigned char)obj->u.s[o] & 0xC0) == 0x80) o++;
        }
        offs[len] = obj->len;
        if (step == 1) {
            size_t b0 = count ? offs[start] : 0, b1 = count ? offs[start + count] : 0;
            return fwc_expr_new_str(ctx, obj->u.s + b0, b1 - b0, out);
        }
        FwcBuf b = FWC_BUF_INIT;
        if (fwc_buf_grow(&b, 64) < 0) return fwc_expr_nomem(ctx);
        for (int64_t k = 0; k < count; k++) {
            int64_t i = start + k * step;
            if (fwc_buf_append(&b, obj->u.s + offs[i], offs[i + 1] - offs[i]) < 0) {
                fwc_buf_free(&b);
                return fwc_expr_nomem(ctx);
            }
        }
        int r = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
        fwc_buf_free(&b);
        return r;
    }
    FwcValue *items = fwc_expr_alloc(ctx, sizeof *items * (size_t)(count ? count : 1));
    if (!items) return -1;
    for (int64_t k = 0; k < count; k++) items[k] = obj->u.items[start + k * step];
    *out = seq_value(obj->type, items, (uint32_t)count);
    return 0;
}

/* ---------- attributes ---------- */

static int is_method_of(const FwcValue *v, const char *name, size_t n)
{
    int id = fwc_expr_method_id(name, n);
    if (!id) return 0;
    switch ((FwcType)v->type) {
    case FWC_T_STR: return id <= M_ISDIGIT || id == M_INDEX;
    case FWC_T_DICT: return id >= M_GET && id <= M_ITEMS;
    case FWC_T_LIST:
    case FWC_T_TUPLE: return id == M_INDEX || id == M_COUNT;
    default: return 0;
    }
}

static int attribute(ExprCtx *ctx, const FwcValue *obj, const char *name, size_t n,
                     const ExprNode *node, FwcValue *out)
{
    if (obj->type == FWC_T_DICT) {
        /* frappe._dict: the key's value; a key wins over a method of the same name */
        const FwcValue *v = dict_find_hinted(obj, name, (uint32_t)n, node);
        if (v) {
            *out = *v;
            return 0;
        }
        if (is_method_of(obj, name, n))
            return FAIL("TypeError: method '%.*s' must be called, e.g. doc.%.*s(...)", (int)n, name,
                        (int)n, name);
        *out = fwc_null();
        return 0;
    }
    if (is_method_of(obj, name, n))
        return FAIL("TypeError: method '%.*s' must be called", (int)n, name);
    return FAIL("AttributeError: '%s' object has no attribute '%.*s'", TN(obj), (int)n, name);
}

/* ---------- comprehensions ---------- */

typedef int (*CompVisit)(ExprCtx *ctx, void *ud, const FwcValue *elt, const FwcValue *val);

static int unpack(ExprCtx *ctx, const FwcValue *item, FwcValue *dst, int n)
{
    Iter it;
    if (item->type != FWC_T_LIST && item->type != FWC_T_TUPLE && item->type != FWC_T_STR &&
        item->type != FWC_T_DICT && item->type != FWC_T_SET && item->type != FWC_T_RANGE)
        return FAIL("TypeError: cannot unpack non-iterable %s object", TN(item));
    iter_init(ctx, item, &it);
    int got = 0;
    FwcValue x;
    while (iter_next(&it, &x)) {
        if (got == n) return FAIL("ValueError: too many values to unpack (expected %d)", n);
        dst[got++] = x;
    }
    if (got < n)
        return FAIL("ValueError: not enough values to unpack (expected %d, got %d)", n, got);
    return 0;
}

static int comp_run(ExprCtx *ctx, const ExprNode *n, CompVisit visit, void *ud)
{
    FwcValue seq;
    if (fwc_expr_eval_node(ctx, n->b, &seq) < 0) return -1;
    Iter it;
    if (iter_init(ctx, &seq, &it) < 0) return -1;
    FwcValue item, elt, val;
    while (iter_next(&it, &item)) {
        if (++ctx->steps > FWC_EXPR_MAX_STEPS) return charge(ctx, 0);
        if (n->ntargets == 1) ctx->locals[n->slot] = item;
        else if (unpack(ctx, &item, &ctx->locals[n->slot], n->ntargets) < 0) return -1;
        if (n->c) {
            FwcValue c;
            if (fwc_expr_eval_node(ctx, n->c, &c) < 0) return -1;
            if (!fwc_expr_truthy(&c)) continue;
        }
        if (fwc_expr_eval_node(ctx, n->a, &elt) < 0) return -1;
        if (n->d && fwc_expr_eval_node(ctx, n->d, &val) < 0) return -1;
        int r = visit(ctx, ud, &elt, n->d ? &val : NULL);
        if (r) return r < 0 ? -1 : 0;
    }
    return 0;
}

static int visit_push(ExprCtx *ctx, void *ud, const FwcValue *elt, const FwcValue *val)
{
    (void)val;
    return vec_push(ctx, ud, elt);
}
static int visit_set(ExprCtx *ctx, void *ud, const FwcValue *elt, const FwcValue *val)
{
    (void)val;
    return set_add(ctx, ud, elt);
}
static int visit_dict(ExprCtx *ctx, void *ud, const FwcValue *k, const FwcValue *v)
{
    return dict_set(ctx, ud, k, v);
}

static int eval_comp(ExprCtx *ctx, const ExprNode *n, FwcValue *out)
{
    if (n->op == N_DICT) {
        PairVec d = { 0 };
        if (comp_run(ctx, n, visit_dict, &d) < 0) return -1;
        *out = dict_value(&d);
        return 0;
    }
    Vec v = { 0 };
    if (comp_run(ctx, n, n->op == N_SET ? visit_set : visit_push, &v) < 0) return -1;
    /* a generator expression outside any()/all() is evaluated eagerly (as a list) */
    *out = seq_value(n->op == N_SET ? FWC_T_SET : FWC_T_LIST, v.items, v.n);
    return 0;
}

struct AnyAll {
    int want, found;
};
static int visit_anyall(ExprCtx *ctx, void *ud, const FwcValue *elt, const FwcValue *val)
{
    (void)ctx;
    (void)val;
    struct AnyAll *s = ud;
    if (fwc_expr_truthy(elt) == s->want) {
        s->found = 1;
        return 1;
    }
    return 0;
}

/* ---------- builtins ---------- */

typedef struct {
    const char *name;
    int minpos, maxpos;
    const char *const *kw; /* accepted keyword names, NULL-terminated */
} Sig;

/* Maps evaluated call arguments onto parameters; slots[i] present[i]. */
static int bind(ExprCtx *ctx, const char *fname, const char *const *params, int nparams,
                int nrequired, FwcValue *args, int nargs, const char **kw, FwcValue *slots,
                int *present)
{
    for (int i = 0; i < nparams; i++) present[i] = 0;
    int pos = 0;
    for (int i = 0; i < nargs; i++) {
        if (!kw || !kw[i]) {
            if (pos >= nparams)
                return FAIL("TypeError: %s() takes at most %d argument%s (%d given)", fname,
                            nparams, nparams == 1 ? "" : "s", nargs);
            slots[pos] = args[i];
            present[pos++] = 1;
            continue;
        }
        int j = 0;
        while (j < nparams && strcmp(params[j], kw[i]) != 0) j++;
        if (j == nparams)
            return FAIL("TypeError: %s() got an unexpected keyword argument '%s'", fname, kw[i]);
        if (present[j])
            return FAIL("TypeError: %s() got multiple values for argument '%s'", fname, kw[i]);
        slots[j] = args[i];
        present[j] = 1;
    }
    for (int i = 0; i < nrequired; i++)
        if (!present[i])
            return FAIL("TypeError: %s() missing required argument '%s' (pos %d)", fname, params[i],
                        i + 1);
    return 0;
}

static int no_kwargs(ExprCtx *ctx, const char *fname, const char **kw, int nargs)
{
    for (int i = 0; kw && i < nargs; i++)
        if (kw[i]) return FAIL("TypeError: %s() takes no keyword arguments", fname);
    return 0;
}

static int int_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out)
{
    switch ((FwcType)v->type) {
    case FWC_T_BOOL:
    case FWC_T_INT: *out = fwc_int(v->u.i); return 0;
    case FWC_T_BIGINT: return int_overflow(ctx);
    case FWC_T_FLOAT: {
        double f = v->u.f;
        if (f != f) return FAIL("ValueError: cannot convert float NaN to integer");
        if (isinf(f)) return FAIL("OverflowError: cannot convert float infinity to integer");
        double t = trunc(f);
        if (t >= 9223372036854775808.0 || t < -9223372036854775808.0) return int_overflow(ctx);
        *out = fwc_int((int64_t)t);
        return 0;
    }
    case FWC_T_STR: {
        int64_t i;
        int r = fwc_expr_parse_int_text(v->u.s, v->len, &i);
        if (r == 0) {
            *out = fwc_int(i);
            return 0;
        }
        if (r == -2) return int_overflow(ctx);
        FwcBuf b = FWC_BUF_INIT;
        fwc_expr_repr_append(&b, v, 0);
        FAIL("ValueError: invalid literal for int() with base 10: %.*s",
             (int)(b.len > 200 ? 200 : b.len), b.data ? b.data : "");
        fwc_buf_free(&b);
        return -1;
    }
    default:
        return FAIL("TypeError: int() argument must be a string, a bytes-like object or a real "
                    "number, not '%s'",
                    TN(v));
    }
}

static int round_of(ExprCtx *ctx, const FwcValue *x, const FwcValue *nd, FwcValue *out)
{
    int has_nd = nd && nd->type != FWC_T_NULL;
    if (has_nd && !is_intlike(nd)) {
        if (nd->type == FWC_T_BIGINT) return int_overflow(ctx);
        return FAIL("TypeError: '%s' object cannot be interpreted as an integer", TN(nd));
    }
    if (is_intlike(x)) {
        int64_t v = x->u.i;
        if (!has_nd || nd->u.i >= 0) {
            *out = fwc_int(v);
            return 0;
        }
        if (nd->u.i < -18) {
            *out = fwc_int(0);
            return 0;
        }
        int64_t p = 1;
        for (int64_t i = 0; i < -nd->u.i; i++) p *= 10;
        int64_t q = v / p, r = v % p;
        if (r < 0) {
            r += p;
            q--;
        }
        /* half-even on the remainder */
        if (2 * (__int128)r > p || (2 * (__int128)r == p && (q & 1))) q++;
        __int128 res = (__int128)q * p;
        if (res > INT64_MAX || res < INT64_MIN) return int_overflow(ctx);
        *out = fwc_int((int64_t)res);
        return 0;
    }
    if (x->type == FWC_T_FLOAT) {
        if (has_nd) {
            *out = fwc_float(fwc_expr_round_float(x->u.f, nd->u.i));
            return 0;
        }
        double r = nearbyint(x->u.f); /* round-half-even in the default rounding mode */
        FwcValue f = fwc_float(r);
        return int_of(ctx, &f, out);
    }
    if (x->type == FWC_T_BIGINT) return int_overflow(ctx);
    return FAIL("TypeError: type %s doesn't define __round__ method", TN(x));
}

/* merge sort, stable; lt with reverse flips the comparison (stability kept, as Python) */
static int sort_lt(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, int reverse, int *res)
{
    return reverse ? order(ctx, OP_LT, b, a, res) : order(ctx, OP_LT, a, b, res);
}

static int merge_sort(ExprCtx *ctx, FwcValue *v, FwcValue *tmp, uint32_t n, int reverse)
{
    if (n < 2) return 0;
    uint32_t h = n / 2;
    if (merge_sort(ctx, v, tmp, h, reverse) < 0 || merge_sort(ctx, v + h, tmp, n - h, reverse) < 0)
        return -1;
    if (charge(ctx, (size_t)n * 4) < 0) return -1;
    uint32_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int lt;
        if (sort_lt(ctx, &v[j], &v[i], reverse, &lt) < 0) return -1;
        tmp[k++] = lt ? v[j++] : v[i++];
    }
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, sizeof *v * n);
    return 0;
}

static int minmax(ExprCtx *ctx, int is_max, FwcValue *args, int nargs, const char **kw,
                  FwcValue *out)
{
    const char *fname = is_max ? "max" : "min";
    const FwcValue *dflt = NULL;
    int npos = 0;
    for (int i = 0; i < nargs; i++) {
        if (kw && kw[i]) {
            if (strcmp(kw[i], "default") == 0) dflt = &args[i];
            else if (strcmp(kw[i], "key") == 0)
                return FAIL("TypeError: %s() key functions are not supported", fname);
            else
                return FAIL("TypeError: %s() got an unexpected keyword argument '%s'", fname,
                            kw[i]);
        } else {
            args[npos++] = args[i];
        }
    }
    if (npos == 0) return FAIL("TypeError: %s expected at least 1 argument, got 0", fname);
    FwcValue *items;
    uint32_t n;
    if (npos == 1) {
        if (items_of(ctx, &args[0], &items, &n) < 0) return -1;
    } else {
        if (dflt)
            return FAIL(
                "TypeError: Cannot specify a default for %s() with multiple positional arguments",
                fname);
        items = args;
        n = (uint32_t)npos;
    }
    if (n == 0) {
        if (dflt) {
            *out = *dflt;
            return 0;
        }
        return FAIL("ValueError: %s() arg is an empty sequence", fname);
    }
    if (charge(ctx, n) < 0) return -1;
    FwcValue best = items[0];
    for (uint32_t i = 1; i < n; i++) {
        int better;
        if (order(ctx, is_max ? OP_GT : OP_LT, &items[i], &best, &better) < 0) return -1;
        if (better) best = items[i];
    }
    *out = best;
    return 0;
}

static int make_range(ExprCtx *ctx, FwcValue *args, int nargs, FwcValue *out)
{
    if (nargs < 1 || nargs > 3)
        return FAIL("TypeError: range expected at least 1 argument, got %d", nargs);
    int64_t v[3];
    for (int i = 0; i < nargs; i++) {
        if (args[i].type == FWC_T_BIGINT)
            return FAIL("MemoryError: range() too large (limit %d items)", FWC_EXPR_MAX_RANGE);
        if (!is_intlike(&args[i]))
            return FAIL("TypeError: '%s' object cannot be interpreted as an integer", TN(&args[i]));
        v[i] = args[i].u.i;
    }
    int64_t start = nargs == 1 ? 0 : v[0], stop = nargs == 1 ? v[0] : v[1],
            step = nargs == 3 ? v[2] : 1;
    if (step == 0) return FAIL("ValueError: range() arg 3 must not be zero");
    __int128 count;
    if (step > 0) count = stop > start ? ((__int128)stop - start - 1) / step + 1 : 0;
    else count = start > stop ? ((__int128)start - stop - 1) / -(__int128)step + 1 : 0;
    if (count > FWC_EXPR_MAX_RANGE)
        return FAIL("MemoryError: range() too large (limit %d items)", FWC_EXPR_MAX_RANGE);
    int64_t *r = fwc_expr_alloc(ctx, 2 * sizeof(int64_t));
    if (!r) return -1;
    r[0] = start;
    r[1] = step;
    out->type = FWC_T_RANGE;
    out->ascii = 1;
    out->len = (uint32_t)count;
    out->u.range = r;
    return 0;
}

/* One function per builtin, with one signature: the evaluated arguments (kw[i] the
 * keyword name of args[i], or NULL; kw itself may be NULL).  call_builtin checks the
 * arity flags of the table before calling (args[0] may be unset when nargs is 0). */
typedef int (*BuiltinFn)(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out);

static int b_len(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)nargs;
    (void)kw;
    const FwcValue *a = &args[0];
    switch ((FwcType)a->type) {
    case FWC_T_STR: *out = fwc_int((int64_t)fwc_expr_cp_len(a)); return 0;
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_SET:
    case FWC_T_DICT:
    case FWC_T_RANGE: *out = fwc_int(a->len); return 0;
    default: return FAIL("TypeError: object of type '%s' has no len()", TN(a));
    }
}

static int b_int(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    if (nargs == 0) {
        *out = fwc_int(0);
        return 0;
    }
    return int_of(ctx, &args[0], out);
}

static int b_float(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    double f = 0.0;
    if (nargs && fwc_expr_to_float(ctx, &args[0], &f) < 0) return -1;
    *out = fwc_float(f);
    return 0;
}

static int b_str(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    if (nargs == 0) return fwc_expr_new_str(ctx, "", 0, out);
    return fwc_expr_str_of(ctx, &args[0], out);
}

static int b_bool(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)ctx;
    (void)kw;
    *out = fwc_bool(nargs ? fwc_expr_truthy(&args[0]) : 0);
    return 0;
}

static int b_abs(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)nargs;
    (void)kw;
    const FwcValue *a = &args[0];
    if (is_intlike(a)) {
        if (a->u.i == INT64_MIN) return int_overflow(ctx);
        *out = fwc_int(a->u.i < 0 ? -a->u.i : a->u.i);
        return 0;
    }
    if (a->type == FWC_T_FLOAT) {
        *out = fwc_float(fabs(a->u.f));
        return 0;
    }
    if (a->type == FWC_T_BIGINT) return int_overflow(ctx);
    return FAIL("TypeError: bad operand type for abs(): '%s'", TN(a));
}

static int b_min(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    return minmax(ctx, 0, args, nargs, kw, out);
}

static int b_max(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    return minmax(ctx, 1, args, nargs, kw, out);
}

static int b_round(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    static const char *const P[] = { "number", "ndigits" };
    FwcValue s[2];
    int pr[2];
    if (bind(ctx, "round", P, 2, 1, args, nargs, kw, s, pr) < 0) return -1;
    return round_of(ctx, &s[0], pr[1] ? &s[1] : NULL, out);
}

static int b_sum(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    static const char *const P[] = { "iterable", "start" };
    FwcValue s[2];
    int pr[2];
    if (bind(ctx, "sum", P, 2, 1, args, nargs, kw, s, pr) < 0) return -1;
    FwcValue acc = pr[1] ? s[1] : fwc_int(0);
    if (acc.type == FWC_T_STR)
        return FAIL("TypeError: sum() can't sum strings [use ''.join(seq) instead]");
    FwcValue *items;
    uint32_t cnt;
    if (items_of(ctx, &s[0], &items, &cnt) < 0) return -1;
    if (charge(ctx, cnt) < 0) return -1;
    for (uint32_t i = 0; i < cnt; i++)
        if (binop(ctx, OP_ADD, &acc, &items[i], &acc) < 0) return -1;
    *out = acc;
    return 0;
}

static int any_all(ExprCtx *ctx, int want, const FwcValue *a, FwcValue *out)
{
    FwcValue *items;
    uint32_t cnt;
    if (items_of(ctx, a, &items, &cnt) < 0) return -1;
    int found = 0;
    for (uint32_t i = 0; i < cnt && !found; i++) found = fwc_expr_truthy(&items[i]) == want;
    *out = fwc_bool(want ? found : !found);
    return 0;
}

static int b_any(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)nargs;
    (void)kw;
    return any_all(ctx, 1, &args[0], out);
}

static int b_all(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)nargs;
    (void)kw;
    return any_all(ctx, 0, &args[0], out);
}

static int b_sorted(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    int reverse = 0, npos = 0;
    for (int i = 0; i < nargs; i++) {
        if (kw && kw[i]) {
            if (strcmp(kw[i], "reverse") == 0) reverse = fwc_expr_truthy(&args[i]);
            else if (strcmp(kw[i], "key") == 0)
                return FAIL("TypeError: sorted() key functions are not supported");
            else return FAIL("TypeError: sorted() got an unexpected keyword argument '%s'", kw[i]);
        } else {
            npos++;
        }
    }
    if (npos != 1) return FAIL("TypeError: sorted expected 1 argument, got %d", npos);
    FwcValue *items;
    uint32_t cnt;
    if (items_of(ctx, &args[0], &items, &cnt) < 0) return -1;
    FwcValue *copy = fwc_expr_alloc(ctx, sizeof *copy * (cnt ? cnt : 1) * 2);
    if (!copy) return -1;
    if (cnt) memcpy(copy, items, sizeof *copy * cnt);
    if (merge_sort(ctx, copy, copy + cnt, cnt, reverse) < 0) return -1;
    *out = seq_value(FWC_T_LIST, copy, cnt);
    return 0;
}

/* list(x) / tuple(x) */
static int to_sequence(ExprCtx *ctx, int type, FwcValue *args, int nargs, FwcValue *out)
{
    if (nargs == 0) {
        *out = seq_value(type, NULL, 0);
        return 0;
    }
    const FwcValue *a = &args[0];
    FwcValue *items;
    uint32_t cnt;
    if (items_of(ctx, a, &items, &cnt) < 0) return -1;
    if (type == FWC_T_TUPLE && a->type == FWC_T_TUPLE) {
        *out = *a;
        return 0;
    }
    FwcValue *copy = fwc_expr_alloc(ctx, sizeof *copy * (cnt ? cnt : 1));
    if (!copy) return -1;
    if (cnt) memcpy(copy, items, sizeof *copy * cnt);
    *out = seq_value(type, copy, cnt);
    return charge(ctx, cnt);
}

static int b_list(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    return to_sequence(ctx, FWC_T_LIST, args, nargs, out);
}

static int b_tuple(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    return to_sequence(ctx, FWC_T_TUPLE, args, nargs, out);
}

static int b_set(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    Vec s = { 0 };
    if (nargs) {
        FwcValue *items;
        uint32_t cnt;
        if (items_of(ctx, &args[0], &items, &cnt) < 0) return -1;
        for (uint32_t i = 0; i < cnt; i++)
            if (set_add(ctx, &s, &items[i]) < 0) return -1;
    }
    *out = seq_value(FWC_T_SET, s.items, s.n);
    return 0;
}

static int b_dict(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    PairVec d = { 0 };
    const FwcValue *a = &args[0];
    int npos = 0;
    for (int i = 0; i < nargs; i++)
        if (!kw || !kw[i]) npos++;
    if (npos > 1) return FAIL("TypeError: dict expected at most 1 argument, got %d", npos);
    if (npos == 1) {
        if (a->type == FWC_T_DICT) {
            for (uint32_t i = 0; i < a->len; i++)
                if (dict_set(ctx, &d, &a->u.pairs[i].key, &a->u.pairs[i].value) < 0) return -1;
        } else {
            FwcValue *items;
            uint32_t cnt;
            if (items_of(ctx, a, &items, &cnt) < 0) return -1;
            for (uint32_t i = 0; i < cnt; i++) {
                FwcValue kv[2];
                const FwcValue *it = &items[i];
                if (!(it->type == FWC_T_LIST || it->type == FWC_T_TUPLE || it->type == FWC_T_STR ||
                      it->type == FWC_T_SET || it->type == FWC_T_DICT || it->type == FWC_T_RANGE))
                    return FAIL("TypeError: cannot convert dictionary update sequence element #%u "
                                "to a sequence",
                                i);
                Iter iter;
                iter_init(ctx, it, &iter);
                int got = 0;
                FwcValue x;
                while (iter_next(&iter, &x)) {
                    if (got < 2) kv[got] = x;
                    got++;
                }
                if (got != 2)
                    return FAIL("ValueError: dictionary update sequence element #%u has length %d; "
                                "2 is required",
                                i, got);
                if (dict_set(ctx, &d, &kv[0], &kv[1]) < 0) return -1;
            }
        }
    }
    for (int i = 0; i < nargs; i++)
        if (kw && kw[i]) {
            FwcValue k;
            if (fwc_expr_new_str(ctx, kw[i], strlen(kw[i]), &k) < 0 ||
                dict_set(ctx, &d, &k, &args[i]) < 0)
                return -1;
        }
    *out = dict_value(&d);
    return 0;
}

static int b_range(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    (void)kw;
    return make_range(ctx, args, nargs, out);
}

/* arity checks call_builtin makes before calling fn */
enum {
    BF_KWARGS = 1,  /* takes keyword arguments (else "takes no keyword arguments") */
    BF_ONE = 2,     /* exactly one argument */
    BF_OPT_ONE = 4, /* at most one argument */
};

typedef struct {
    const char *name;
    BuiltinFn fn;
    int flags;
} BuiltinDef;

/* indexed by ExprBuiltin */
static const BuiltinDef BUILTINS[] = {
    [B_LEN] = { "len", b_len, BF_ONE },
    [B_INT] = { "int", b_int, BF_OPT_ONE },
    [B_FLOAT] = { "float", b_float, BF_OPT_ONE },
    [B_STR] = { "str", b_str, BF_OPT_ONE },
    [B_BOOL] = { "bool", b_bool, BF_OPT_ONE },
    [B_ABS] = { "abs", b_abs, BF_ONE },
    [B_MIN] = { "min", b_min, BF_KWARGS },
    [B_MAX] = { "max", b_max, BF_KWARGS },
    [B_ROUND] = { "round", b_round, BF_KWARGS },
    [B_SUM] = { "sum", b_sum, BF_KWARGS },
    [B_ANY] = { "any", b_any, BF_ONE },
    [B_ALL] = { "all", b_all, BF_ONE },
    [B_SORTED] = { "sorted", b_sorted, BF_KWARGS },
    [B_LIST] = { "list", b_list, BF_OPT_ONE },
    [B_TUPLE] = { "tuple", b_tuple, BF_OPT_ONE },
    [B_DICT] = { "dict", b_dict, BF_KWARGS },
    [B_RANGE] = { "range", b_range, 0 },
    [B_SET] = { "set", b_set, BF_OPT_ONE },
};

static int call_builtin(ExprCtx *ctx, const ExprNode *n, FwcValue *out)
{
    int id = n->op, nargs = n->nargs;
    /* any()/all() over a generator expression short-circuit, as Python's do */
    if ((id == B_ANY || id == B_ALL) && nargs == 1 && !n->kwnames[0] &&
        n->args[0]->kind == N_COMP && n->args[0]->op == N_GEN) {
        struct AnyAll s = { id == B_ANY, 0 };
        if (comp_run(ctx, n->args[0], visit_anyall, &s) < 0) return -1;
        *out = fwc_bool(id == B_ANY ? s.found : !s.found);
        return 0;
    }
    FwcValue stack[8], *args = stack;
    if (nargs > 8 && !(args = fwc_expr_alloc(ctx, sizeof *args * (size_t)nargs))) return -1;
    for (int i = 0; i < nargs; i++)
        if (fwc_expr_eval_node(ctx, n->args[i], &args[i]) < 0) return -1;
    if (id < 1 || (size_t)id >= sizeof BUILTINS / sizeof BUILTINS[0])
        return FAIL("TypeError: unknown builtin");
    const BuiltinDef *b = &BUILTINS[id];
    const char **kw = n->kwnames;
    if (!(b->flags & BF_KWARGS) && no_kwargs(ctx, b->name, kw, nargs) < 0) return -1;
    if ((b->flags & BF_ONE) && nargs != 1)
        return FAIL("TypeError: %s() takes exactly one argument (%d given)", b->name, nargs);
    if ((b->flags & BF_OPT_ONE) && nargs > 1) {
        if (id == B_INT) return FAIL("TypeError: int() with a base is not supported");
        return FAIL("TypeError: %s expected at most 1 argument, got %d", b->name, nargs);
    }
    return b->fn(ctx, args, nargs, kw, out);
}

/* ---------- the node dispatcher ---------- */

static int eval_seq_display(ExprCtx *ctx, const ExprNode *n, int type, FwcValue *out)
{
    if (type == FWC_T_SET) {
        Vec s = { 0 };
        for (int i = 0; i < n->nargs; i++) {
            FwcValue x;
            if (fwc_expr_eval_node(ctx, n->args[i], &x) < 0 || set_add(ctx, &s, &x) < 0) return -1;
        }
        *out = seq_value(FWC_T_SET, s.items, s.n);
        return 0;
    }
    FwcValue *items = NULL;
    if (n->nargs && !(items = fwc_expr_alloc(ctx, sizeof *items * n->nargs))) return -1;
    for (int i = 0; i < n->nargs; i++)
        if (fwc_expr_eval_node(ctx, n->args[i], &items[i]) < 0) return -1;
    *out = seq_value(type, items, n->nargs);
    return 0;
}

int fwc_expr_eval_node(ExprCtx *ctx, const ExprNode *n, FwcValue *out)
{
    if (++ctx->steps > FWC_EXPR_MAX_STEPS) return charge(ctx, 0);
    switch ((ExprNodeKind)n->kind) {
    case N_CONST: *out = n->k; return 0;
    case N_VAR: *out = ctx->vars[n->slot]; return 0;
    case N_LOCAL: *out = ctx->locals[n->slot]; return 0;
    case N_LIST: return eval_seq_display(ctx, n, FWC_T_LIST, out);
    case N_TUPLE: return eval_seq_display(ctx, n, FWC_T_TUPLE, out);
    case N_SET: return eval_seq_display(ctx, n, FWC_T_SET, out);
    case N_DICT: {
        PairVec d = { 0 };
        for (int i = 0; i + 1 < n->nargs; i += 2) {
            FwcValue k, v;
            if (fwc_expr_eval_node(ctx, n->args[i], &k) < 0 ||
                fwc_expr_eval_node(ctx, n->args[i + 1], &v) < 0 || dict_set(ctx, &d, &k, &v) < 0)
                return -1;
        }
        *out = dict_value(&d);
        return 0;
    }
    case N_ATTR: {
        FwcValue obj;
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0) return -1;
        return attribute(ctx, &obj, n->name, n->name_len, n, out);
    }
    case N_SUBSCRIPT: {
        FwcValue obj, key;
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0 || fwc_expr_eval_node(ctx, n->b, &key) < 0)
            return -1;
        if (obj.type == FWC_T_DICT && key.type == FWC_T_STR) {
            const FwcValue *v = dict_find_hinted(&obj, key.u.s, key.len, n);
            if (v) {
                *out = *v;
                return 0;
            }
        }
        return subscript(ctx, &obj, &key, out);
    }
    case N_SLICE: {
        FwcValue obj, parts[3];
        const ExprNode *pn[3] = { n->b, n->c, n->d };
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0) return -1;
        for (int i = 0; i < 3; i++)
            if (pn[i] && fwc_expr_eval_node(ctx, pn[i], &parts[i]) < 0) return -1;
        return do_slice(ctx, &obj, pn[0] ? &parts[0] : NULL, pn[1] ? &parts[1] : NULL,
                        pn[2] ? &parts[2] : NULL, out);
    }
    case N_UNARY: {
        FwcValue a;
        if (fwc_expr_eval_node(ctx, n->a, &a) < 0) return -1;
        return unary(ctx, n->op, &a, out);
    }
    case N_BINOP: {
        FwcValue a, b;
        if (fwc_expr_eval_node(ctx, n->a, &a) < 0 || fwc_expr_eval_node(ctx, n->b, &b) < 0)
            return -1;
        return binop(ctx, n->op, &a, &b, out);
    }
    case N_AND:
    case N_OR: {
        if (fwc_expr_eval_node(ctx, n->a, out) < 0) return -1;
        int t = fwc_expr_truthy(out);
        if (n->kind == N_AND ? !t : t) return 0;
        return fwc_expr_eval_node(ctx, n->b, out);
    }
    case N_COMPARE: {
        FwcValue left, right;
        if (fwc_expr_eval_node(ctx, n->args[0], &left) < 0) return -1;
        for (int i = 0; i + 1 < n->nargs; i++) {
            if (fwc_expr_eval_node(ctx, n->args[i + 1], &right) < 0) return -1;
            int r;
            if (compare(ctx, n->ops[i], &left, &right, &r) < 0) return -1;
            if (!r) {
                *out = fwc_bool(0);
                return 0;
            }
            left = right;
        }
        *out = fwc_bool(1);
        return 0;
    }
    case N_IFEXP: {
        FwcValue c;
        if (fwc_expr_eval_node(ctx, n->b, &c) < 0) return -1;
        return fwc_expr_eval_node(ctx, fwc_expr_truthy(&c) ? n->a : n->c, out);
    }
    case N_COMP: return eval_comp(ctx, n, out);
    case N_CALL_BUILTIN: return call_builtin(ctx, n, out);
    case N_CALL_UTIL:
    case N_CALL_METHOD: {
        FwcValue recv, stack[8], *args = stack;
        if (n->kind == N_CALL_METHOD && fwc_expr_eval_node(ctx, n->a, &recv) < 0) return -1;
        if (n->nargs > 8 && !(args = fwc_expr_alloc(ctx, sizeof *args * n->nargs))) return -1;
        for (int i = 0; i < n->nargs; i++)
            if (fwc_expr_eval_node(ctx, n->args[i], &args[i]) < 0) return -1;
        if (n->kind == N_CALL_UTIL)
            return fwc_expr_call_util(ctx, n->op, args, n->nargs, n->kwnames, out);
        if (recv.type == FWC_T_DICT) {
            /* a key wins over the method of the same name (and a value is not callable) */
            for (uint32_t i = recv.len; i-- > 0;) {
                const FwcValue *k = &recv.u.pairs[i].key;
                if (k->type == FWC_T_STR && k->len == n->name_len &&
                    memcmp(k->u.s, n->name, n->name_len) == 0)
                    return FAIL("TypeError: '%s' object is not callable",
                                TN(&recv.u.pairs[i].value));
            }
        }
        return fwc_expr_call_method(ctx, n->op, &recv, args, n->nargs, n->kwnames, out);
    }
    }
    if (n->kind >= N_EXT && ctx->ext_eval) return ctx->ext_eval(ctx, n, out);
    return FAIL("SystemError: corrupt expression");
}

/* ---------- public entry points ---------- */

struct FwcExpr {
    FwcArena arena;
    ExprNode *root;
};

static int resolve_condition(void *ud, const char *name, size_t n)
{
    (void)ud;
    return n == 3 && memcmp(name, "doc", 3) == 0 ? 0 : -1;
}

FwcExpr *fwc_expr_compile(const char *src, size_t len, FwcError *err)
{
    FwcExpr *e = calloc(1, sizeof *e);
    if (!e) {
        fwc_error_set(err, FWC_ENOMEM, "out of memory");
        return NULL;
    }
    ExprParser *p = malloc(sizeof *p);
    if (!p) {
        free(e);
        fwc_error_set(err, FWC_ENOMEM, "out of memory");
        return NULL;
    }
    fwc_expr_parser_init(p, src, len, 0, 1, 1, &e->arena, resolve_condition, NULL, err);
    if (memchr(src, '\0', len)) {
        fwc_error_set(err, FWC_EVALUE, "source code cannot contain null bytes");
        err->line = 1;
        err->col = 1;
        goto fail;
    }
    if (fwc_expr_lex_next(p) < 0) goto fail;
    if (p->tok.kind == TK_EOF) {
        fwc_error_set(err, FWC_EVALUE, "empty expression");
        err->line = p->tok.line;
        err->col = p->tok.col;
        goto fail;
    }
    e->root = fwc_expr_parse_expression(p, 1);
    if (!e->root) goto fail;
    if (p->tok.kind != TK_EOF) {
        const char *why = "invalid syntax";
        if (p->tok.kind == TK_OP && p->tok.op == OP_ASSIGN)
            why = "assignments are not supported (did you mean '=='?)";
        else if (p->tok.kind == TK_OP && p->tok.op == OP_SEMI)
            why = "only one expression is allowed";
        else if (p->tok.kind == TK_OP &&
                 (p->tok.op == OP_RPAR || p->tok.op == OP_RSQB || p->tok.op == OP_RBRACE))
            why = "unmatched closing bracket";
        else if (p->tok.kind == TK_NAME && p->tok.slen == 3 && memcmp(p->tok.s, "for", 3) == 0)
            why = "generator expressions must be parenthesized";
        fwc_error_set(err, FWC_EVALUE, "%s", why);
        err->line = p->tok.line;
        err->col = p->tok.col;
        goto fail;
    }
    free(p);
    return e;
fail:
    if (err->code == FWC_OK) fwc_error_set(err, FWC_EVALUE, "invalid syntax");
    if (strcmp(err->message, "out of memory") == 0) err->code = FWC_ENOMEM;
    free(p);
    fwc_expr_free(e);
    return NULL;
}

void fwc_expr_free(FwcExpr *e)
{
    if (!e) return;
    fwc_arena_free(&e->arena);
    free(e);
}

FwcStatus fwc_expr_eval(const FwcExpr *e, const FwcValue *doc, FwcArena *scratch, FwcValue *out,
                        FwcError *err)
{
    ExprCtx ctx;
    ctx.vars = doc;
    ctx.arena = scratch;
    ctx.steps = 0;
    ctx.err = err;
    ctx.now_us = 0;
    ctx.ext_eval = NULL;
    ctx.ext_ud = NULL;
    err->code = FWC_OK;
    err->line = err->col = 0;
    err->message[0] = '\0';
    if (fwc_expr_eval_node(&ctx, e->root, out) < 0) return err->code ? err->code : FWC_ECONDITION;
    return FWC_OK;
}

FwcStatus fwc_expr_test(const FwcExpr *e, const FwcValue *doc, int *result, FwcError *err)
{
    FwcArena scratch = { 0 };
    FwcValue v;
    FwcStatus st = fwc_expr_eval(e, doc, &scratch, &v, err);
    if (st == FWC_OK) *result = fwc_expr_truthy(&v);
    fwc_arena_free(&scratch);
    return st;
}
