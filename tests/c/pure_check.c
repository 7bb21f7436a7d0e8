/* pure_check.c — unit checks of the pure layers, built and run without Python (the layer
 * rule makes that possible): core (buffers, arena, value lookups, message ids, IP
 * networks, shapes), json (writer and parser against fixed expectations, parse -> write
 * round trips) and the HTTP/1.1 response parser (whole and byte by byte).
 *
 * Build (tests/test_pure_c.py does it, also with ASan+UBSan):
 *   gcc -std=c11 -D_GNU_SOURCE=1 -I src tests/c/pure_check.c <every .c of src/core and
 *       src/json> src/net/h1_response.c src/net/result.c -lcrypto -lm
 * Prints "ok N checks" and exits 0, or names the first failed check and exits 1. */
#include "net/h1.h"
#include <ctype.h>

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

int main(void)
{
    check_buf_and_arena();
    check_msgid_and_ipnet();
    check_shape();
    check_json();
    check_h1_response();
    printf("ok %d checks\n", checks);
    return 0;
}
