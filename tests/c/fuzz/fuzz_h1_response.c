/* fuzz_h1_response.c — the native client's HTTP/1.x response parser (h1_response.c) on
 * arbitrary bytes.  The response is fed once whole and once in pieces (cut where the
 * input's header bytes say); both readings must agree on everything the client uses:
 * the verdict, the bytes consumed, the status, the header record, the body, truncation,
 * reusability.  No Python.
 *
 * Input: byte 0 picks the body cap, bytes 1-2 seed the cuts, the rest is the response. */
#include "fuzz_common.h"
#include "net/h1.h"

typedef struct {
    int rc, eof_rc;
    size_t used;
    long status;
    int truncated, reusable, started, error_kind;
    FwcBuf headers, body;
    char error[128];
} Reading;

static void finish(FwcH1Parser *p, FwcResult *res, int rc, size_t used, Reading *r)
{
    r->rc = rc;
    /* after a cut body the connection is dropped: how much was read does not matter */
    r->used = rc == FWC_H1_DONE && !res->truncated ? used : 0;
    /* the peer closes after the last byte: what does that make of an unfinished response */
    r->eof_rc = rc == FWC_H1_MORE ? fwc_h1_parse_eof(p) : 99;
    r->status = res->status;
    r->truncated = res->truncated;
    r->reusable = fwc_h1_reusable(p);
    r->started = fwc_h1_started(p);
    r->error_kind = rc == FWC_H1_BAD ? p->error_kind : -1;
    snprintf(r->error, sizeof r->error, "%s", rc == FWC_H1_BAD && p->error ? p->error : "");
    r->headers = res->headers;
    r->body = res->body;
}

static void read_whole(const char *data, size_t len, size_t max_body, Reading *r)
{
    FwcH1Parser p = { 0 };
    FwcResult res;
    memset(&res, 0, sizeof res);
    fwc_h1_parser_reset(&p);
    size_t used = 0;
    int rc = fwc_h1_parse(&p, data, len, &used, &res, max_body);
    FUZZ_CHECK(rc != FWC_H1_MORE || used == len, "MORE but only %zu of %zu bytes used", used, len);
    FUZZ_CHECK(rc != FWC_H1_DONE || used <= len, "used %zu > %zu", used, len);
    finish(&p, &res, rc, used, r);
    fwc_h1_parser_free(&p);
}

static void read_in_pieces(const char *data, size_t len, size_t max_body, uint32_t seed, Reading *r)
{
    FwcH1Parser p = { 0 };
    FwcResult res;
    memset(&res, 0, sizeof res);
    fwc_h1_parser_reset(&p);
    size_t off = 0, used = 0;
    int rc = FWC_H1_MORE;
    while (off < len && rc == FWC_H1_MORE) {
        /* piece sizes 1..64 mostly, sometimes up to 4 KB */
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % 64 + 1;
        if ((seed >> 8 & 15) == 0) n = (seed >> 12) % 4096 + 1;
        if (n > len - off) n = len - off;
        /* each piece in its own allocation: no reading past what was received */
        char *piece = fuzz_copy((const uint8_t *)data + off, n);
        rc = fwc_h1_parse(&p, piece, n, &used, &res, max_body);
        free(piece);
        FUZZ_CHECK(rc != FWC_H1_MORE || used == n, "MORE but only %zu of %zu bytes used", used, n);
        if (rc == FWC_H1_DONE) used += off;
        off += n;
    }
    finish(&p, &res, rc, used, r);
    fwc_h1_parser_free(&p);
}

static int same_buf(const FwcBuf *a, const FwcBuf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = { 0, 1, 7, 64, 1000, 65536 };
    if (size < 3) return 0;
    size_t max_body = caps[data[0] % (sizeof caps / sizeof caps[0])];
    uint32_t seed = (uint32_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;

    char *text = fuzz_copy(data, size);
    Reading a, b;
    read_whole(text, size, max_body, &a);
    read_in_pieces(text, size, max_body, seed, &b);

    FUZZ_CHECK(a.rc == b.rc, "verdict %d whole, %d in pieces (%s / %s)", a.rc, b.rc, a.error,
               b.error);
    FUZZ_CHECK(a.used == b.used, "used %zu whole, %zu in pieces", a.used, b.used);
    FUZZ_CHECK(a.eof_rc == b.eof_rc, "eof verdict %d whole, %d in pieces", a.eof_rc, b.eof_rc);
    FUZZ_CHECK(strcmp(a.error, b.error) == 0, "error '%s' whole, '%s' in pieces", a.error, b.error);
    FUZZ_CHECK(a.error_kind == b.error_kind, "error kind %d / %d", a.error_kind, b.error_kind);
    if (a.rc != FWC_H1_BAD) {
        FUZZ_CHECK(a.status == b.status, "status %ld whole, %ld in pieces", a.status, b.status);
        FUZZ_CHECK(same_buf(&a.headers, &b.headers), "header records differ:\n%.*s\n--\n%.*s",
                   (int)a.headers.len, a.headers.data, (int)b.headers.len, b.headers.data);
        FUZZ_CHECK(same_buf(&a.body, &b.body), "bodies differ (%zu / %zu bytes)", a.body.len,
                   b.body.len);
        FUZZ_CHECK(a.truncated == b.truncated, "truncated %d / %d", a.truncated, b.truncated);
        FUZZ_CHECK(a.reusable == b.reusable, "reusable %d / %d", a.reusable, b.reusable);
        FUZZ_CHECK(a.started == b.started, "started %d / %d", a.started, b.started);
    }
    FUZZ_CHECK(a.body.len <= max_body, "body %zu bytes over the cap %zu", a.body.len, max_body);

    fwc_buf_free(&a.headers);
    fwc_buf_free(&a.body);
    fwc_buf_free(&b.headers);
    fwc_buf_free(&b.body);
    free(text);
    return 0;
}
