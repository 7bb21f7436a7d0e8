/* tmpl_shape.c — what a template reads of `doc` (an FwcShape), so that a request
 * snapshots only that.  Each use of a value asks something of it:
 *   x.name, x["name"], x.get("name"[, d])   the key `name` of x, with whatever the
 *                                            result is asked
 *   x[0] (a constant index)                  one item of x
 *   {% for v in x %}                         x's items, as v is asked (and a dict whole)
 *   x | length (count, len)                  x's size: a dict whole, no item
 *   x | map(attribute="name")                the key `name` of each item
 *   {% set v = x %}, {% with v = x %}        whatever v is asked (ns.a = x: whole)
 * Anything else asks for the whole value.  A variable is asked the union of all its
 * uses wherever it is bound (names are template-wide here), so the analysis repeats
 * until nothing grows.  The result is conservative: a value read in a way not listed
 * is snapshotted whole, so rendering on the smaller snapshot gives the same output. */
#include "tmpl/tmpl.h"
#include "tmpl/tmpl.h"

#define MAX_PASSES 16
/* Shape nodes one analysis may visit while merging (self-referencing loops can double a
 * shape per pass); past it the rest is read whole. */
#define MAX_MERGE_WORK 200000

typedef struct {
    const FwcTemplate *t;
    FwcShape **vars; /* per variable slot: what its uses ask */
    FwcShape *whole; /* a shared "whole" demand */
    int changed, failed;
    size_t budget; /* shape nodes merges may still visit */
} Scan;

static int name_is(const ExprNode *e, const char *s)
{
    return e->name && e->name_len == strlen(s) && memcmp(e->name, s, e->name_len) == 0;
}

static int is_str_const(const ExprNode *e)
{
    return e && e->kind == N_CONST && e->k.type == FWC_T_STR;
}

/* 3 or -3 (a unary minus on a constant) */
static int is_int_const(const ExprNode *e)
{
    if (e && e->kind == N_UNARY && e->op == OP_SUB) e = e->a;
    return e && e->kind == N_CONST && e->k.type == FWC_T_INT;
}

/* dst |= src; only growth of a variable's shape (not of a temporary demand) means
 * another pass is needed. */
static int has_keywords(const ExprNode *e)
{
    for (int i = 0; e->kwnames && i < e->nargs; i++)
        if (e->kwnames[i]) return 1;
    return 0;
}

static void merge(Scan *s, FwcShape *dst, const FwcShape *src, int into_variable)
{
    int grew = 0;
    if (!s->failed && fwc_shape_merge(dst, src, &grew, &s->budget) < 0) s->failed = 1;
    if (into_variable && grew) s->changed = 1;
}

static void use(Scan *s, const ExprNode *e, const FwcShape *demand);

/* x is asked `demand` through its key `name` */
static void use_key(Scan *s, const ExprNode *x, const char *name, size_t n, const FwcShape *demand)
{
    FwcShape *d = fwc_shape_new(), *sub = d ? fwc_shape_key(d, name, n) : NULL;
    if (!sub) s->failed = 1;
    else {
        merge(s, sub, demand, 0);
        use(s, x, d);
    }
    fwc_shape_free(d);
}

/* x is asked for its items (each `demand`, or none when NULL) and, if a dict, whole */
static void use_items(Scan *s, const ExprNode *x, const FwcShape *demand)
{
    FwcShape *d = fwc_shape_new();
    if (!d || (demand && !(d->elems = fwc_shape_new()))) s->failed = 1;
    else {
        d->dict_whole = 1;
        if (demand) merge(s, d->elems, demand, 0);
        use(s, x, d);
    }
    fwc_shape_free(d);
}

static void use_children(Scan *s, const ExprNode *e)
{
    use(s, e->a, s->whole);
    use(s, e->b, s->whole);
    use(s, e->c, s->whole);
    use(s, e->d, s->whole);
    for (int i = 0; i < e->nargs; i++) use(s, e->args[i], s->whole);
}

static void use(Scan *s, const ExprNode *e, const FwcShape *demand)
{
    if (!e || s->failed) return;
    switch (e->kind) {
    case NJ_VAR:
        if (e->slot >= 0 && e->slot < s->t->nvars) merge(s, s->vars[e->slot], demand, 1);
        return;
    case NJ_GETATTR: use_key(s, e->a, e->name, e->name_len, demand); return;
    case NJ_GETITEM:
        if (is_str_const(e->b)) {
            use_key(s, e->a, e->b->k.u.s, e->b->k.len, demand);
            return;
        }
        if (is_int_const(e->b)) { /* a list's item (a dict with int keys: whole) */
            use_items(s, e->a, demand);
            return;
        }
        break;
    case N_CALL_METHOD:
        if (e->op == M_GET && e->nargs >= 1 && e->nargs <= 2 && is_str_const(e->args[0]) &&
            !has_keywords(e)) {
            use_key(s, e->a, e->args[0]->k.u.s, e->args[0]->k.len, demand);
            for (int i = 1; i < e->nargs; i++) use(s, e->args[i], demand); /* the default */
            return;
        }
        break;
    case NJ_FILTER:
        if (e->nargs == 0 && (name_is(e, "length") || name_is(e, "count") || name_is(e, "len"))) {
            use_items(s, e->a, NULL);
            return;
        }
        if (name_is(e, "map") && e->nargs == 1 && e->kwnames && e->kwnames[0] &&
            strcmp(e->kwnames[0], "attribute") == 0 && is_str_const(e->args[0]) &&
            !memchr(e->args[0]->k.u.s, '.', e->args[0]->k.len)) {
            /* (a dotted or numeric path is Jinja's attrgetter: whole items) */
            const char *a = e->args[0]->k.u.s;
            size_t n = e->args[0]->k.len, digits = 0;
            while (digits < n && a[digits] >= '0' && a[digits] <= '9') digits++;
            if (n && digits < n) {
                FwcShape *item = fwc_shape_new(), *sub = item ? fwc_shape_key(item, a, n) : NULL;
                if (!sub) s->failed = 1;
                else {
                    sub->whole = 1;
                    use_items(s, e->a, item);
                }
                fwc_shape_free(item);
                return;
            }
        }
        break;
    case NJ_CYCLE: /* loop.cycle(...), loop.changed(...): the loop's items are not read */
    case NJ_CHANGED:
        for (int i = 0; i < e->nargs; i++) use(s, e->args[i], s->whole);
        return;
    default: break;
    }
    use_children(s, e);
}

/* The loop variable exposes the iterable's items (loop.previtem, {{ loop }}...) unless
 * only its counters are read. */
static int loop_reads_items(Scan *s, int slot)
{
    const FwcShape *l = s->vars[slot];
    if (l->whole || l->elems || l->dict_whole) return 1;
    static const char *const counters[] = { "index", "index0", "revindex", "revindex0", "first",
                                            "last",  "length", "depth",    "depth0",    NULL };
    for (size_t i = 0; i < l->nkeys; i++) {
        int ok = 0;
        for (int c = 0; counters[c] && !ok; c++) ok = strcmp(l->keys[i].name, counters[c]) == 0;
        if (!ok) return 1;
    }
    return 0;
}

static void scan(Scan *s, const TNode *n)
{
    for (; n && !s->failed; n = n->next) {
        switch (n->kind) {
        case T_DATA: break;
        case T_OUTPUT:
        case T_IF: use(s, n->expr, s->whole); break;
        case T_FOR:
            /* nslots -1: a single name (a tuple target unpacks: items read whole) */
            if (n->nslots == -1 && !loop_reads_items(s, n->loop_slot))
                use_items(s, n->expr, s->vars[n->slots[0]]);
            else use(s, n->expr, s->whole);
            use(s, n->filter, s->whole);
            break;
        case T_SET: /* a single name; a tuple or a namespace attribute (ns.a = x) reads whole */
            use(s, n->expr, n->nslots == -1 && !n->attrs[0] ? s->vars[n->slots[0]] : s->whole);
            break;
        case T_WITH:
            for (int i = 0; i < n->nslots; i++) use(s, n->values[i], s->vars[n->slots[i]]);
            break;
        case T_SETBLOCK: break;
        default: /* a statement this analysis does not know: read everything */
            merge(s, s->vars[s->t->doc_slot], s->whole, 1);
            break;
        }
        scan(s, n->body);
        scan(s, n->orelse);
    }
}

int fwc_tmpl_shape(const FwcTemplate *t, FwcShape *shape)
{
    Scan s = {
        t, calloc((size_t)t->nvars, sizeof(FwcShape *)), fwc_shape_new(), 0, 0, MAX_MERGE_WORK
    };
    int rc = -1;
    if (!s.vars || !s.whole) goto done;
    s.whole->whole = 1;
    for (int i = 0; i < t->nvars; i++)
        if (!(s.vars[i] = fwc_shape_new())) goto done;
    int pass = 0;
    do {
        s.changed = 0;
        scan(&s, t->root);
    } while (s.changed && !s.failed && ++pass < MAX_PASSES);
    if (s.failed) goto done;
    if (s.changed) s.vars[t->doc_slot]->whole = 1; /* no fixed point in time: read everything */
    int changed = 0;
    rc = fwc_shape_merge(shape, s.vars[t->doc_slot], &changed, &s.budget);
done:
    if (s.vars)
        for (int i = 0; i < t->nvars; i++) fwc_shape_free(s.vars[i]);
    free(s.vars);
    fwc_shape_free(s.whole);
    return rc;
}
