/* pure_check.c — unit checks of the pure layers, built and run without Python (the layer
 * rule makes that possible): core (buffers, arena, value lookups, message ids, IP
 * networks, shapes), json (writer and parser against fixed expectations, parse -> write
 * round trips), the HTTP/1.1 response parser (whole and byte by byte) and the store's
 * snapshot codec (random trees round-tripped, corrupted encodings refused).
 *
 * Build (tests/test_pure_c.py does it, also with ASan+UBSan):
 *   gcc -std=c11 -D_GNU_SOURCE=1 -I src tests/c/pure_check.c <every .c of src/core and
 *       src/json> src/net/h1_response.c src/net/result.c src/store/store_codec.c
 *       -lcrypto -lm
 * Prints "ok N checks" and exits 0, or names the first failed check and exits 1. */
#include "net/h1.h"
#include "store/store.h"
#include <ctype.h>
#include <math.h>

static int checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void check_buf_and_arena(void)
{
    FwcBuf b = FWC_BUF_INIT;
    for (int i = 0; i < 1000; i++) CHECK(fwc_buf_put_int(&b, i - 500) == 0, "put_int");
    CHECK(b.len == 3282, "1000 ints from -500 make 3282 bytes, not %zu", b.len);
    CHECK(memcmp(b.data, "-500-499", 8) == 0, "starts %.8s", b.data);
    b.len = 0;
    CHECK(fwc_buf_put_int(&b, INT64_MIN) == 0 && b.len == 20 &&
              memcmp(b.data, "-9223372036854775808", 20) == 0,
          "INT64_MIN is %.*s", (int)b.len, b.data);
    b.len = 0;
    CHECK(fwc_buf_put_utf8(&b, 0x20AC) == 0 && b.len == 3 && memcmp(b.data, "\xe2\x82\xac", 3) == 0,
          "euro sign");
    fwc_buf_free(&b);

    FwcArena a = { 0 };
    char *big = fwc_arena_alloc(&a, 1 << 20);
    CHECK(big && ((uintptr_t)big & 15) == 0, "1 MiB aligned");
    memset(big, 1, 1 << 20);
    for (int i = 0; i < 10000; i++) {
        char *p = fwc_arena_strdup(&a, "abc", 3);
        CHECK(p && ((uintptr_t)p & 15) == 0 && strcmp(p, "abc") == 0, "strdup %d", i);
    }
    fwc_arena_free(&a);

    FwcError err;
    CHECK(fwc_error_set(&err, FWC_EVALUE, "x=%d", 42) == FWC_EVALUE &&
              strcmp(err.message, "x=42") == 0,
          "error_set");
}

static void check_msgid_and_ipnet(void)
{
    char a[32], b[32];
    fwc_new_msg_id(a);
    fwc_new_msg_id(b);
    CHECK(strlen(a) == 28 && memcmp(a, "msg_", 4) == 0, "id %s", a);
    CHECK(strcmp(a, b) != 0, "two ids differ: %s", a);
    for (int i = 4; i < 28; i++) CHECK(isalnum((unsigned char)a[i]), "base62 char in %s", a);

    FwcNetwork n;
    char why[160], text[64];
    CHECK(fwc_net_parse("10.0.0.0/8", &n, why, sizeof why) == 0 && n.family == 4 && n.prefix == 8,
          "%s", why);
    fwc_net_format(&n, text, sizeof text);
    CHECK(strcmp(text, "10.0.0.0/8") == 0, "%s", text);
    CHECK(fwc_net_parse("fd00::/8", &n, why, sizeof why) == 0 && n.family == 6, "%s", why);
    CHECK(fwc_net_parse("::1", &n, why, sizeof why) == 0 && n.prefix == 128, "%s", why);
    CHECK(fwc_net_parse("10.0.0.1/8", &n, why, sizeof why) < 0 && strstr(why, "host bits"), "%s",
          why);
    CHECK(fwc_net_parse("10.0.0.0/33", &n, why, sizeof why) < 0 && strstr(why, "at most 32"), "%s",
          why);
    CHECK(fwc_net_parse("example.com", &n, why, sizeof why) < 0 && strstr(why, "not an IP network"),
          "%s", why);
}

static void check_shape(void)
{
    FwcShape *s = fwc_shape_new(), *t = fwc_shape_new();
    CHECK(s && t, "oom");
    CHECK(fwc_shape_key(s, "items", 5) && fwc_shape_key(fwc_shape_key(t, "items", 5), "qty", 3),
          "keys");
    CHECK(fwc_shape_key(t, "name", 4), "key");
    int changed = 0;
    size_t budget = 1000;
    CHECK(fwc_shape_merge(s, t, &changed, &budget) == 0 && changed && s->nkeys == 2,
          "merge grows s to 2 keys");
    changed = 0;
    CHECK(fwc_shape_merge(s, t, &changed, &budget) == 0 && !changed,
          "a second merge changes nothing");
    fwc_shape_free(s);
    fwc_shape_free(t);
}

/* text -> parse -> write must give `want` */
static void roundtrip(const char *text, FwcJsonStyle style, const char *want)
{
    FwcArena a = { 0 };
    FwcValue v;
    FwcError err;
    FwcStatus st = fwc_json_parse(&a, text, strlen(text), &v, &err);
    CHECK(st == FWC_OK, "parse %s: %s", text, err.message);
    FwcBuf out = FWC_BUF_INIT;
    CHECK(fwc_json_write(&out, &v, style, &err) == FWC_OK, "write %s: %s", text, err.message);
    CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0, "%s gave %.*s, not %s",
          text, (int)out.len, out.data, want);
    fwc_buf_free(&out);
    fwc_arena_free(&a);
}

static void parse_error(const char *text, const char *want)
{
    FwcArena a = { 0 };
    FwcValue v;
    FwcError err;
    CHECK(fwc_json_parse(&a, text, strlen(text), &v, &err) == FWC_ETEMPLATE, "%s parsed", text);
    CHECK(strcmp(err.message, want) == 0, "%s: %s, not %s", text, err.message, want);
    fwc_arena_free(&a);
}

static void check_json(void)
{
    /* json.dumps(json.loads(text)) as Python gives it */
    roundtrip("{\"b\":1,\"a\":[1.5,true,null,\"\\u00e9\"]}", FWC_JSON_DUMPS,
              "{\"b\": 1, \"a\": [1.5, true, null, \"\\u00e9\"]}");
    roundtrip("{\"a\":1,\"a\":2}", FWC_JSON_DUMPS, "{\"a\": 2}");
    roundtrip("[1e400, -1e400, 0.1, 1e16, 123456789012345678901234567890]", FWC_JSON_DUMPS,
              "[Infinity, -Infinity, 0.1, 1e+16, 123456789012345678901234567890]");
    roundtrip("\"\\ud800\"", FWC_JSON_DUMPS, "\"\\ud800\"");
    /* frappe.as_json: indent 1, sorted keys */
    roundtrip("{\"b\":[1,{}],\"a\":{}}", FWC_JSON_AS_JSON,
              "{\n \"a\": {},\n \"b\": [\n  1,\n  {}\n ]\n}");
    parse_error("[1,]", "Expecting value: line 1 column 4 (char 3)");
    parse_error("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)");
    parse_error("", "Expecting value: line 1 column 1 (char 0)");

    char repr[32];
    int n = fwc_float_repr(0.1, repr); /* not NUL-terminated */
    CHECK(n == 3 && memcmp(repr, "0.1", 3) == 0, "%.*s", n, repr);
    n = fwc_float_repr(1e22, repr);
    CHECK(n == 5 && memcmp(repr, "1e+22", 5) == 0, "%.*s", n, repr);
    n = fwc_float_repr(-0.0, repr);
    CHECK(n == 4 && memcmp(repr, "-0.0", 4) == 0, "%.*s", n, repr);
}

/* feeds the response whole, then one byte at a time: both readings must agree */
static void response(const char *raw, int want_rc, long want_status, const char *want_body,
                     int want_reusable)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        FwcH1Parser p = { 0 };
        FwcResult res;
        memset(&res, 0, sizeof res);
        fwc_h1_parser_reset(&p);
        size_t len = strlen(raw), pos = 0, used = 0;
        int rc = FWC_H1_MORE;
        while (rc == FWC_H1_MORE && pos < len) {
            size_t n = bytewise ? 1 : len - pos;
            rc = fwc_h1_parse(&p, raw + pos, n, &used, &res, 1 << 20);
            pos += rc == FWC_H1_MORE ? n : used;
        }
        if (rc == FWC_H1_MORE) rc = fwc_h1_parse_eof(&p);
        CHECK(rc == want_rc, "%s (bytewise %d): rc %d, not %d", raw, bytewise, rc, want_rc);
        if (rc == FWC_H1_DONE) {
            CHECK(res.status == want_status, "status %ld", res.status);
            CHECK(res.body.len == strlen(want_body) &&
                      (!res.body.len || memcmp(res.body.data, want_body, res.body.len) == 0),
                  "body %.*s", (int)res.body.len, res.body.data);
            CHECK(fwc_h1_reusable(&p) == want_reusable, "reusable %d", fwc_h1_reusable(&p));
        }
        fwc_result_free(&res);
        fwc_h1_parser_free(&p);
    }
}

static void check_h1_response(void)
{
    response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", FWC_H1_DONE, 200, "hello", 1);
    response("HTTP/1.1 201 Created\r\nTransfer-Encoding: "
             "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
             FWC_H1_DONE, 201, "abcde", 1);
    response("HTTP/1.1 204 No Content\r\n\r\n", FWC_H1_DONE, 204, "", 1);
    response("HTTP/1.0 200 OK\r\n\r\nuntil close", FWC_H1_DONE, 200, "until close", 0);
    response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", FWC_H1_DONE,
             200, "ok", 0);
    response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", FWC_H1_BAD, 0, "", 0);
    response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", FWC_H1_BAD, 0, "", 0);
    response("SMTP ready\r\n\r\n", FWC_H1_BAD, 0, "", 0);
}

/* ---------- the snapshot codec (store_codec.c) ---------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
static uint32_t below(uint32_t n) { return (uint32_t)(rnd() % n); }

/* A random str as the value tree holds it: ASCII (NUL and controls too), 2-, 3- and
 * 4-byte characters, lone surrogates (adjacent ones too) in their 3-byte form. */
static FwcValue gen_str(FwcArena *a)
{
    uint32_t n = below(8) == 0 ? below(300) : below(12);
    char *s = fwc_arena_alloc(a, (size_t)n * 4 + 1), *d = s;
    CHECK(s, "oom");
    int ascii = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cp;
        switch (below(8)) {
        case 0: cp = below(0x80); break;
        case 1: cp = 0x80 + below(0x800 - 0x80); break;
        case 2: cp = 0x800 + below(0x10000 - 0x800); break;
        case 3: cp = 0xD800 + below(0x800); break; /* surrogates */
        case 4: cp = 0x10000 + below(0x110000 - 0x10000); break;
        default: cp = 0x20 + below(0x5F); break;
        }
        if (cp >= 0x80) ascii = 0;
        d = fwc_utf8_put(d, cp);
    }
    *d = '\0';
    FwcValue v = { .type = FWC_T_STR, .ascii = (uint8_t)ascii, .len = (uint32_t)(d - s) };
    v.u.s = s;
    return v;
}

/* A big int beyond int64, as int.__repr__ writes it. */
static FwcValue gen_bigint(FwcArena *a)
{
    uint32_t nd = 19 + below(4) == 19 ? 19 : 20 + below(below(8) ? 30 : 400);
    char *s = fwc_arena_alloc(a, nd + 2), *d = s;
    CHECK(s, "oom");
    int neg = (int)below(2);
    if (neg) *d++ = '-';
    if (nd == 19) {
        /* just beyond the limit: INT64_MAX + 1, + 2 or INT64_MIN - 1, - 2 */
        static const char *near[] = { "9223372036854775808", "9223372036854775809",
                                      "9223372036854775810" };
        memcpy(d, near[neg + below(2)], 19);
        d += 19;
    } else {
        *d++ = (char)('1' + below(9));
        for (uint32_t i = 1; i < nd; i++) *d++ = (char)('0' + below(10));
    }
    *d = '\0';
    return (FwcValue){ .type = FWC_T_BIGINT, .ascii = 1, .len = (uint32_t)(d - s), .u.s = s };
}

static FwcValue gen_float(void)
{
    static const double special[] = { 0.0, -0.0, 1.0, -1.5, 0.1, 1e300, 5e-324, 1e16 };
    FwcValue v = { .type = FWC_T_FLOAT, .ascii = 1 };
    switch (below(5)) {
    case 0: v.u.f = NAN; break;
    case 1: v.u.f = below(2) ? INFINITY : -INFINITY; break;
    case 2: v.u.f = special[below(8)]; break;
    default: {
        uint64_t bits = rnd(); /* NaNs with payloads and denormals included */
        memcpy(&v.u.f, &bits, 8);
    }
    }
    return v;
}

static FwcValue gen_scalar(FwcArena *a, int keyish)
{
    static const int64_t edge[] = { 0, 1, -1, 63, -64, 64, 127, 128, INT64_MAX, INT64_MIN };
    FwcValue v = fwc_null();
    switch (below(keyish ? 10 : 8)) {
    case 0: break;
    case 1:
        v.type = FWC_T_BOOL;
        v.u.i = below(2);
        break;
    case 2:
        v.type = FWC_T_INT;
        if (below(2)) {
            v.u.i = edge[below(10)];
        } else {
            uint32_t shift = below(64); /* apart: the order of two calls in one expression */
            v.u.i = (int64_t)(rnd() >> shift);
        }
        if (below(2)) v.u.i = (int64_t)(0 - (uint64_t)v.u.i - below(2));
        break;
    case 3: v = gen_bigint(a); break;
    case 4: v = gen_float(); break;
    default: v = gen_str(a); break;
    }
    return v;
}

/* A random tree of about *budget nodes at most, nesting below `depth` levels. */
static FwcValue gen_value(FwcArena *a, int depth, int *budget)
{
    if (*budget <= 0 || depth >= FWC_MAX_DEPTH || below(3)) return gen_scalar(a, 0);
    uint32_t n = below(6) == 0 ? 0 : 1 + below(below(4) ? 6 : 40);
    int dict = (int)below(2);
    FwcValue v = { .type = (uint8_t)(dict ? FWC_T_DICT : FWC_T_LIST), .ascii = 1, .len = n };
    if (!n) return v;
    *budget -= (int)n;
    if (dict) {
        FwcPair *p = fwc_arena_alloc(a, n * sizeof *p);
        CHECK(p, "oom");
        for (uint32_t i = 0; i < n; i++) {
            p[i].key = below(3) ? gen_str(a) : gen_scalar(a, 1);
            p[i].value = gen_value(a, depth + 1, budget);
        }
        v.u.pairs = p;
    } else {
        FwcValue *items = fwc_arena_alloc(a, n * sizeof *items);
        CHECK(items, "oom");
        for (uint32_t i = 0; i < n; i++) items[i] = gen_value(a, depth + 1, budget);
        v.u.items = items;
    }
    return v;
}

/* `leaf` under `levels` lists (each with a null beside it); NULL at 0. */
static FwcValue wrap(FwcArena *a, FwcValue leaf, int levels)
{
    for (int i = 0; i < levels; i++) {
        FwcValue *items = fwc_arena_alloc(a, 2 * sizeof *items);
        CHECK(items, "oom");
        items[0] = leaf;
        items[1] = fwc_null();
        leaf = (FwcValue){ .type = FWC_T_LIST, .ascii = 1, .len = 2, .u.items = items };
    }
    return leaf;
}

/* Structural equality, doubles bit for bit, the ascii flag included. */
static int same_value(const FwcValue *x, const FwcValue *y)
{
    if (x->type != y->type || x->ascii != y->ascii || x->len != y->len) return 0;
    switch ((FwcType)x->type) {
    case FWC_T_NULL: return 1;
    case FWC_T_BOOL:
    case FWC_T_INT: return x->u.i == y->u.i;
    case FWC_T_FLOAT: return memcmp(&x->u.f, &y->u.f, 8) == 0;
    case FWC_T_STR:
    case FWC_T_BIGINT: return memcmp(x->u.s, y->u.s, x->len) == 0 && y->u.s[y->len] == '\0';
    case FWC_T_LIST:
        for (uint32_t i = 0; i < x->len; i++)
            if (!same_value(&x->u.items[i], &y->u.items[i])) return 0;
        return 1;
    case FWC_T_DICT:
        for (uint32_t i = 0; i < x->len; i++)
            if (!same_value(&x->u.pairs[i].key, &y->u.pairs[i].key) ||
                !same_value(&x->u.pairs[i].value, &y->u.pairs[i].value))
                return 0;
        return 1;
    default: return 0;
    }
}

/* The decoder must refuse data with FWC_EVALUE and a "corrupt snapshot: " message. */
static void refused(const void *data, size_t len, const char *why, const char *want)
{
    FwcError err = { 0 };
    char *copy = malloc(len ? len : 1); /* exact size: ASan sees a read past the end */
    CHECK(copy, "oom");
    if (len) memcpy(copy, data, len);
    FwcSnapshot *s = fwc_snapshot_decode(copy, len, &err);
    CHECK(!s, "%s: decoded", why);
    CHECK(err.code == FWC_EVALUE && strncmp(err.message, "corrupt snapshot: ", 18) == 0,
          "%s: status %d %s", why, (int)err.code, err.message);
    CHECK(!want || strstr(err.message, want), "%s: %s, not %s", why, err.message, want);
    free(copy);
}

/* Either refused as corrupt, or decoded to a tree that encodes to the same bytes. */
static void refused_or_canonical(const char *data, size_t len)
{
    FwcError err = { 0 };
    FwcSnapshot *s = fwc_snapshot_decode(data, len, &err);
    if (!s) {
        CHECK(err.code == FWC_EVALUE && strncmp(err.message, "corrupt snapshot: ", 18) == 0,
              "status %d %s", (int)err.code, err.message);
        return;
    }
    FwcBuf again = FWC_BUF_INIT;
    CHECK(fwc_snapshot_encode(&s->root, &again) == 0, "re-encode");
    CHECK(again.len == len && memcmp(again.data, data, len) == 0,
          "a mutant decoded, not canonical");
    fwc_buf_free(&again);
    fwc_snapshot_decref(s);
}

static void codec_roundtrip(const FwcValue *v, int corrupt_all)
{
    FwcBuf enc = FWC_BUF_INIT, j1 = FWC_BUF_INIT, j2 = FWC_BUF_INIT;
    FwcError err = { 0 }, err2 = { 0 };
    CHECK(fwc_buf_append(&enc, "xy", 2) == 0, "oom");
    CHECK(fwc_snapshot_encode(v, &enc) == 0, "encode failed: type %d", v->type);
    CHECK(memcmp(enc.data, "xyFWS1", 6) == 0, "appended after what out held");
    const char *e = enc.data + 2;
    size_t n = enc.len - 2;

    FwcSnapshot *s = fwc_snapshot_decode(e, n, &err);
    CHECK(s, "decode of a valid encoding: %s", err.message);
    CHECK(atomic_load(&s->refs) == 1, "refs 1");
    CHECK(same_value(v, &s->root), "decoded tree differs (%zu bytes)", n);
    FwcStatus a = fwc_json_write(&j1, v, FWC_JSON_DUMPS, &err);
    FwcStatus b = fwc_json_write(&j2, &s->root, FWC_JSON_DUMPS, &err2);
    CHECK(a == FWC_OK && b == FWC_OK && j1.len == j2.len && memcmp(j1.data, j2.data, j1.len) == 0,
          "dumps differs: %.*s / %.*s", (int)j1.len, j1.data, (int)j2.len, j2.data);
    j1.len = j2.len = 0;
    a = fwc_json_write(&j1, v, FWC_JSON_AS_JSON, &err);
    b = fwc_json_write(&j2, &s->root, FWC_JSON_AS_JSON, &err2);
    CHECK(a == b && (a != FWC_OK || (j1.len == j2.len && memcmp(j1.data, j2.data, j1.len) == 0)),
          "as_json differs");

    /* canonical: the decoded tree encodes to the same bytes */
    FwcBuf again = FWC_BUF_INIT;
    CHECK(fwc_snapshot_encode(&s->root, &again) == 0 && again.len == n &&
              memcmp(again.data, e, n) == 0,
          "re-encoding differs");
    fwc_snapshot_decref(s);

    /* every truncation, a trailing byte, random byte flips */
    for (size_t k = 0; k < n; k += corrupt_all ? 1 : 1 + below(64))
        refused(e, k, "truncated", NULL);
    CHECK(fwc_buf_putc(&again, (char)below(256)) == 0, "oom");
    refused(again.data, again.len, "trailing byte", "trailing bytes");
    for (int i = 0; i < (corrupt_all ? 40 : 4); i++) {
        again.len = n;
        memcpy(again.data, e, n);
        for (uint32_t f = 0, nf = 1 + below(3); f < nf; f++) {
            uint32_t at = below((uint32_t)n);
            again.data[at] ^= (char)(1 + below(255));
        }
        refused_or_canonical(again.data, n);
    }
    fwc_buf_free(&again);
    fwc_buf_free(&enc);
    fwc_buf_free(&j1);
    fwc_buf_free(&j2);
}

static void decodes(const char *data, size_t len, const char *why)
{
    FwcError err = { 0 };
    FwcSnapshot *s = fwc_snapshot_decode(data, len, &err);
    CHECK(s, "%s: %s", why, err.message);
    fwc_snapshot_decref(s);
}

static void check_snapshot_codec(void)
{
    for (int t = 0; t < 4000; t++) {
        FwcArena a = { 0 };
        int budget = (int)below(t % 10 ? 60 : 600);
        int levels = t % 50 == 7 ? FWC_MAX_DEPTH - 10 + (int)below(10) : 0; /* deep */
        FwcValue v = wrap(&a, gen_value(&a, levels, &budget), levels);
        codec_roundtrip(&v, t < 400);
        fwc_arena_free(&a);
    }

    FwcArena a = { 0 };
    FwcBuf b = FWC_BUF_INIT;
    /* the nesting bound: FWC_MAX_DEPTH containers encode and decode, one more does not */
    FwcValue empty = { .type = FWC_T_DICT, .ascii = 1 };
    FwcValue deep = wrap(&a, empty, FWC_MAX_DEPTH - 1);
    codec_roundtrip(&deep, 0);
    deep = wrap(&a, empty, FWC_MAX_DEPTH);
    CHECK(fwc_snapshot_encode(&deep, &b) == -1 && b.len == 0, "too deep encodes");

    /* what the encoder refuses (and leaves out untouched) */
    FwcValue tuple = { .type = FWC_T_TUPLE, .ascii = 1 };
    CHECK(fwc_buf_append(&b, "keep", 4) == 0 && fwc_snapshot_encode(&tuple, &b) == -1 && b.len == 4,
          "a tuple encodes");
    FwcValue small = { .type = FWC_T_BIGINT, .ascii = 1, .len = 3, .u.s = "123" };
    CHECK(fwc_snapshot_encode(&small, &b) == -1 && b.len == 4, "a bigint within int64 encodes");
    FwcPair lk = { .key = { .type = FWC_T_LIST, .ascii = 1 }, .value = fwc_null() };
    FwcValue listkey = { .type = FWC_T_DICT, .ascii = 1, .len = 1, .u.pairs = &lk };
    CHECK(fwc_snapshot_encode(&listkey, &b) == -1 && b.len == 4, "a list key encodes");
    fwc_buf_free(&b);
    fwc_arena_free(&a);

#define BAD(lit, want) refused(lit, sizeof lit - 1, lit, want)
    BAD("", "no FWS magic");
    BAD("FWS", "no FWS magic");
    BAD("XWS1\0", "no FWS magic");
    BAD("FWS2\0", "unknown version");
    BAD("FWS1", "truncated");
    BAD("FWS1\x09", "unknown tag 0x09");
    BAD("FWS1\xff", "unknown tag 0xff");
    BAD("FWS1\0\0", "trailing bytes");
    BAD("FWS1\x03\x80\x00", "shortest form");
    BAD("FWS1\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "beyond 64 bits");
    BAD("FWS1\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", "beyond 64 bits");
    BAD("FWS1\x05\0\0\0\0\0\0\0", "truncated float");
    BAD("FWS1\x06\x05"
        "abcd",
        "length beyond the end");
    BAD("FWS1\x06\x80\x80\x80\x80\x10", "beyond 4 GiB");
    BAD("FWS1\x06\x02\xc0\x80", "UTF-8");         /* overlong NUL */
    BAD("FWS1\x06\x03\xe0\x80\x80", "UTF-8");     /* overlong */
    BAD("FWS1\x06\x04\xf0\x8d\xa0\x80", "UTF-8"); /* overlong surrogate */
    BAD("FWS1\x06\x04\xf4\x90\x80\x80", "UTF-8"); /* beyond U+10FFFF */
    BAD("FWS1\x06\x02\xe2\x82", "UTF-8");         /* cut short */
    BAD("FWS1\x06\x01\x80", "UTF-8");             /* lone continuation */
    BAD("FWS1\x06\x09"
        "abcdefgh\xff",
        "UTF-8"); /* after an ASCII word */
    BAD("FWS1\x04\x03"
        "123",
        "big integer"); /* fits int64 */
    BAD("FWS1\x04\x13"
        "9223372036854775807",
        "big integer"); /* INT64_MAX */
    BAD("FWS1\x04\x14"
        "-9223372036854775808",
        "big integer");
    BAD("FWS1\x04\x14"
        "09223372036854775808",
        "big integer");
    BAD("FWS1\x04\x14"
        "9223372036854775808x",
        "big integer");
    BAD("FWS1\x04\x01"
        "-",
        "big integer");
    BAD("FWS1\x07\x02\x00", "count beyond the end");
    BAD("FWS1\x07\xff\xff\xff\xff\x0f", "count beyond the end");
    BAD("FWS1\x08\x01\x00", "count beyond the end");
    BAD("FWS1\x08\x01\x07\x00\x00", "as a dict key");
    BAD("FWS1\x08\x01\x08\x00\x00", "as a dict key");
    BAD("FWS1\x08\x01\x09\x00", "unknown tag");
#undef BAD
#define GOOD(lit, why) decodes(lit, sizeof lit - 1, why)
    GOOD("FWS1\x06\x03\xed\xa0\x80", "a lone surrogate");
    GOOD("FWS1\x06\x06\xed\xa0\xbd\xed\xb8\x80", "a surrogate pair in 3-byte forms");
    GOOD("FWS1\x06\x04\xf4\x8f\xbf\xbf", "U+10FFFF");
    GOOD("FWS1\x06\x01\x00", "a NUL");
    GOOD("FWS1\x04\x13"
         "9223372036854775808",
         "INT64_MAX + 1");
    GOOD("FWS1\x04\x14"
         "-9223372036854775809",
         "INT64_MIN - 1");
    GOOD("FWS1\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "INT64_MIN");
#undef GOOD

    /* FWC_MAX_DEPTH nested lists decode, one more does not, nor much deeper input */
    size_t cap = 4 + 2 * 100000 + 1;
    char *nest = malloc(cap);
    CHECK(nest, "oom");
    for (int levels = FWC_MAX_DEPTH; levels <= 100000;
         levels += levels == FWC_MAX_DEPTH ? 1 : 99799) {
        memcpy(nest, "FWS1", 4);
        for (int i = 0; i < levels; i++) {
            nest[4 + 2 * i] = 0x07;
            nest[5 + 2 * i] = (char)(i + 1 < levels);
        }
        size_t len = 4 + 2 * (size_t)levels;
        if (levels == FWC_MAX_DEPTH) decodes(nest, len, "FWC_MAX_DEPTH lists");
        else refused(nest, len, "too deep", "nests deeper than 200 levels");
    }
    free(nest);
}

int main(void)
{
    check_buf_and_arena();
    check_msgid_and_ipnet();
    check_shape();
    check_json();
    check_h1_response();
    check_snapshot_codec();
    printf("ok %d checks\n", checks);
    return 0;
}
