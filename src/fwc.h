/* fwc.h — the one internal header of frappe_webhook_c.
 *
 * Two worlds meet here.  Code that runs with the GIL (snapshot, the Python types)
 * returns NULL / -1 with a Python exception set.  Code that runs without the GIL
 * (JSON writer, signer, transport, engines) never touches a PyObject; it returns an
 * FwcStatus and fills an FwcError that becomes an exception after the GIL is back. */
#ifndef FWC_H
#define FWC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FWC_VERSION "0.1.0"

/* Deepest nesting a document may have (dicts and lists); documented in the README. */
#define FWC_MAX_DEPTH 200

typedef struct FwcModuleState FwcModuleState;

/* ---------- status codes and GIL-free errors ---------- */

typedef enum {
    FWC_OK = 0,
    FWC_ENOMEM,     /* -> MemoryError */
    FWC_ETYPE,      /* -> TypeError */
    FWC_EVALUE,     /* -> ValueError */
    FWC_ECONDITION, /* -> ConditionError */
    FWC_ETEMPLATE,  /* -> TemplateError */
    FWC_ELIMIT,     /* a sandbox bound was hit -> the engine's own error type */
} FwcStatus;

typedef struct {
    FwcStatus code;
    int line, col;      /* 0 when unknown */
    char message[512];
} FwcError;

/* Fills err (if not NULL) and returns code. */
FwcStatus fwc_error_set(FwcError *err, FwcStatus code, const char *fmt, ...);

/* ---------- growable byte buffer (malloc based: usable without the GIL) ---------- */

typedef struct {
    char *data;
    size_t len, cap;
} FwcBuf;

#define FWC_BUF_INIT {NULL, 0, 0}
int fwc_buf_grow(FwcBuf *b, size_t extra);   /* 0 ok, -1 out of memory */
void fwc_buf_free(FwcBuf *b);

/* Room for `extra` more bytes; 0 ok, -1 out of memory. */
static inline int fwc_buf_reserve(FwcBuf *b, size_t extra)
{
    return b->cap - b->len >= extra ? 0 : fwc_buf_grow(b, extra);
}
static inline int fwc_buf_append(FwcBuf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n && fwc_buf_grow(b, n) < 0) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}
static inline int fwc_buf_putc(FwcBuf *b, char c)
{
    if (b->cap == b->len && fwc_buf_grow(b, 1) < 0) return -1;
    b->data[b->len++] = c;
    return 0;
}
static inline int fwc_buf_puts(FwcBuf *b, const char *s) { return fwc_buf_append(b, s, strlen(s)); }
/* Decimal text of v; 0 ok, -1 out of memory. */
int fwc_buf_put_int(FwcBuf *b, int64_t v);

/* UTF-8 of code point cp (lone surrogates too: their 3-byte form, which the value tree
 * keeps) at d, which has room for 4 bytes; returns the end. */
static inline char *fwc_utf8_put(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xC0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xE0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (char)(0xF0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    }
    return d;
}
static inline int fwc_buf_put_utf8(FwcBuf *b, uint32_t cp)
{
    char t[4];
    return fwc_buf_append(b, t, (size_t)(fwc_utf8_put(t, cp) - t));
}

/* ---------- arena: bump allocator owning one snapshot or one built request ---------- */

typedef struct FwcArenaBlock FwcArenaBlock;
typedef struct {
    FwcArenaBlock *head;
    char *cur, *end;    /* free space in the newest block */
    size_t total;       /* bytes handed out, for limits and stats */
} FwcArena;             /* zero-initialised = empty */

void *fwc_arena_alloc_slow(FwcArena *a, size_t n);
/* 16-aligned memory that lives as long as the arena; NULL on OOM. */
static inline void *fwc_arena_alloc(FwcArena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->cur) < n) return fwc_arena_alloc_slow(a, n);
    void *p = a->cur;
    a->cur += n;
    a->total += n;
    return p;
}
/* NUL-terminated copy of n bytes. */
static inline char *fwc_arena_strdup(FwcArena *a, const char *s, size_t n)
{
    char *p = (char *)fwc_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
void fwc_arena_free(FwcArena *a);

/* ---------- the immutable value tree ----------
 * Strings are UTF-8, except that lone surrogates (which a Python str may hold) are
 * kept as their 3-byte "surrogatepass" encoding, so the JSON writer can reproduce
 * json.dumps exactly.  Integers beyond int64 are kept as decimal text (BIGINT). */

typedef enum {
    FWC_T_NULL, FWC_T_BOOL, FWC_T_INT, FWC_T_BIGINT, FWC_T_FLOAT,
    FWC_T_STR, FWC_T_LIST, FWC_T_DICT,
    /* expression-engine results only (never in a snapshot): */
    FWC_T_TUPLE,    /* items, like LIST */
    FWC_T_SET,      /* items, unique, in insertion order */
    FWC_T_RANGE,    /* range: len items, u.range = {start, step} */
} FwcType;

typedef struct FwcValue FwcValue;
typedef struct FwcPair FwcPair;

struct FwcValue {
    uint8_t type;       /* FwcType */
    uint8_t ascii;      /* STR: every byte < 0x80 */
    uint32_t len;       /* STR/BIGINT: bytes; LIST: items; DICT: pairs */
    union {
        int64_t i;      /* BOOL (0/1), INT */
        double f;       /* FLOAT */
        const char *s;  /* STR, BIGINT (NUL-terminated) */
        FwcValue *items;
        FwcPair *pairs;
        const int64_t *range;  /* RANGE: start, step */
    } u;
};

struct FwcPair {
    FwcValue key;       /* STR, INT, BIGINT, FLOAT, BOOL or NULL, as json accepts */
    FwcValue value;
};

#define FWC_MAX_LEN UINT32_MAX

static inline FwcValue fwc_null(void) { FwcValue v = {FWC_T_NULL, 1, 0, {0}}; return v; }

/* Value of the str key `key` in dict d (the last one if repeated), or NULL. Borrowed. */
const FwcValue *fwc_dict_get(const FwcValue *d, const char *key, size_t n);

/* Python object for a value (dicts keep their key types).  New reference; GIL held. */
PyObject *fwc_value_to_python(const FwcValue *v);

/* ---------- snapshot: Python document -> value tree (GIL held, one walk) ---------- */

typedef struct {
    atomic_int refs;
    FwcArena arena;
    FwcValue root;      /* always a DICT for documents */
} FwcSnapshot;

/* New snapshot of a document (dict, Mapping, or object with as_dict()), normalised as
 * Frappe's as_dict(convert_dates_to_str=True) + json.dumps(default=str) would.
 * Returns NULL with an exception set (ValueError for cycles/depth, TypeError for keys,
 * both with a $.path). */
FwcSnapshot *fwc_snapshot_take(PyObject *doc);
/* Imports datetime's C API and collections.abc.Mapping; called at module init. */
int fwc_snapshot_init(void);
/* ---------- shapes: the parts of a document a request can read ----------
 * A field map reads its fields; a template what tmpl_shape.c finds (doc.total, the
 * item_code of each row of doc.items...).  A request snapshots only that: an ERPNext
 * document has hundreds of fields and a webhook reads a handful.  Wherever the
 * analysis cannot tell, the shape says "whole". */

typedef struct FwcShape FwcShape;
typedef struct {
    const char *name;   /* UTF-8, owned by the shape */
    size_t len;
    PyObject *key;      /* the same as an interned str (fwc_shape_bind), for lookups */
    FwcShape *sub;      /* what is read of its value */
} FwcShapeKey;
struct FwcShape {
    int whole;          /* the value as it is */
    int dict_whole;     /* a dict with all its keys (its key set is seen: length, loops) */
    FwcShape *elems;    /* what is read of each item of a list; NULL: no item is read */
    FwcShapeKey *keys;  /* a dict: only these keys */
    size_t nkeys, cap;
};

FwcShape *fwc_shape_new(void);                  /* NULL on OOM; no GIL needed */
/* The sub-shape of key `name` (added, empty, if new); NULL on OOM. */
FwcShape *fwc_shape_key(FwcShape *s, const char *name, size_t n);
/* dst |= src; -1 on OOM.  Sets *changed when dst grew.  Each node visited spends one of
 * *budget; when it runs out, what is left is read whole (the work stays bounded). */
int fwc_shape_merge(FwcShape *dst, const FwcShape *src, int *changed, size_t *budget);
/* Creates the interned str keys (GIL held); -1 + exception. */
int fwc_shape_bind(FwcShape *s);
void fwc_shape_free(FwcShape *s);               /* GIL held if bound */
/* Snapshot of only what a bound shape reads of a plain dict document (other documents:
 * a full snapshot).  NULL + exception. */
FwcSnapshot *fwc_snapshot_take_shaped(PyObject *doc, const FwcShape *shape);

/* Snapshot of any JSON-able Python value (root may be any type). */
FwcSnapshot *fwc_snapshot_value(PyObject *obj);
void fwc_snapshot_incref(FwcSnapshot *s);
void fwc_snapshot_decref(FwcSnapshot *s);   /* frees at zero; no GIL needed */

/* ---------- float formatting identical to float.__repr__ (no GIL) ---------- */

/* Writes repr(v) (without NUL) to out, returns its length (< 32).
 * NaN/inf give "nan"/"inf"/"-inf" as repr does; the JSON writer handles those itself. */
int fwc_float_repr(double v, char out[32]);

/* ---------- JSON writer, byte-identical to Python's json.dumps (no GIL) ---------- */

typedef enum {
    FWC_JSON_DUMPS,     /* json.dumps(v, default=str) */
    FWC_JSON_AS_JSON,   /* json.dumps(v, indent=1, sort_keys=True, separators=(",", ": ")) */
} FwcJsonStyle;

/* Appends the JSON text of v to out.  FWC_ETYPE when sort_keys meets unorderable keys. */
FwcStatus fwc_json_write(FwcBuf *out, const FwcValue *v, FwcJsonStyle style, FwcError *err);

/* ---------- JSON parser with json.loads semantics (no GIL) ---------- */

/* Parses UTF-8 JSON text (lone surrogates allowed in 3-byte form) with json.loads
 * semantics into a value tree allocated in `arena` (dicts deduplicated: first position,
 * last value).  Errors: FWC_ETEMPLATE with JSONDecodeError's text, e.g. "Expecting ','
 * delimiter: line 9 column 33 (char 268)" (code points); FWC_ENOMEM.  On error the arena
 * may hold partial allocations (freed with it) and *out is null. */
FwcStatus fwc_json_parse(FwcArena *arena, const char *text, size_t len, FwcValue *out, FwcError *err);

/* ---------- expression engine: conditions (expr_*.c; no GIL after compile) ---------- */

typedef struct FwcExpr FwcExpr;     /* a compiled condition: immutable, shared by threads */

/* Compiles a condition (variables: doc; utils; builtins).  NULL with err set: message
 * "<reason>", err->line/col 1-based (FWC_EVALUE), or FWC_ENOMEM. */
FwcExpr *fwc_expr_compile(const char *src, size_t len, FwcError *err);
void fwc_expr_free(FwcExpr *e);
/* Evaluates with doc as `doc`; the result may point into doc and into scratch (which the
 * caller frees).  FWC_ECONDITION "<PythonErrorType>: message" on a runtime error. */
FwcStatus fwc_expr_eval(const FwcExpr *e, const FwcValue *doc, FwcArena *scratch, FwcValue *out, FwcError *err);
/* Truthiness of the result, with its own scratch arena: *result 0/1. */
FwcStatus fwc_expr_test(const FwcExpr *e, const FwcValue *doc, int *result, FwcError *err);

/* Python-facing parts (expr_hooks.c, GIL held) */
/* Compiles a Webhook's condition source (str); *out NULL for a blank condition.
 * -1 with ValidationError("Invalid Condition: <reason> (column N)"). */
int fwc_condition_compile(FwcModuleState *st, PyObject *src, FwcExpr **out);
PyObject *fwc_py_run_webhooks(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *fwc_py_eval_expr(PyObject *module, PyObject *args);
PyObject *fwc_webhook_meets_condition(PyObject *self, PyObject *doc);
PyObject *fwc_webhook_matches(PyObject *self, PyObject *args, PyObject *kwargs);

/* ---------- template engine: Jinja subset (tmpl_*.c; no GIL after compile) ---------- */

typedef struct FwcTemplate FwcTemplate;   /* compiled template: immutable, shared by threads */

/* Compiles a template (context: doc, utils).  NULL with err set: FWC_EVALUE "<message>"
 * with err->line (1-based), "Illegal template" for ".__", or FWC_ENOMEM. */
FwcTemplate *fwc_tmpl_compile(const char *src, size_t len, FwcError *err);
void fwc_tmpl_free(FwcTemplate *t);
/* Renders with doc as `doc`, appending to out.  json_escape: values printed inside a
 * JSON string literal of the template are written as JSON string content.  Errors:
 * FWC_ETEMPLATE "line L: <reason>" (err->line set), FWC_ENOMEM. */
FwcStatus fwc_tmpl_render(const FwcTemplate *t, const FwcValue *doc, int json_escape, FwcBuf *out, FwcError *err);
/* Adds what template t reads of `doc` to shape s (tmpl_shape.c); -1 on OOM. */
int fwc_tmpl_shape(const FwcTemplate *t, FwcShape *s);
/* Python-facing (tmpl_hooks.c, GIL held): -1 with ValidationError("Syntax error in
 * template: line L: <message>") or ValidationError("Illegal template"). */
int fwc_template_compile(FwcModuleState *st, const char *src, FwcTemplate **out);
PyObject *fwc_py_render(PyObject *module, PyObject *args, PyObject *kwargs);

/* ---------- signatures (no GIL) ---------- */

typedef enum {
    FWC_SIG_FRAPPE = 1,    /* X-Frappe-Webhook-Signature: base64(HMAC-SHA256(secret, body)) */
    FWC_SIG_STANDARD = 2,  /* Standard Webhooks v1 */
    FWC_SIG_GITHUB = 4,    /* X-Hub-Signature-256: sha256=<hex> */
} FwcSigScheme;

#define FWC_SIG_ALL (FWC_SIG_FRAPPE | FWC_SIG_STANDARD | FWC_SIG_GITHUB)

/* One header produced by a signer; name is static, value NUL-terminated. */
typedef struct {
    const char *name;
    char value[128];
} FwcSigHeader;

/* The key the HMAC uses for a secret and a scheme: for "standard" a whsec_ secret is
 * base64-decoded.  Writes at most *keylen bytes; returns FWC_EVALUE for bad base64. */
FwcStatus fwc_sign_key(FwcSigScheme scheme, const char *secret, size_t secret_len,
                       unsigned char *key, size_t *keylen, FwcError *err);

/* Headers for one scheme (frappe: 1, standard: 3, github: 1).  Returns the count, or -1
 * with err set.  msg_id/timestamp are used by "standard" only. */
int fwc_sign(FwcSigScheme scheme, const char *secret, size_t secret_len,
             const char *body, size_t body_len, const char *msg_id, long long timestamp,
             FwcSigHeader out[3], FwcError *err);

/* The check verify() makes, without the GIL: the header values as received (sig; for
 * "standard" also id and ts; whitespace around each is ignored), the key from
 * fwc_sign_key and `now` in Unix seconds.  *ok is 1 when a signature matches.  Returns
 * FWC_OK, or an OpenSSL failure with err set. */
FwcStatus fwc_verify(FwcSigScheme scheme, const unsigned char *key, size_t keylen,
                     const char *body, size_t body_len, const char *sig, size_t sig_len,
                     const char *id, size_t id_len, const char *ts, size_t ts_len,
                     long long tolerance, long long now, int *ok, FwcError *err);

/* Python-facing sign() and verify() (sign.c). */
PyObject *fwc_py_sign(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *fwc_py_verify(PyObject *module, PyObject *args, PyObject *kwargs);

/* ---------- a compiled webhook: immutable, shared read-only by threads ---------- */

typedef enum { FWC_STRUCT_NONE, FWC_STRUCT_FORM, FWC_STRUCT_JSON } FwcStructure;

typedef struct {
    char *fieldname, *key;
    size_t fieldname_len, key_len;
    uint32_t slot;          /* the key's position in the body (a repeated key keeps its first) */
    int first;              /* the first row with this key */
} FwcFieldRow;

typedef struct {
    char *name, *value;     /* NUL-terminated; validated: no CR, LF or NUL */
} FwcHeader;

/* An IP network from allowed_networks, e.g. 10.0.0.0/8 or fd00::/8 (http.c). */
typedef struct {
    uint8_t family;         /* 4 or 6 */
    uint8_t prefix;         /* 0..32 or 0..128 */
    uint8_t addr[16];       /* network address, host bits zero */
} FwcNetwork;

typedef struct FwcHookSpec {
    atomic_int refs;
    char *name;             /* "" when unnamed */
    char *request_url;
    char *webhook_doctype;  /* "" when unset */
    char *webhook_docevent; /* "" when unset */
    char *request_method;   /* POST PUT DELETE PATCH */
    FwcStructure structure;
    char *webhook_json;     /* template source or NULL */
    FwcTemplate *json_tmpl; /* webhook_json compiled; NULL when none (or a callable) */
    FwcTemplate *url_tmpl;  /* request_url compiled when is_dynamic_url */
    int json_escape;        /* values inside JSON string literals of the template are escaped */
    PyObject *json_callable; /* webhook_json as a callable (doc) -> data: borrowed, the Webhook
                              * object owns it; called only with the GIL, at snapshot time */
    FwcFieldRow *fields;
    size_t nfields;
    size_t nfield_keys;     /* distinct keys of the field rows: the body's size */
    FwcHeader *headers;     /* custom headers after Frappe's dict semantics */
    size_t nheaders;
    char *secret;           /* NULL when security is off */
    size_t secret_len;
    int signatures;         /* FwcSigScheme bits; 0 when security is off */
    int enabled, is_dynamic_url;
    FwcJsonStyle json_style;
    FwcExpr *condition;     /* compiled condition, NULL when none (or a callable) */
    int condition_callable; /* condition is a Python callable (kept by the Webhook object) */
    double timeout;
    int max_retries;
    double *retry_schedule;     /* seconds between attempts (>= 1 step; the last repeats) */
    size_t nretry_schedule;
    double retry_jitter;        /* fraction of a step, 0..1 */
    /* transport (http.c) */
    unsigned long serial;   /* unique per spec, so a thread's handle can keep its options */
    int follow_redirects;   /* 0: redirects are returned, not followed */
    int verify_tls;
    char *ca_file, *client_cert, *client_key, *proxy;   /* NULL when unset */
    int allow_private_networks;
    FwcNetwork *allowed_networks;
    size_t nallowed_networks;
    size_t max_response_bytes;
} FwcHookSpec;

/* http(s)://host... as Frappe's urlparse(url).netloc check plus a scheme check; no GIL. */
FwcStatus fwc_url_validate(const char *url, FwcError *err);
/* The spec of a Webhook object (borrowed), or NULL when obj is not a Webhook. */
FwcHookSpec *fwc_webhook_spec_of(PyObject *obj);
/* Keyword names Webhook() accepts, NULL-terminated (for from_frappe). */
const char *const *fwc_hook_keywords(void);
void fwc_spec_incref(FwcHookSpec *s);
void fwc_spec_decref(FwcHookSpec *s);   /* no GIL needed */
/* Validates keyword arguments into a new spec (GIL held); NULL + ValidationError/TypeError. */
FwcHookSpec *fwc_spec_from_kwargs(FwcModuleState *st, PyObject *kwargs, PyObject **attrs_out);
/* The snapshot a request of spec needs (tmpl_hooks.c): for a callable webhook_json (and no field rows),
 * the snapshot of callable(doc); otherwise of the document.  NULL + exception. */
FwcSnapshot *fwc_spec_snapshot(const FwcHookSpec *spec, PyObject *doc);

/* ---------- a built request: what would go on the wire ---------- */

typedef struct {
    char *name, *value;
} FwcHeaderPair;

typedef struct {
    FwcArena arena;         /* owns data nodes, header strings, url */
    FwcSnapshot *snap;      /* data may point into it; one reference held */
    FwcValue data;          /* what Frappe calls data */
    FwcBuf body;            /* exact body bytes */
    const char *url;
    const char *method;
    FwcHeaderPair *headers;
    size_t nheaders;
} FwcBuilt;

/* Builds the request for one document without the GIL.  msg_id/timestamp are used by
 * the Standard Webhooks signature.  On error, `out` is released and err is set. */
FwcStatus fwc_request_build(const FwcHookSpec *spec, FwcSnapshot *snap, const char *msg_id,
                            long long timestamp, FwcBuilt *out, FwcError *err);
void fwc_built_release(FwcBuilt *b);    /* no GIL needed */

/* A new Standard Webhooks message id, "msg_" + 24 random base62 characters. */
void fwc_new_msg_id(char out[32]);

/* Request Python object owning a built request (stolen). NULL + exception on failure. */
PyObject *fwc_request_new(FwcModuleState *st, FwcBuilt *built);

/* ---------- HTTP transport (http.c): libcurl, no GIL, no PyObject ----------
 * One transfer = fwc_http_prepare() on an easy handle, a perform (curl_easy_perform
 * here, a curl multi handle in a background dispatcher), fwc_http_complete() with the
 * CURLcode, fwc_http_release().  fwc_http_send() does all of it on the calling
 * thread's own handle, which keeps connections alive between calls. */

#define FWC_DEFAULT_MAX_RESPONSE 65536

typedef enum {
    FWC_NET_OK = 0,     /* a response arrived (any status) */
    FWC_NET_REFUSED,    /* connection refused / could not connect */
    FWC_NET_TIMEOUT,
    FWC_NET_TLS,        /* certificate verification or handshake */
    FWC_NET_SSRF,       /* the address is not allowed (never retried) */
    FWC_NET_REDIRECT,   /* a redirect was refused or there were too many */
    FWC_NET_DNS,
    FWC_NET_RESET,      /* reset / closed without a response */
    FWC_NET_OTHER,
} FwcNetKind;

typedef struct {
    long status;            /* HTTP status of the final response; 0 when none */
    FwcNetKind kind;
    int truncated;          /* the body was longer than max_response_bytes */
    double elapsed;         /* seconds, whole transfer */
    FwcBuf headers;         /* final response's header lines, "Name: value\r\n" each */
    FwcBuf body;            /* at most max_response_bytes */
    char *url;              /* effective URL after redirects (malloc'd); NULL: the request's */
    char error[512];        /* "" when kind == FWC_NET_OK and the status is not a refused redirect */
} FwcResult;

typedef struct FwcTransfer FwcTransfer;   /* opaque; lives in http.c */

int fwc_http_global_init(void);     /* curl_global_init once; -1 on failure (GIL held) */
unsigned long fwc_spec_next_serial(void);   /* a new FwcHookSpec.serial */
/* A transfer for (spec, req) on `easy` (which it configures).  spec and req are borrowed
 * and must outlive the transfer.  NULL when out of memory. */
FwcTransfer *fwc_http_prepare(void *easy, const FwcHookSpec *spec, const FwcBuilt *req);
/* Fills the result from the perform's CURLcode; the result is moved out to `out`. */
void fwc_http_complete(FwcTransfer *t, int curl_code, FwcResult *out);
void fwc_http_release(FwcTransfer *t);
/* A transfer that stays with its easy handle across requests (the Dispatcher's handle
 * pool): fwc_http_transfer_new(easy) once (NULL on OOM); before each request
 * fwc_http_rearm(t, spec, req), which sets only the per-request options when spec is the
 * previous request's (and the URL only when it changed): 0 ok, 1 ok but the handle was
 * reset (curl_easy_reset: the caller's own options are gone), -1 out of memory; then
 * perform and fwc_http_complete as above; fwc_http_transfer_free(t) at the end (the easy
 * handle is the caller's). */
FwcTransfer *fwc_http_transfer_new(void *easy);
int fwc_http_rearm(FwcTransfer *t, const FwcHookSpec *spec, const FwcBuilt *req);
/* The SSRF-checked socket opener that fwc_http_rearm installs
 * (CURLOPT_OPENSOCKETFUNCTION with t), for a caller that wraps it. */
int fwc_http_open_socket(FwcTransfer *t, int purpose, void *curl_sockaddr);
void fwc_http_transfer_free(FwcTransfer *t);
/* Synchronous send on this thread's handle.  FWC_ENOMEM only; network failures are in out. */
FwcStatus fwc_http_send(const FwcHookSpec *spec, const FwcBuilt *req, FwcResult *out, FwcError *err);
void fwc_result_free(FwcResult *r);
/* A number of seconds as the error texts write it: "5.0", "0.25" (http.c). */
void fwc_seconds_text(double s, char *out, size_t n);
/* time: monotonic and Unix seconds (engine.c) */
double fwc_mono_now(void);
double fwc_wall_now(void);

/* SSRF classification: the reason an address is refused ("loopback address", ...) or
 * NULL for a public address.  addr is 4 or 16 bytes. */
const char *fwc_addr_class(int family, const uint8_t *addr);
/* 0 when spec allows connecting to the address (text form), else -1 with msg filled. */
int fwc_addr_check(const FwcHookSpec *spec, int family, const uint8_t *addr, char *msg, size_t msglen);
/* Parses "10.0.0.0/8", "fd00::/8" or a bare address; -1 with why filled. */
int fwc_net_parse(const char *text, FwcNetwork *out, char *why, size_t whylen);
/* Canonical text of a network ("10.0.0.0/8"). */
void fwc_net_format(const FwcNetwork *n, char *out, size_t outlen);

/* Response Python object (response.c): takes the result (moved) and a new reference to
 * the Request.  NULL + exception. */
PyObject *fwc_response_new(FwcModuleState *st, FwcResult *res, PyObject *request);
/* Builds and sends the request of hook (a Webhook) for doc; GIL released after the
 * snapshot. */
PyObject *fwc_dispatch(FwcModuleState *st, PyObject *hook, PyObject *doc);
/* Module-level dispatch(hook, doc), _classify_address(addr), _address_refusal(hook, addr). */
PyObject *fwc_py_dispatch(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *fwc_py_classify_address(PyObject *module, PyObject *addr);
PyObject *fwc_py_address_refusal(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
/* The spec of a Webhook object (borrowed), or NULL + TypeError. */
FwcHookSpec *fwc_webhook_get_spec(FwcModuleState *st, PyObject *hook);
/* The snapshot hook's request needs of doc (only what it reads: see FwcShape): new
 * reference, or NULL + exception.  hook must be a Webhook. */
FwcSnapshot *fwc_webhook_snapshot(PyObject *hook, PyObject *doc);

/* ---------- background delivery (dispatcher.c, delivery.c) ---------- */

/* Adds Dispatcher, Delivery and QueueFull to the module (module init). */
int fwc_dispatcher_init(PyObject *m, FwcModuleState *st);
/* Module-level helpers for frappe_webhook_c._delivery: the on_result thread's
 * _take_results(engine) / _release_engine(engine), and _close_all(timeout) at exit. */
PyObject *fwc_py_take_results(PyObject *module, PyObject *cap);
PyObject *fwc_py_release_engine(PyObject *module, PyObject *cap);
PyObject *fwc_py_close_all(PyObject *module, PyObject *timeout);

/* ---------- module state ---------- */

struct FwcModuleState {
    PyObject *ValidationError;
    PyObject *TemplateError;
    PyObject *ConditionError;
    PyObject *DeliveryError;
    PyObject *WebhookType;
    PyObject *RequestType;
    PyObject *ResponseType;
    PyObject *DispatcherType;
    PyObject *DeliveryType;
    PyObject *QueueFull;
};

extern PyModuleDef fwc_module_def;
FwcModuleState *fwc_state_of_type(PyTypeObject *tp);   /* borrowed; for heap types */
FwcModuleState *fwc_state_of_module(PyObject *m);
/* Raises the Python exception for a GIL-free error; returns NULL. */
PyObject *fwc_raise(FwcModuleState *st, const FwcError *err);

/* Type specs registered by module.c */
extern PyType_Spec fwc_webhook_spec;
extern PyType_Spec fwc_request_spec;
extern PyType_Spec fwc_response_spec;
extern PyType_Spec fwc_dispatcher_spec;
extern PyType_Spec fwc_delivery_spec;

#endif
