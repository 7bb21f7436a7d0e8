/* tmpl.h — internal types of the Jinja-subset template engine (webhook_json bodies and
 * dynamic URLs), built on the expression engine (expr.h):
 *   tmpl_lex.c      template text -> segments (data / {{ }} / {% %}; comments dropped,
 *                   whitespace control and {% raw %} applied, newlines normalised)
 *   tmpl_parse.c    statements and Jinja's expression grammar -> a tree of TNodes whose
 *                   expressions are ExprNodes (core kinds + the NJ_* kinds below)
 *   tmpl_shape.c    what a compiled template reads of `doc` (an FwcShape)
 *   tmpl_render.c   rendering on a snapshot without the GIL, bounded: statements, loop
 *                   variables, `ns.attr` assignments, NJ_* evaluation
 *   tmpl_filters.c  Jinja's built-in filters and tests, Frappe's json/len/int/str/flt:
 *                   the tables by id (one function per filter / test), select/map
 *   tmpl_filters_str.c, tmpl_filters_seq.c  the filters of text / of sequences
 *   tmpl_filters_call.c  what they share: engine calls, argument binding
 *   tmpl_format.c   printf-style `fmt % args` (the format filter and the % operator)
 *   tmpl_groupby.c  the groupby filter and its (grouper, list) tuples
 *   tmpl_namespace.c  namespace() objects: making one, {% set ns.attr = value %}
 *   tmpl_value.c    Jinja's value semantics all of the above share: type names,
 *                   Undefined, str()/repr(), ==/comparisons/sorting, iteration,
 *                   attribute and item access (loops, _GroupTuple, namespaces), paths
 * Calls between these files go one way (no file calls back into a caller):
 *   render -> filters -> groupby -> value;  filters -> format -> value;
 *   filters -> filters_str, filters_seq -> filters_call -> value;
 *   render -> format;  render -> namespace -> value;  render -> value;
 *   parse -> lex, filters (filter/test names);  value calls none of them. */
#ifndef FWC_TMPL_H
#define FWC_TMPL_H

#include "expr/expr.h"
#include "json/json.h"

/* ---------- template engine: Jinja subset (no GIL after compile) ---------- */

typedef struct FwcTemplate FwcTemplate; /* compiled template: immutable, shared by threads */

/* Compiles a template (context: doc, utils).  NULL with err set: FWC_EVALUE "<message>"
 * with err->line (1-based), "Illegal template" for ".__", or FWC_ENOMEM. */
FwcTemplate *fwc_tmpl_compile(const char *src, size_t len, FwcError *err);
void fwc_tmpl_free(FwcTemplate *t);
/* Renders with doc as `doc`, appending to out.  json_escape: values printed inside a
 * JSON string literal of the template are written as JSON string content.  Errors:
 * FWC_ETEMPLATE "line L: <reason>" (err->line set), FWC_ENOMEM. */
FwcStatus fwc_tmpl_render(const FwcTemplate *t, const FwcValue *doc, int json_escape, FwcBuf *out,
                          FwcError *err);
/* Adds what template t reads of `doc` to shape s (tmpl_shape.c); -1 on OOM. */
int fwc_tmpl_shape(const FwcTemplate *t, FwcShape *s);

/* fwc_buf_append that accepts (NULL, 0): empty strings may have no bytes */
static inline int tmpl_append(FwcBuf *b, const void *p, size_t n)
{
    return n ? fwc_buf_append(b, p, n) : 0;
}
static inline int tmpl_puts(FwcBuf *b, const char *s) { return tmpl_append(b, s, strlen(s)); }

/* ---------- bounds (documented in the README) ---------- */
#define FWC_TMPL_MAX_OUTPUT (8u << 20) /* bytes of rendered text */
#define FWC_TMPL_MAX_ITER   100000     /* loop iterations of one render */
#define FWC_TMPL_MAX_VARS   64         /* distinct variable names of one template */
#define FWC_TMPL_MAX_NEST   64         /* nested blocks */
/* levels of a value a template stores ({% set %}, ns.attr, {% with %}): only stored
 * values can grow across statements, e.g. {% set ns.x = [ns.x] %} in a loop */
#define FWC_TMPL_MAX_VALUE_DEPTH (FWC_MAX_DEPTH + FWC_EXPR_MAX_DEPTH)

/* Values only the template engine creates (never in a snapshot or a result).
 * UNDEF: len 0 (so it is falsy for the core evaluator); u.s: NUL-terminated text it
 * renders as ("{{ foo }}", "" for a plain Undefined).  LOOP: u.items -> TLoop.
 * NS: Jinja's Namespace, a mutable object shared by reference; len 1 (truthy),
 * u.items -> TNamespace in the render's scratch arena. */
#define TMPL_T_UNDEF 64
#define TMPL_T_LOOP  65
#define TMPL_T_NS    66

/* A FWC_T_TUPLE whose `ascii` byte is TMPL_GROUP_TUPLE (and len 2) is Jinja's
 * _GroupTuple(grouper, list) from groupby: a tuple that also has .grouper and .list. */
#define TMPL_GROUP_TUPLE 0x47
static inline int tmpl_is_group(const FwcValue *v)
{
    return v->type == FWC_T_TUPLE && v->ascii == TMPL_GROUP_TUPLE && v->len == 2;
}

/* Jinja-specific expression nodes, evaluated by the ext hook (tmpl_render.c). */
enum {
    NJ_UNDEF = N_EXT, /* constant undefined; name = its text, op = 1 when it names a variable */
    NJ_VAR,           /* template variable `slot` (may hold an undefined) */
    NJ_GETATTR,       /* a . name: attribute, falling back to item */
    NJ_GETITEM,       /* a [ b ]: item, falling back to attribute */
    NJ_FILTER,        /* a | op(args) */
    NJ_TEST,          /* a is op(args) */
    NJ_CONCAT,        /* args joined as str (~) */
    NJ_COND,          /* a if b [else c]; c NULL -> Undefined */
    NJ_CYCLE,         /* a.cycle(args) on a loop */
    NJ_COMPARE,       /* like N_COMPARE, with Undefined's == / in semantics */
    NJ_CHANGED,       /* a.changed(args) on a loop */
    NJ_NAMESPACE,     /* namespace(args, kw=...) */
    NJ_MOD,           /* a % b: printf-style when a is a str, else the core operator */
};

typedef struct {
    int64_t index0, length;
    FwcValue *items;
    int depth;
    int has_changed; /* loop.changed() was called: its last arguments */
    uint32_t nchanged;
    FwcValue *changed;
} TLoop;

typedef struct {
    FwcPair *pairs; /* the attribute dict, insertion order */
    uint32_t len, cap;
} TNamespace;

static inline TNamespace *tmpl_ns_of(const FwcValue *v) { return (TNamespace *)(void *)v->u.items; }

/* the namespaces whose repr is in progress (Python's repr of a recursive dict: "{...}"),
 * or whose depth is being measured (tmpl_render.c): a walk that meets one again stops */
typedef struct TSeen {
    const void *ns;
    const struct TSeen *up;
} TSeen;

/* ---------- segments (tmpl_lex.c) ---------- */

typedef enum { TS_DATA, TS_VAR, TS_BLOCK } TSegKind;

typedef struct {
    int kind;
    size_t start, end; /* DATA: text; VAR/BLOCK: the tag's inside */
    int line, col;     /* of start */
} TSeg;

/* Normalised text (newlines as "\n", Jinja's trailing newline dropped) in *text (arena),
 * and its segments.  -1 with err set ("<message>", line). */
int fwc_tmpl_lex(FwcArena *arena, const char *src, size_t len, const char **text, size_t *text_len,
                 TSeg **segs, size_t *nsegs, FwcError *err);

/* ---------- statement tree (tmpl_parse.c) ---------- */

typedef enum { T_DATA, T_OUTPUT, T_IF, T_FOR, T_SET, T_SETBLOCK, T_WITH } TNodeKind;

typedef struct TNode TNode;
struct TNode {
    int kind, line;
    TNode *next;
    const char *text; /* T_DATA */
    size_t len;
    ExprNode *expr;       /* OUTPUT value, IF condition, FOR iterable, SET value */
    ExprNode *filter;     /* FOR: inline if */
    TNode *body, *orelse; /* IF / FOR / SETBLOCK / WITH */
    int slots[8];         /* FOR / SET targets; WITH: one per value */
    const char
        *attrs[8]; /* SET / SETBLOCK: per target, the attribute of `ns.attr` (NULL: a name) */
    int nslots;
    ExprNode **values;  /* WITH values */
    int loop_slot;      /* FOR */
    int in_json_string; /* OUTPUT: inside a JSON string literal of the template text */
};

struct FwcTemplate {
    FwcArena arena;
    const char *text;
    TNode *root;
    int nvars;
    const char *var_names[FWC_TMPL_MAX_VARS];
    int doc_slot;
};

/* ---------- filters and tests (tmpl_filters.c) ---------- */

int fwc_tmpl_filter_id(const char *name, size_t n); /* 0 when unknown */
int fwc_tmpl_test_id(const char *name, size_t n);
int fwc_tmpl_apply_filter(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs,
                          const char **kw, FwcValue *out);
int fwc_tmpl_apply_test(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs,
                        int *out);

/* A filter: in | name(args; kw[i] names args[i], NULL for a positional one) into *out;
 * 0, or -1 with the error set.  tmpl_filters.c holds the table of them by filter id. */
typedef int (*TmplFilterFn)(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                            const char **kw, FwcValue *out);
#define TMPL_FILTER_FN(name)                                                                       \
    int fwc_tmpl_f_##name(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,             \
                          const char **kw, FwcValue *out)
/* sequences, mappings, numbers (tmpl_filters_seq.c) */
TMPL_FILTER_FN(default);
TMPL_FILTER_FN(length);
TMPL_FILTER_FN(count);
TMPL_FILTER_FN(len);
TMPL_FILTER_FN(join);
TMPL_FILTER_FN(first);
TMPL_FILTER_FN(last);
TMPL_FILTER_FN(list);
TMPL_FILTER_FN(reverse);
TMPL_FILTER_FN(abs);
TMPL_FILTER_FN(round);
TMPL_FILTER_FN(sum);
TMPL_FILTER_FN(min);
TMPL_FILTER_FN(max);
TMPL_FILTER_FN(sort);
TMPL_FILTER_FN(unique);
TMPL_FILTER_FN(dictsort);
TMPL_FILTER_FN(attr);
TMPL_FILTER_FN(batch);
TMPL_FILTER_FN(slice);
/* text, conversions, JSON (tmpl_filters_str.c) */
TMPL_FILTER_FN(tojson);
TMPL_FILTER_FN(json);
TMPL_FILTER_FN(int);
TMPL_FILTER_FN(flt);
TMPL_FILTER_FN(str);
TMPL_FILTER_FN(float);
TMPL_FILTER_FN(string);
TMPL_FILTER_FN(safe);
TMPL_FILTER_FN(lower);
TMPL_FILTER_FN(upper);
TMPL_FILTER_FN(capitalize);
TMPL_FILTER_FN(title);
TMPL_FILTER_FN(trim);
TMPL_FILTER_FN(replace);
TMPL_FILTER_FN(escape);
TMPL_FILTER_FN(striptags);
TMPL_FILTER_FN(truncate);
TMPL_FILTER_FN(wordcount);
TMPL_FILTER_FN(center);
TMPL_FILTER_FN(indent);
TMPL_FILTER_FN(urlencode);

/* ---------- what filters and tests share (tmpl_filters_call.c) ---------- */

/* the expression engine's builtin / str method / util `id` called on constant values */
int fwc_tmpl_builtin(ExprCtx *ctx, int id, const FwcValue *args, int nargs, FwcValue *out);
int fwc_tmpl_method(ExprCtx *ctx, int id, const FwcValue *recv, const FwcValue *args, int nargs,
                    FwcValue *out);
int fwc_tmpl_util(ExprCtx *ctx, int id, const FwcValue *args, int nargs, const char **kw,
                  FwcValue *out);
/* Binds positional/keyword args onto params (NULL-terminated) of filter fname; missing
 * optional ones keep their defaults (the caller pre-fills slots); present may be NULL. */
int fwc_tmpl_bind(ExprCtx *ctx, const char *fname, const char *const *params, FwcValue *args,
                  int nargs, const char **kw, FwcValue *slots, int *present);
/* b as the result string (freed); its bytes are charged as work */
int fwc_tmpl_buf_value(ExprCtx *ctx, FwcBuf *b, FwcValue *out);
/* v lower-cased unless case_sensitive (or not a str) */
int fwc_tmpl_ignore_case(ExprCtx *ctx, const FwcValue *v, int case_sensitive, FwcValue *out);
/* the code point at s[i] (a lone surrogate as its 3-byte form) and its byte length */
size_t fwc_tmpl_cp_at(const FwcValue *s, size_t i, uint32_t *cp);
/* v as an int argument of fname (TypeError otherwise) */
int fwc_tmpl_need_int(ExprCtx *ctx, const char *fname, const FwcValue *v, int64_t *out);
/* escaping a dict fails as in Frappe (markupsafe asks a frappe._dict for __html__) */
int fwc_tmpl_not_markup(ExprCtx *ctx);

static inline int tmpl_is_undef(const FwcValue *v) { return v->type == TMPL_T_UNDEF; }
static inline FwcValue tmpl_cstr(const char *s)
{
    FwcValue v = { .type = FWC_T_STR, .ascii = 1, .len = (uint32_t)strlen(s), .u.s = s };
    return v;
}
static inline FwcValue tmpl_list_value(int type, FwcValue *items, uint32_t n)
{
    FwcValue v = { .type = (uint8_t)type, .ascii = 1, .len = n, .u.items = items };
    return v;
}

/* ---------- printf-style formatting (tmpl_format.c) ---------- */

/* fmt % args as Python's str.__mod__: args a tuple (positional), a mapping (dict, list,
 * range, undefined: %(key)s), or a single value. */
int fwc_tmpl_percent_format(ExprCtx *ctx, const FwcValue *fmt, const FwcValue *args, FwcValue *out);
/* Jinja's format filter: str(value) % (kwargs or args) */
int fwc_tmpl_filter_format(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                           const char **kw, FwcValue *out);

/* ---------- groupby (tmpl_groupby.c) ---------- */

int fwc_tmpl_filter_groupby(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                            const char **kw, FwcValue *out);

/* ---------- namespace (tmpl_namespace.c) ---------- */

/* namespace(*args, **kw): dict(*args, **kw) as its attributes */
int fwc_tmpl_namespace_new(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out);
/* ns[name] = v */
int fwc_tmpl_namespace_set(ExprCtx *ctx, const FwcValue *ns, const char *name, size_t n,
                           const FwcValue *v);

/* ---------- template values (tmpl_value.c) ---------- */

/* a namespace's attributes as a dict value (borrowed pairs) */
FwcValue fwc_tmpl_namespace_attrs(const FwcValue *ns);

/* str(v) as Jinja outputs it (undefined -> its text), appended. */
int fwc_tmpl_str_append(ExprCtx *ctx, FwcBuf *b, const FwcValue *v);
/* Python's type(v).__name__ ("DebugUndefined", "Namespace", "_GroupTuple", "str" ...) */
const char *fwc_tmpl_type_name(const FwcValue *v);
/* repr(v) (undefined -> "Undefined"), appended. */
int fwc_tmpl_repr_append(ExprCtx *ctx, FwcBuf *b, const FwcValue *v);
/* a == b as Python's ==, with Undefined (equal to any Undefined), identity for
 * namespaces, element by element for lists/tuples. */
int fwc_tmpl_equal(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, int *res);
/* str(v) as a value (undefined -> its text). */
int fwc_tmpl_str_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out);
/* Jinja's getattr/getitem on values. */
int fwc_tmpl_getattr(ExprCtx *ctx, const FwcValue *obj, const char *name, size_t n, FwcValue *out);
int fwc_tmpl_getitem(ExprCtx *ctx, const FwcValue *obj, const FwcValue *key, FwcValue *out);
int fwc_tmpl_undefined(ExprCtx *ctx, const char *text, FwcValue *out);
/* Fails with Jinja's UndefinedError for using the undefined value u; returns -1. */
int fwc_tmpl_undefined_error(ExprCtx *ctx, const FwcValue *u);
/* Items of an iterable (undefined -> none); borrowed for list/tuple. */
int fwc_tmpl_items(ExprCtx *ctx, const FwcValue *v, FwcValue **items, uint32_t *n);
/* a < b as Python's sorted() would compare (TypeError for mixed types). */
int fwc_tmpl_lt(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, int *res);
/* a op b for one comparison operator (OP_EQ ... OP_NOTIN), Python's semantics. */
int fwc_tmpl_compare(ExprCtx *ctx, int op, const FwcValue *a, const FwcValue *b, int *res);
/* Jinja's make_attrgetter: "a.b.0" paths (digit parts are int indexes) or an int, read
 * with getitem; with a default (not NULL, not None) an undefined part becomes the default. */
int fwc_tmpl_get_path(ExprCtx *ctx, const FwcValue *item, const FwcValue *attr,
                      const FwcValue *dflt, FwcValue *out);
/* a (key, value) pair of fwc_tmpl_kv_sort */
typedef struct {
    FwcValue key, val;
} TKV;
/* Stable merge sort of a[0..n) by key (Python's sorted order with fwc_tmpl_lt,
 * TypeError for mixed types), tmp: n scratch pairs; reverse keeps equal keys in their
 * order, as sorted(reverse=True). */
int fwc_tmpl_kv_sort(ExprCtx *ctx, TKV *a, TKV *tmp, uint32_t n, int reverse);

#endif
