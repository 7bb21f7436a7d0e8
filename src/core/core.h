/* core.h — the bottom layer: what every other layer builds on, with no Python and no I/O.
 *
 *   buf.c     FwcError, growable byte buffers, the arena (bump allocator)
 *   value.c   the immutable value tree, snapshots (refcounted trees), numeric comparison
 *   shape.c   shapes: which parts of a document a request reads
 *   clock.c   monotonic and Unix time
 *   msgid.c   message ids ("msg_" + 24 base62 characters)
 *   ipnet.c   IP networks ("10.0.0.0/8"): parsing and canonical text
 *
 * Everything here is usable on any thread without the GIL.  Functions return a status
 * (or NULL / -1 on out of memory) and fill an FwcError; the Python layer (src/py) turns an
 * FwcError into an exception with one map (fwc_raise). */
#ifndef FWC_CORE_H
#define FWC_CORE_H

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FWC_VERSION "0.1.0"

/* Deepest nesting a document may have (dicts and lists); documented in the README. */
#define FWC_MAX_DEPTH 200

/* ---------- status codes and GIL-free errors ---------- */

typedef enum {
    FWC_OK = 0,
    FWC_ENOMEM,     /* -> MemoryError */
    FWC_ETYPE,      /* -> TypeError */
    FWC_EVALUE,     /* -> ValueError */
    FWC_ECONDITION, /* -> ConditionError */
    FWC_ETEMPLATE,  /* -> TemplateError */
    FWC_ELIMIT,     /* a sandbox bound was hit -> the engine's own error type */
    FWC_ERUNTIME,   /* -> RuntimeError (e.g. threads that could not be started) */
    FWC_ESTORE,     /* -> StoreError: the store could not be read or written */
} FwcStatus;

typedef struct {
    FwcStatus code;
    int line, col; /* 0 when unknown */
    char message[512];
} FwcError;

/* Fills err (if not NULL) and returns code. */
FwcStatus fwc_error_set(FwcError *err, FwcStatus code, const char *fmt, ...);

/* ---------- growable byte buffer (malloc based: usable without the GIL) ---------- */

typedef struct {
    char *data;
    size_t len, cap;
} FwcBuf;

#define FWC_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
int fwc_buf_grow(FwcBuf *b, size_t extra); /* 0 ok, -1 out of memory */
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
    char *cur, *end; /* free space in the newest block */
    size_t total;    /* bytes handed out, for limits and stats */
} FwcArena;          /* zero-initialised = empty */

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
    FWC_T_NULL,
    FWC_T_BOOL,
    FWC_T_INT,
    FWC_T_BIGINT,
    FWC_T_FLOAT,
    FWC_T_STR,
    FWC_T_LIST,
    FWC_T_DICT,
    /* expression-engine results only (never in a snapshot): */
    FWC_T_TUPLE, /* items, like LIST */
    FWC_T_SET,   /* items, unique, in insertion order */
    FWC_T_RANGE, /* range: len items, u.range = {start, step} */
} FwcType;

typedef struct FwcValue FwcValue;
typedef struct FwcPair FwcPair;

struct FwcValue {
    uint8_t type;  /* FwcType */
    uint8_t ascii; /* STR: every byte < 0x80 */
    uint32_t len;  /* STR/BIGINT: bytes; LIST: items; DICT: pairs */
    union {
        int64_t i;     /* BOOL (0/1), INT */
        double f;      /* FLOAT */
        const char *s; /* STR, BIGINT (NUL-terminated) */
        FwcValue *items;
        FwcPair *pairs;
        const int64_t *range; /* RANGE: start, step */
    } u;
};

struct FwcPair {
    FwcValue key; /* STR, INT, BIGINT, FLOAT, BOOL or NULL, as json accepts */
    FwcValue value;
};

#define FWC_MAX_LEN UINT32_MAX

/* Python's name of the value's type ("NoneType", "int", "list", ...). */
const char *fwc_value_type_name(const FwcValue *v);
/* Value of the str key `key` in dict d (the last one if repeated), or NULL. Borrowed. */
const FwcValue *fwc_dict_get(const FwcValue *d, const char *key, size_t n);

static inline FwcValue fwc_null(void)
{
    FwcValue v = { FWC_T_NULL, 1, 0, { 0 } };
    return v;
}

/* Python's ordering of two numbers (BOOL, INT, BIGINT or FLOAT, mixed freely; exact
 * between int and float): -1, 0 or 1 for a < b, a == b, a > b, or 2 when unordered (a
 * NaN is involved).  Used by the expression engine (==, <, ...) and by json's sort_keys. */
int fwc_num_compare(const FwcValue *a, const FwcValue *b);

/* ---------- snapshot: a value tree and the arena that owns it, shared by threads ----------
 * Taken from a Python document by the Python layer (py/snapshot.c), then immutable. */

typedef struct {
    atomic_int refs;
    FwcArena arena;
    FwcValue root; /* always a DICT for documents */
} FwcSnapshot;

/* An empty snapshot (refs 1, root null); NULL on OOM. */
FwcSnapshot *fwc_snapshot_new(void);
void fwc_snapshot_incref(FwcSnapshot *s);
void fwc_snapshot_decref(FwcSnapshot *s); /* frees at zero */

/* ---------- shapes: the parts of a document a request can read ----------
 * A field map reads its fields; a template what tmpl_shape.c finds (doc.total, the
 * item_code of each row of doc.items...).  A request snapshots only that: an ERPNext
 * document has hundreds of fields and a webhook reads a handful.  Wherever the
 * analysis cannot tell, the shape says "whole". */

typedef struct FwcShape FwcShape;
typedef struct {
    const char *name; /* UTF-8, owned by the shape */
    size_t len;
    void *key;     /* opaque to this layer: the Python layer's interned str of name,
                         * for lookups (py/snapshot.c binds and releases it) */
    FwcShape *sub; /* what is read of its value */
} FwcShapeKey;
struct FwcShape {
    int whole;         /* the value as it is */
    int dict_whole;    /* a dict with all its keys (its key set is seen: length, loops) */
    FwcShape *elems;   /* what is read of each item of a list; NULL: no item is read */
    FwcShapeKey *keys; /* a dict: only these keys */
    size_t nkeys, cap;
};

FwcShape *fwc_shape_new(void); /* NULL on OOM; no GIL needed */
/* The sub-shape of key `name` (added, empty, if new); NULL on OOM. */
FwcShape *fwc_shape_key(FwcShape *s, const char *name, size_t n);
/* dst |= src; -1 on OOM.  Sets *changed when dst grew.  Each node visited spends one of
 * *budget; when it runs out, what is left is read whole (the work stays bounded). */
int fwc_shape_merge(FwcShape *dst, const FwcShape *src, int *changed, size_t *budget);
/* Frees s; its keys must have been released (py/snapshot.c fwc_shape_release). */
void fwc_shape_free(FwcShape *s);

/* ---------- clock (clock.c) ---------- */

double fwc_mono_now(void); /* monotonic seconds */
double fwc_wall_now(void); /* Unix time */
/* Monotonic time t as a timespec: the deadline of a wait on a CLOCK_MONOTONIC condition. */
struct timespec fwc_mono_timespec(double t);

/* ---------- message ids (msgid.c) ---------- */

/* A new Standard Webhooks message id, "msg_" + 24 random base62 characters (NUL-ended). */
void fwc_new_msg_id(char out[32]);

/* ---------- IP networks (ipnet.c) ---------- */

/* An IP network, e.g. 10.0.0.0/8 or fd00::/8 (allowed_networks). */
typedef struct {
    uint8_t family;   /* 4 or 6 */
    uint8_t prefix;   /* 0..32 or 0..128 */
    uint8_t addr[16]; /* network address, host bits zero */
} FwcNetwork;

/* Parses "10.0.0.0/8", "fd00::/8" or a bare address; -1 with why filled. */
int fwc_net_parse(const char *text, FwcNetwork *out, char *why, size_t whylen);
/* Canonical text of a network ("10.0.0.0/8"). */
void fwc_net_format(const FwcNetwork *n, char *out, size_t outlen);

#endif
