/* expr.h — the Python-expression engine: conditions, and the expressions of templates
 * (tmpl/).  Three stages:
 *   expr_lex.c    tokens from a UTF-8 text, from any position, with line:column
 *   expr_parse.c  tokens -> an immutable node tree in the program's arena; names are
 *                 resolved at compile time (locals, scope variables, builtins, utils)
 *   expr_eval.c   the tree evaluated over FwcValues without the GIL, scratch in an arena
 * around them: expr_value.c (Python semantics of values: truth, equality, ordering,
 * hashing, the step charge), expr_str.c (str methods and helpers), expr_utils.c (Frappe's
 * `utils` functions).  The public API comes first; the rest is shared by the expr and
 * tmpl files only. */
#ifndef FWC_EXPR_H
#define FWC_EXPR_H

#include "json/json.h"

/* ---------- expression engine: conditions (no GIL after compile) ---------- */

typedef struct FwcExpr FwcExpr; /* a compiled condition: immutable, shared by threads */

/* Compiles a condition (variables: doc; utils; builtins).  NULL with err set: message
 * "<reason>", err->line/col 1-based (FWC_EVALUE), or FWC_ENOMEM. */
FwcExpr *fwc_expr_compile(const char *src, size_t len, FwcError *err);
void fwc_expr_free(FwcExpr *e);
/* Evaluates with doc as `doc`; the result may point into doc and into scratch (which the
 * caller frees).  FWC_ECONDITION "<PythonErrorType>: message" on a runtime error. */
FwcStatus fwc_expr_eval(const FwcExpr *e, const FwcValue *doc, FwcArena *scratch, FwcValue *out,
                        FwcError *err);
/* Truthiness of the result, with its own scratch arena: *result 0/1. */
FwcStatus fwc_expr_test(const FwcExpr *e, const FwcValue *doc, int *result, FwcError *err);

/* ---------- sandbox bounds (documented in the README) ---------- */
#define FWC_EXPR_MAX_DEPTH                                                                         \
    200                                /* parser nesting, and the depth of every node tree:
                                           operator, postfix and filter chains count */
#define FWC_EXPR_MAX_STEPS 1000000     /* node evaluations + loop iterations */
#define FWC_EXPR_MAX_STR   (1u << 20)  /* bytes of one string result */
#define FWC_EXPR_MAX_ITEMS 100000      /* items of one list/tuple/set/dict result */
#define FWC_EXPR_MAX_RANGE 1000000     /* length of a range() */
#define FWC_EXPR_MAX_MEM   (64u << 20) /* scratch bytes of one evaluation */

/* ---------- tokens ---------- */

typedef enum { TK_EOF, TK_NAME, TK_INT, TK_FLOAT, TK_STR, TK_OP } ExprTokKind;

typedef enum {
    OP_NONE,
    OP_LPAR,
    OP_RPAR,
    OP_LSQB,
    OP_RSQB,
    OP_LBRACE,
    OP_RBRACE,
    OP_COMMA,
    OP_COLON,
    OP_DOT,
    OP_SEMI,
    OP_ASSIGN,
    OP_WALRUS,
    OP_ARROW,
    OP_ELLIPSIS,
    OP_BANG,
    /* binary operators (BINOP node ops use these) */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_MATMUL,
    OP_LSHIFT,
    OP_RSHIFT,
    OP_BITAND,
    OP_BITOR,
    OP_BITXOR,
    OP_TILDE,
    /* comparisons (COMPARE node ops) */
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOTIN,
    OP_IS,
    OP_ISNOT,
    OP_AUGASSIGN,
} ExprOp;

typedef struct {
    ExprTokKind kind;
    int op;            /* TK_OP */
    size_t start, end; /* byte offsets in the source */
    int line, col;     /* 1-based; col counts code points */
    int64_t i;         /* TK_INT */
    double f;          /* TK_FLOAT */
    const char *s;     /* TK_STR (decoded, arena), TK_NAME (points into source) */
    size_t slen;
    int ascii;
} ExprToken;

/* ---------- nodes ---------- */

typedef enum {
    N_CONST, /* k */
    N_VAR,   /* scope variable `slot` (doc for conditions) */
    N_LOCAL, /* comprehension variable `slot` */
    N_LIST,
    N_TUPLE,
    N_SET,
    N_DICT,      /* args (DICT: key, value, key, value ...) */
    N_ATTR,      /* a . name */
    N_SUBSCRIPT, /* a [ b ] */
    N_SLICE,     /* a [ b : c : d ]  (NULL parts omitted) */
    N_UNARY,     /* op a: OP_SUB OP_ADD OP_TILDE, OP_BANG for `not` */
    N_BINOP,     /* a op b */
    N_AND,
    N_OR,           /* a and b, a or b */
    N_COMPARE,      /* args[0] ops[0] args[1] ops[1] args[2] ... */
    N_IFEXP,        /* a if b else c */
    N_COMP,         /* comprehension: op = N_LIST/N_SET/N_DICT/N_GEN; a elt, d value (dict),
                       b iterable, c condition (or NULL); targets in `slots`, ntargets */
    N_CALL_BUILTIN, /* op = builtin id; args, kwnames */
    N_CALL_UTIL,    /* op = util id */
    N_CALL_METHOD,  /* a . name (args) ; op = method id */
} ExprNodeKind;

#define N_GEN 200 /* N_COMP flavour: generator expression */
#define N_EXT 64  /* first node kind evaluated by ExprCtx.ext_eval (the template engine's) */

typedef struct ExprNode ExprNode;
struct ExprNode {
    uint8_t kind, op;
    uint16_t nargs;
    int line, col;
    uint16_t depth; /* 1 + the deepest child's (set by fwc_expr_seal) */
    ExprNode *a, *b, *c, *d;
    ExprNode **args;
    const char **kwnames; /* per arg: NULL for positional, else keyword name */
    uint8_t *ops;         /* N_COMPARE */
    const char *name;     /* N_ATTR, N_CALL_METHOD */
    uint32_t name_len;
    int slot;     /* N_VAR / N_LOCAL; N_COMP: first target slot */
    int ntargets; /* N_COMP: 1 (name) or n (tuple unpacking) */
    int hint;     /* N_ATTR / N_SUBSCRIPT: index where the key was found last
                               (an inline cache; relaxed atomic loads/stores, any value is safe) */
    FwcValue k;   /* N_CONST */
};

/* ---------- builtins, utils, methods (ids are node ops) ---------- */

typedef enum {
    B_LEN = 1,
    B_INT,
    B_FLOAT,
    B_STR,
    B_BOOL,
    B_ABS,
    B_MIN,
    B_MAX,
    B_ROUND,
    B_SUM,
    B_ANY,
    B_ALL,
    B_SORTED,
    B_LIST,
    B_TUPLE,
    B_DICT,
    B_RANGE,
    B_SET,
} ExprBuiltin;

typedef enum {
    U_FLT = 1,
    U_CINT,
    U_CSTR,
    U_ROUNDED,
    U_FLOOR,
    U_CEIL,
    U_SAFE_DIV,
    U_NOWDATE,
    U_TODAY,
    U_NOW,
    U_NOWTIME,
    U_GETDATE,
    U_ADD_DAYS,
    U_ADD_MONTHS,
    U_ADD_YEARS,
    U_DATE_DIFF,
    U_STRIP_HTML,
    U_ESCAPE_HTML,
    U_HAS_COMMON,
    U_SBOOL,
} ExprUtil;

typedef enum {
    M_LOWER = 1,
    M_UPPER,
    M_STRIP,
    M_LSTRIP,
    M_RSTRIP,
    M_STARTSWITH,
    M_ENDSWITH,
    M_REPLACE,
    M_SPLIT,
    M_JOIN,
    M_FIND,
    M_COUNT,
    M_TITLE,
    M_CAPITALIZE,
    M_ISDIGIT,
    M_GET,
    M_KEYS,
    M_VALUES,
    M_ITEMS,
    M_INDEX,
} ExprMethod;

int fwc_expr_builtin_id(const char *name, size_t n);
int fwc_expr_util_id(const char *name, size_t n);
int fwc_expr_method_id(const char *name, size_t n);
const char *fwc_expr_method_name(int id);

/* ---------- the parser (usable from a larger text, e.g. a template) ---------- */

/* Name resolution for scope variables: returns the variable index (>= 0) of `name`,
 * or -1 when the scope does not know it. */
typedef int (*FwcExprResolve)(void *ud, const char *name, size_t n);

#define FWC_EXPR_MAX_LOCALS 32

typedef struct {
    /* input */
    const char *src;
    size_t len;
    size_t pos;      /* lexer position (byte offset) */
    int line, col;   /* position of src[pos] */
    FwcArena *arena; /* nodes and decoded strings (the program's arena) */
    FwcExprResolve resolve;
    void *resolve_ud;
    /* state */
    ExprToken tok; /* current token */
    int depth;
    int nlocals; /* locals in scope (stack) */
    const char *local_names[FWC_EXPR_MAX_LOCALS];
    size_t local_lens[FWC_EXPR_MAX_LOCALS];
    int max_locals;
    FwcError *err;
    int failed;
    int multiline_strings; /* string literals may span lines (Jinja's do) */
} ExprParser;

/* Sets p's error (the first one only: later ones are consequences) at line:col as
 * FWC_EVALUE and marks p failed; returns -1.  The lexer and both parsers report through it. */
int fwc_expr_error_at(ExprParser *p, int line, int col, const char *fmt, ...);

/* A growable list of nodes (and keyword names) in an arena, doubling. */
typedef struct {
    ExprNode **items;
    const char **kw;
    int n, cap;
} FwcNodeList;
/* 0, -1 out of memory, -2 more than 65535 items. */
int fwc_node_list_push(FwcArena *arena, FwcNodeList *l, ExprNode *x, const char *kw);

/* Sets up a parser on src[pos..len); line/col give the position of src[pos]. */
void fwc_expr_parser_init(ExprParser *p, const char *src, size_t len, size_t pos, int line, int col,
                          FwcArena *arena, FwcExprResolve resolve, void *ud, FwcError *err);
/* Reads the first token; 0 ok, -1 with p->err set. */
int fwc_expr_lex_next(ExprParser *p);
/* One expression (a bare tuple `a, b` too when allow_tuple).  Leaves the token after
 * it in p->tok.  NULL with p->err set ("<reason>", line/col). */
ExprNode *fwc_expr_parse_expression(ExprParser *p, int allow_tuple);
/* Sets n->depth from its complete children (a b c d args) and returns it.  Every parser
 * seals each node when it is built, and rejects one deeper than FWC_EXPR_MAX_DEPTH:
 * the evaluator, the renderer and the shape scan recurse over trees bounded that way. */
int fwc_expr_seal(ExprNode *n);

/* ---------- evaluation ---------- */

typedef struct ExprCtx {
    const FwcValue *vars; /* scope variables */
    FwcValue locals[FWC_EXPR_MAX_LOCALS];
    FwcArena *arena; /* scratch */
    uint64_t steps;
    FwcError *err;
    int64_t now_us; /* fixed "now" for one evaluation (local time, µs since epoch); 0 = unset */
    /* node kinds >= N_EXT are evaluated by this hook (tmpl_render.c); NULL for conditions */
    int (*ext_eval)(struct ExprCtx *ctx, const ExprNode *n, FwcValue *out);
    void *ext_ud;
} ExprCtx;

/* 0 ok; -1 with ctx->err set (FWC_ECONDITION "<Type>Error: message", or FWC_ENOMEM). */
int fwc_expr_eval_node(ExprCtx *ctx, const ExprNode *n, FwcValue *out);

/* ---------- value helpers shared by eval and utils ---------- */

int fwc_expr_fail(ExprCtx *ctx, const char *fmt, ...); /* returns -1 */
int fwc_expr_nomem(ExprCtx *ctx);
/* Charges `work` units (bytes scanned or produced, items visited, comparisons made; 32
 * units = one step) to the step budget of the evaluation: 0, or -1 with the step-limit
 * RuntimeError set.  Every builtin, method and filter charges what it does, so no single
 * call does more than the budget allows. */
int fwc_expr_charge(ExprCtx *ctx, uint64_t work);
int fwc_expr_truthy(const FwcValue *v);
void *fwc_expr_alloc(ExprCtx *ctx, size_t n); /* NULL + error set */
int fwc_expr_new_str(ExprCtx *ctx, const char *s, size_t n, FwcValue *out);
int fwc_expr_str_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out); /* str(v) */
int fwc_expr_repr_append(FwcBuf *b, const FwcValue *v, int depth);   /* repr(v) */
int fwc_expr_equal(const FwcValue *a, const FwcValue *b);
uint64_t fwc_expr_hash(const FwcValue *v); /* consistent with fwc_expr_equal */
int fwc_expr_to_float(ExprCtx *ctx, const FwcValue *v, double *out); /* float(v) */
int fwc_expr_parse_float_text(const char *s, size_t n,
                              double *out); /* float(str): 0 ok, -1 invalid */
int fwc_expr_parse_int_text(const char *s, size_t n,
                            int64_t *out); /* int(str): 0 ok, -1 invalid, -2 overflow */
double fwc_expr_round_float(double x, int64_t ndigits);                     /* round(x, n) */
int fwc_expr_floor_to_int(ExprCtx *ctx, double x, int64_t *out, int ceil_); /* math.floor/ceil */
size_t fwc_expr_utf8_len(const char *s, size_t n);
/* Of a str value (expr_str.c): its number of code points, and the byte offset of code
 * point index i (i <= the number of code points). */
size_t fwc_expr_cp_len(const FwcValue *s);
size_t fwc_expr_cp_offset(const FwcValue *s, size_t i);
int fwc_expr_is_space_cp(uint32_t c); /* str.isspace() of one code point */

static inline FwcValue fwc_int(int64_t i)
{
    FwcValue v = { FWC_T_INT, 1, 0, { 0 } };
    v.u.i = i;
    return v;
}
static inline FwcValue fwc_float(double f)
{
    FwcValue v = { FWC_T_FLOAT, 1, 0, { 0 } };
    v.u.f = f;
    return v;
}
static inline FwcValue fwc_bool(int b)
{
    FwcValue v = { FWC_T_BOOL, 1, 0, { 0 } };
    v.u.i = b != 0;
    return v;
}

/* Calls the str/dict/list/tuple method `id` on recv (expr_str.c). */
int fwc_expr_call_method(ExprCtx *ctx, int id, const FwcValue *recv, FwcValue *args, int nargs,
                         const char **kw, FwcValue *out);
/* Calls the utils function `id` with evaluated positional args (kw already mapped). */
int fwc_expr_call_util(ExprCtx *ctx, int id, FwcValue *args, int nargs, const char **kwnames,
                       FwcValue *out);

#endif
