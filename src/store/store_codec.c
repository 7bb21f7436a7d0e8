/* store_codec.c — a value tree <-> the bytes the store keeps of a document.
 *
 * Version 1: the magic "FWS1", one value, nothing after it.  A value is a tag byte and its
 * payload (varints are LEB128, at most 10 bytes):
 *   0x00 null   0x01 false   0x02 true
 *   0x03 int     zigzag varint
 *   0x04 bigint  varint length, the decimal text: '-'? [1-9][0-9]* beyond int64
 *   0x05 float   the 8 bytes of the IEEE-754 double, little-endian (NaN payloads, -0.0)
 *   0x06 str     varint length, UTF-8 with lone surrogates in their 3-byte form
 *   0x07 list    varint count, the items
 *   0x08 dict    varint count, then key and value of each pair (a key is tags 0x00-0x06)
 * Varints are minimal and lengths at most FWC_MAX_LEN, so a tree has one encoding only:
 * decoding then encoding gives back the same bytes (fuzz_snapshot_decode checks it).
 *
 * The decoder reads a database file: every length is checked against what is left
 * before anything is allocated, so a snapshot costs at most 16 arena bytes per input
 * byte (a list of nulls).  Both directions walk with an explicit stack of FWC_MAX_DEPTH
 * frames (the nesting bound of snapshots and JSON), never by recursion. */
#include "store/store.h"

#define MAGIC      "FWS1"
#define MAGIC_LEN  4
#define TAG_NULL   0x00
#define TAG_FALSE  0x01
#define TAG_TRUE   0x02
#define TAG_INT    0x03
#define TAG_BIGINT 0x04
#define TAG_FLOAT  0x05
#define TAG_STR    0x06
#define TAG_LIST   0x07
#define TAG_DICT   0x08
#define VARINT_MAX 10

/* Whether s[0..n) is a BIGINT as the producers make it (int.__repr__ of an int beyond
 * int64): fwc_num_compare relies on both the missing leading zeros and the range. */
static int bigint_ok(const char *s, size_t n)
{
    size_t neg = n && s[0] == '-';
    const char *d = s + neg;
    size_t nd = n - neg;
    if (nd < 19 || d[0] == '0') return 0;
    for (size_t i = 0; i < nd; i++)
        if ((unsigned)(d[i] - '0') > 9) return 0;
    /* 19 digits: beyond INT64_MAX (or below INT64_MIN) only past the limit's digits */
    return nd > 19 || memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* ---------- encoding ---------- */

static inline char *put_varint(char *d, uint64_t v)
{
    while (v >= 0x80) {
        *d++ = (char)(v | 0x80);
        v >>= 7;
    }
    *d++ = (char)v;
    return d;
}

/* A tag, a length and n bytes, with one reservation. */
static int put_bytes(FwcBuf *b, int tag, const char *s, size_t n)
{
    if (fwc_buf_reserve(b, 1 + VARINT_MAX + n) < 0) return -1;
    char *d = b->data + b->len;
    *d++ = (char)tag;
    d = put_varint(d, n);
    if (n) memcpy(d, s, n);
    b->len = (size_t)(d + n - b->data);
    return 0;
}

/* Everything but a container (so also every dict key); -1 on OOM or another type. */
static int put_scalar(FwcBuf *b, const FwcValue *v)
{
    if (fwc_buf_reserve(b, 1 + VARINT_MAX) < 0) return -1;
    char *d = b->data + b->len;
    switch ((FwcType)v->type) {
    case FWC_T_NULL: *d++ = TAG_NULL; break;
    case FWC_T_BOOL: *d++ = v->u.i ? TAG_TRUE : TAG_FALSE; break;
    case FWC_T_INT:
        *d++ = TAG_INT;
        d = put_varint(d, ((uint64_t)v->u.i << 1) ^ (uint64_t)(v->u.i >> 63));
        break;
    case FWC_T_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->u.f, 8);
        *d++ = TAG_FLOAT;
        for (int i = 0; i < 8; i++) *d++ = (char)(bits >> (8 * i));
        break;
    }
    case FWC_T_STR: return put_bytes(b, TAG_STR, v->u.s, v->len);
    case FWC_T_BIGINT:
        /* refused here, not stored and then refused by every later decode */
        if (!bigint_ok(v->u.s, v->len)) return -1;
        return put_bytes(b, TAG_BIGINT, v->u.s, v->len);
    default: return -1;
    }
    b->len = (size_t)(d - b->data);
    return 0;
}

typedef struct {
    union {
        const FwcValue *item; /* LIST: the next item */
        const FwcPair *pair;  /* DICT: the next pair */
    } next;
    uint32_t left;
    int dict;
} EncFrame;

int fwc_snapshot_encode(const FwcValue *root, FwcBuf *out)
{
    EncFrame stack[FWC_MAX_DEPTH];
    int sp = 0;
    size_t start = out->len;
    if (fwc_buf_append(out, MAGIC, MAGIC_LEN) < 0) return -1;
    const FwcValue *v = root;
    for (;;) {
        if (v->type == FWC_T_LIST || v->type == FWC_T_DICT) {
            int dict = v->type == FWC_T_DICT;
            /* deeper than a snapshot or JSON ever nests: the decoder would refuse it */
            if (sp == FWC_MAX_DEPTH || fwc_buf_reserve(out, 1 + VARINT_MAX) < 0) goto fail;
            char *d = out->data + out->len;
            *d++ = (char)(dict ? TAG_DICT : TAG_LIST);
            out->len = (size_t)(put_varint(d, v->len) - out->data);
            if (v->len) {
                EncFrame *f = &stack[sp++];
                f->left = v->len;
                f->dict = dict;
                if (dict) f->next.pair = v->u.pairs;
                else f->next.item = v->u.items;
            }
        } else if (put_scalar(out, v) < 0) {
            goto fail;
        }
        /* the next value: in the innermost container with items left */
        for (;;) {
            if (!sp) return 0;
            EncFrame *f = &stack[sp - 1];
            if (!f->left) {
                sp--;
                continue;
            }
            f->left--;
            if (f->dict) {
                const FwcPair *p = f->next.pair++;
                if (put_scalar(out, &p->key) < 0) goto fail;
                v = &p->value;
            } else {
                v = f->next.item++;
            }
            break;
        }
    }
fail:
    out->len = start; /* nothing half-written stays appended */
    return -1;
}

/* ---------- decoding ---------- */

typedef struct {
    const uint8_t *p, *end, *start;
    FwcArena *arena;
    FwcError *err;
} Reader;

/* "corrupt snapshot: <why> (at byte N)", N where the reader stands */
static int corrupt(Reader *r, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fwc_error_set(r->err, FWC_EVALUE, "corrupt snapshot: %s (at byte %zu)", why,
                  (size_t)(r->p - r->start));
    return -1;
}

static int oom(Reader *r)
{
    fwc_error_set(r->err, FWC_ENOMEM, "out of memory decoding a snapshot");
    return -1;
}

/* A minimal LEB128 varint of at most 64 bits. */
static int get_varint(Reader *r, uint64_t *out)
{
    *out = 0;
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        if (r->p == r->end) return corrupt(r, "truncated");
        unsigned c = *r->p++;
        /* the 10th byte holds bit 63 only (and ends the varint) */
        if (shift == 63 && c > 1) return corrupt(r, "varint beyond 64 bits");
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            if (!c && shift) return corrupt(r, "varint not in its shortest form");
            *out = v;
            return 0;
        }
    }
}

/* A length of bytes that must all be there. */
static int get_len(Reader *r, size_t *out)
{
    uint64_t n;
    if (get_varint(r, &n) < 0) return -1;
    if (n > FWC_MAX_LEN) return corrupt(r, "length beyond 4 GiB");
    if (n > (uint64_t)(r->end - r->p)) return corrupt(r, "length beyond the end");
    *out = (size_t)n;
    return 0;
}

/* Whether s[0..n) is UTF-8 as the value tree holds it: well-formed, except that the
 * 3-byte forms of surrogates (U+D800-U+DFFF) are allowed; *ascii: no byte >= 0x80. */
static int utf8_ok(const uint8_t *s, size_t n, int *ascii)
{
    size_t i = 0;
    *ascii = 1;
    while (i < n) {
        /* eight ASCII bytes at a time: documents are mostly ASCII */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        *ascii = 0;
        size_t len = c >= 0xC2 && c <= 0xDF   ? 2
                     : c >= 0xE0 && c <= 0xEF ? 3
                     : c >= 0xF0 && c <= 0xF4 ? 4
                                              : 0;
        if (!len || n - i < len) return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[i + 1] < 0xA0) return 0; /* overlong */
        if (c == 0xF0 && s[i + 1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[i + 1] > 0x8F) return 0; /* beyond U+10FFFF */
        i += len;
    }
    return 1;
}

/* A NUL-terminated copy of n input bytes in the arena. */
static const char *copy_text(Reader *r, size_t n)
{
    if (!n) return "";
    char *s = fwc_arena_strdup(r->arena, (const char *)r->p, n);
    if (!s) oom(r);
    r->p += n;
    return s;
}

/* The payload of a non-container tag into out. */
static int get_scalar(Reader *r, unsigned tag, FwcValue *out)
{
    out->ascii = 1;
    out->len = 0;
    out->u.i = 0;
    switch (tag) {
    case TAG_NULL: out->type = FWC_T_NULL; return 0;
    case TAG_FALSE:
    case TAG_TRUE:
        out->type = FWC_T_BOOL;
        out->u.i = tag == TAG_TRUE;
        return 0;
    case TAG_INT: {
        uint64_t z;
        if (get_varint(r, &z) < 0) return -1;
        out->type = FWC_T_INT;
        out->u.i = (int64_t)((z >> 1) ^ (0 - (z & 1)));
        return 0;
    }
    case TAG_FLOAT: {
        if (r->end - r->p < 8) return corrupt(r, "truncated float");
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits |= (uint64_t)r->p[i] << (8 * i);
        r->p += 8;
        out->type = FWC_T_FLOAT;
        memcpy(&out->u.f, &bits, 8);
        return 0;
    }
    case TAG_BIGINT:
    case TAG_STR: {
        size_t n = 0;
        int ascii = 1;
        if (get_len(r, &n) < 0) return -1;
        if (tag == TAG_BIGINT && !bigint_ok((const char *)r->p, n))
            return corrupt(r, "big integer that is not canonical decimal text beyond int64");
        if (tag == TAG_STR && !utf8_ok(r->p, n, &ascii))
            return corrupt(r, "string that is not valid UTF-8");
        if (!(out->u.s = copy_text(r, n))) return -1;
        out->type = tag == TAG_STR ? FWC_T_STR : FWC_T_BIGINT;
        out->ascii = (uint8_t)(tag == TAG_STR ? ascii : 1);
        out->len = (uint32_t)n;
        return 0;
    }
    default: r->p--; return corrupt(r, "unknown tag 0x%02x", tag);
    }
}

typedef struct {
    union {
        FwcValue *items;
        FwcPair *pairs;
    } u;
    uint32_t i, n;
    int dict;
} DecFrame;

/* A container's count and its slots; pushes a frame when it has items. */
static int get_container(Reader *r, unsigned tag, FwcValue *out, DecFrame *stack, int *sp)
{
    int dict = tag == TAG_DICT;
    if (*sp == FWC_MAX_DEPTH) return corrupt(r, "nests deeper than %d levels", FWC_MAX_DEPTH);
    uint64_t n;
    if (get_varint(r, &n) < 0) return -1;
    /* every item takes a byte at least, every pair two: nothing is allocated for bytes
     * that are not there */
    size_t left = (size_t)(r->end - r->p);
    if (n > FWC_MAX_LEN || n > (dict ? left / 2 : left)) return corrupt(r, "count beyond the end");
    void *mem = NULL;
    if (n) {
        size_t size = dict ? sizeof(FwcPair) : sizeof(FwcValue);
        if (n > SIZE_MAX / size || !(mem = fwc_arena_alloc(r->arena, (size_t)n * size)))
            return oom(r);
        DecFrame *f = &stack[(*sp)++];
        f->u.items = mem;
        f->i = 0;
        f->n = (uint32_t)n;
        f->dict = dict;
    }
    out->type = dict ? FWC_T_DICT : FWC_T_LIST;
    out->ascii = 1;
    out->len = (uint32_t)n;
    out->u.items = mem;
    return 0;
}

FwcSnapshot *fwc_snapshot_decode(const void *data, size_t len, FwcError *err)
{
    FwcSnapshot *s = fwc_snapshot_new();
    if (!s) {
        fwc_error_set(err, FWC_ENOMEM, "out of memory decoding a snapshot");
        return NULL;
    }
    Reader r = { data, (const uint8_t *)data + len, data, &s->arena, err };
    if (len < MAGIC_LEN || memcmp(data, MAGIC, MAGIC_LEN - 1) != 0) {
        corrupt(&r, "not a snapshot (no FWS magic)");
        goto fail;
    }
    if (r.p[MAGIC_LEN - 1] != MAGIC[MAGIC_LEN - 1]) {
        r.p += MAGIC_LEN - 1;
        corrupt(&r, "unknown version");
        goto fail;
    }
    r.p += MAGIC_LEN;

    DecFrame stack[FWC_MAX_DEPTH];
    int sp = 0;
    FwcValue *slot = &s->root;
    for (;;) {
        if (r.p == r.end) {
            corrupt(&r, "truncated");
            goto fail;
        }
        unsigned tag = *r.p++;
        int rc = tag == TAG_LIST || tag == TAG_DICT ? get_container(&r, tag, slot, stack, &sp)
                                                    : get_scalar(&r, tag, slot);
        if (rc < 0) goto fail;
        /* the next slot: in the innermost container with items left */
        for (;;) {
            if (!sp) goto done;
            DecFrame *f = &stack[sp - 1];
            if (f->i == f->n) {
                sp--;
                continue;
            }
            if (!f->dict) {
                slot = &f->u.items[f->i++];
                break;
            }
            FwcPair *p = &f->u.pairs[f->i++];
            if (r.p == r.end) {
                corrupt(&r, "truncated");
                goto fail;
            }
            unsigned kt = *r.p++;
            if (kt == TAG_LIST || kt == TAG_DICT) {
                r.p--;
                corrupt(&r, "a list or dict as a dict key");
                goto fail;
            }
            if (get_scalar(&r, kt, &p->key) < 0) goto fail;
            slot = &p->value;
            break;
        }
    }
done:
    if (r.p != r.end) {
        corrupt(&r, "trailing bytes");
        goto fail;
    }
    return s;
fail:
    fwc_snapshot_decref(s);
    return NULL;
}
