/* h1_response.c — an incremental HTTP/1.x response parser for the native client.
 *
 * Bytes arrive in whatever pieces the socket gives; lines may be split anywhere (a split
 * line is gathered in p->line, a whole one is used in place).  What it records matches
 * what http.c records from libcurl's callbacks: the raw header lines of the last
 * response (interim 1xx responses are read and dropped, as the "HTTP/" line resets
 * http.c's record), trailer lines after them, and the decoded body up to the cap.
 *
 * It reads responses the way libcurl 7.88 does, quirks included, so that a delivery's
 * verdict does not depend on the transport: the status line goes through the same
 * sscanf() patterns (so "HTTP/1.1  200" and "HTTP/2 200" are fine, "http/1.1 500" counts
 * as 200, a 2- or 4-digit code is refused), Content-Length is read like strtoll ("+2"
 * is 2, an overflow means "until close"), a header line needs a colon, and a connection
 * closed after a final status line ends the response.  tests/test_native_http.py checks
 * each of these against libcurl.
 *
 * Nothing a receiver sends grows memory without bound: a line is at most MAX_LINE, the
 * header lines and trailers of a request's responses are bounded by
 * fwc_h1_header_count (as http.c bounds libcurl's), the body by the cap, and chunk
 * framing (extensions, leading zeros) is read byte by byte without being stored; what
 * streams forever without breaking a bound (an endless chunk extension, a trickle) is
 * ended by the request's timeout in h1.c. */
#include "net/h1.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

enum {
    H1_STATUS, /* expecting a status line */
    H1_HEADERS,
    H1_BODY_LENGTH, /* p->remaining body bytes */
    H1_CHUNK_SIZE,  /* hex digits (p->hexdigits so far) */
    H1_CHUNK_EXT,   /* after them, anything up to the LF (extensions): skipped */
    H1_CHUNK_DATA,  /* p->remaining bytes of this chunk */
    H1_CHUNK_END,   /* the CRs and LF after a chunk's data */
    H1_TRAILERS,
    H1_BODY_CLOSE, /* the body ends when the connection does */
    H1_DONE,
    H1_ERROR,
};

#define MAX_LINE (100 * 1024) /* libcurl's CURL_MAX_HTTP_HEADER */
#define MAX_HEX  16           /* libcurl's CHUNK_MAXNUM_LEN */

void fwc_h1_parser_reset(FwcH1Parser *p)
{
    /* field by field: a memset would write the 2 KB of location every request */
    p->state = H1_STATUS;
    p->status = p->minor = 0;
    p->chunked = p->close = p->keep_alive = p->has_length = 0;
    p->truncated = p->started = p->headerline = 0;
    p->remaining = 0;
    p->header_bytes = p->header_lines = 0;
    p->hexdigits = 0;
    p->line.len = 0;
    p->location[0] = 0;
    p->error = NULL;
    p->error_kind = 0;
    p->error_text[0] = 0;
}

void fwc_h1_parser_free(FwcH1Parser *p) { fwc_buf_free(&p->line); }

static int bad(FwcH1Parser *p, int kind, const char *why)
{
    p->state = H1_ERROR;
    p->error = why;
    p->error_kind = kind;
    return FWC_H1_BAD;
}

/* The next whole line (with its LF) at data[*i..]: 1 with *line and *n set, 0 when the
 * rest of data was kept for later, -1 when out of memory or too long (p->error set). */
static int next_line(FwcH1Parser *p, const char *data, size_t len, size_t *i, const char **line,
                     size_t *n)
{
    const char *start = data + *i;
    size_t avail = len - *i;
    const char *nl = memchr(start, '\n', avail);
    size_t take = nl ? (size_t)(nl - start) + 1 : avail;
    if (p->line.len + take + 1 > MAX_LINE) {
        /* libcurl's header buffer refuses to grow: it reports running out of memory */
        bad(p, FWC_H1E_NOMEM, "out of memory");
        return -1;
    }
    *i += take;
    if (nl && p->line.len == 0) {
        *line = start;
        *n = take;
        return 1;
    }
    if (fwc_buf_append(&p->line, start, take) < 0) {
        bad(p, FWC_H1E_NOMEM, "out of memory");
        return -1;
    }
    if (!nl) return 0;
    *line = p->line.data;
    *n = p->line.len;
    return 1;
}

/* the line without its CRLF / LF */
static size_t trim_eol(const char *s, size_t n)
{
    if (n && s[n - 1] == '\n') n--;
    if (n && s[n - 1] == '\r') n--;
    return n;
}

static int header_is(const char *s, size_t n, const char *name, const char **value, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || s[k] != ':' || strncasecmp(s, name, k) != 0) return 0;
    const char *v = s + k + 1, *end = s + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return 1;
}

/* whether the comma-separated list v contains token (case-insensitive) */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t k = strlen(token), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t e = j;
        while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - i == k && strncasecmp(v + i, token, k) == 0) return 1;
        i = j;
    }
    return 0;
}

/* libcurl 7.88's reading of a status line (lib/http.c), pattern for pattern */
static int status_line(FwcH1Parser *p, const char *s, size_t n, FwcResult *res)
{
    if (n < 5 || strncasecmp(s, "HTTP/", 5) != 0)
        return bad(p, FWC_H1E_PROTOCOL, "Received HTTP/0.9 when not allowed");
    int major = 0, minor = 0, code = 0, version;
    if (n >= 12 && memcmp(s, "HTTP/1.", 7) == 0 && (s[7] == '0' || s[7] == '1') && s[8] == ' ' &&
        s[9] >= '1' && s[9] <= '9' && s[10] >= '0' && s[10] <= '9' && s[11] >= '0' &&
        s[11] <= '9' && (n == 12 || s[12] == ' ')) {
        /* the usual form, read directly: what the patterns below make of it */
        code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
        version = 10 + (s[7] - '0');
        goto known;
    }
    char line[256];
    size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, s, k);
    line[k] = 0;
    char sep = 0, digit4 = 0, two_three[2];
    int nc = sscanf(line, " HTTP/%1d.%1d%c%3d%c", &major, &minor, &sep, &code, &digit4);
    if (nc == 1 && major >= 2 && sscanf(line, " HTTP/%1[23] %d", two_three, &code) == 2) {
        nc = 4;
        sep = ' ';
        minor = 0;
    } else if ((digit4 >= '0' && digit4 <= '9') || (nc >= 4 && code < 100)) {
        return bad(p, FWC_H1E_PROTOCOL, "Unsupported response code in HTTP response");
    }
    if (nc >= 4 && sep == ' ') {
        version = major * 10 + minor;
        if (version != 10 && version != 11 && version != 20) {
            snprintf(p->error_text, sizeof p->error_text,
                     "Unsupported HTTP version (%d.%d) in response", major, minor);
            return bad(p, FWC_H1E_PROTOCOL, p->error_text);
        }
    } else if (nc == 0) {
        /* "http/1.1 ..." in another case: libcurl takes it for a 200 of HTTP/1.0 */
        if (sscanf(line, " HTTP %3d", &code) != 1) code = 200;
        version = 10;
    } else return bad(p, FWC_H1E_PROTOCOL, "Unsupported HTTP version in response");
known:
    /* a new response: only the last one is kept (as http.c does at libcurl's "HTTP/" line) */
    res->headers.len = 0;
    res->body.len = 0;
    res->truncated = 0;
    res->status = code;
    p->status = code;
    p->minor = version >= 11 ? 1 : 0;
    p->chunked = p->close = p->keep_alive = p->has_length = 0;
    p->location[0] = 0;
    p->headerline = 1;
    p->state = H1_HEADERS;
    return FWC_H1_MORE;
}

/* Content-Length as libcurl's curlx_strtoofft reads it: 1 a length, 0 an overflow, -1 bad */
static int content_length(const char *v, size_t n, unsigned long long *out)
{
    char text[64];
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    if (!n || *v == '-') return -1;
    if (n <= 18) {
        /* plain digits, the usual form */
        unsigned long long x = 0;
        size_t i = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') x = x * 10 + (unsigned long long)(v[i++] - '0');
        if (i == n) {
            *out = x;
            return 1;
        }
    }
    if (n >= sizeof text) n = sizeof text - 1;
    memcpy(text, v, n);
    text[n] = 0;
    char *end;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (end == text) return -1;
    if (errno == ERANGE) return 0;
    if (x < 0) return -1;
    *out = (unsigned long long)x;
    return 1;
}

/* one header line: checked as libcurl checks it, then recorded */
static int header_line(FwcH1Parser *p, const char *line, size_t n, size_t text, FwcResult *res)
{
    const char *s = line, *v;
    size_t vl;
    p->headerline++;
    if (memchr(s, 0, text)) return bad(p, FWC_H1E_WEIRD, "Nul byte in header");
    if (s[0] == ' ' || s[0] == '\t') {
        /* a folded line continues the previous header; there is none before the first */
        if (p->headerline == 2)
            return bad(p, FWC_H1E_WEIRD, "A libcurl function was given a bad argument");
    } else if (!memchr(s, ':', text)) return bad(p, FWC_H1E_WEIRD, "Header without colon");
    else if (header_is(s, text, "Content-Length", &v, &vl)) {
        unsigned long long x;
        int rc = content_length(v, vl, &x);
        if (rc < 0) return bad(p, FWC_H1E_WEIRD, "Invalid Content-Length: value");
        if (rc == 0) {
            p->has_length = 0; /* too large to be believed: read until the close */
            p->close = 1;
        } else {
            p->has_length = 1;
            p->remaining = x;
        }
    } else if (header_is(s, text, "Transfer-Encoding", &v, &vl)) {
        if (has_token(v, vl, "chunked")) p->chunked = 1;
    } else if (header_is(s, text, "Connection", &v, &vl)) {
        if (has_token(v, vl, "close")) p->close = 1;
        if (has_token(v, vl, "keep-alive")) p->keep_alive = 1;
    } else if (header_is(s, text, "Location", &v, &vl) && !p->location[0]) {
        /* the first one counts, as in libcurl */
        if (vl >= sizeof p->location) vl = sizeof p->location - 1;
        memcpy(p->location, v, vl);
        p->location[vl] = 0;
    }
    if (fwc_buf_append(&res->headers, line, n) < 0) return FWC_H1_NOMEM;
    return FWC_H1_MORE;
}

/* the blank line after the headers: what the body is */
static void headers_end(FwcH1Parser *p)
{
    int s = p->status;
    if (s >= 100 && s < 200) {
        p->state = H1_STATUS; /* interim: the real response follows */
        return;
    }
    if (s == 204 || s == 304) p->state = H1_DONE;
    else if (p->chunked) {
        p->state = H1_CHUNK_SIZE;
        p->remaining = 0; /* a Content-Length read before does not count */
        p->hexdigits = 0;
    } else if (p->has_length) p->state = p->remaining ? H1_BODY_LENGTH : H1_DONE;
    else {
        p->state = H1_BODY_CLOSE;
        p->close = 1;
    }
}

/* body bytes: kept up to max_body; beyond it the response is cut (truncated) */
static int body(FwcH1Parser *p, const char *s, size_t n, FwcResult *res, size_t max_body)
{
    size_t room = max_body > res->body.len ? max_body - res->body.len : 0;
    if (n) p->started = 1;
    if (n > room) {
        if (room && fwc_buf_append(&res->body, s, room) < 0) return FWC_H1_NOMEM;
        res->truncated = 1;
        p->truncated = 1;
        p->state = H1_DONE;
        return FWC_H1_DONE;
    }
    if (n && fwc_buf_append(&res->body, s, n) < 0) return FWC_H1_NOMEM;
    return FWC_H1_MORE;
}

int fwc_h1_header_count(size_t *bytes, size_t *lines, size_t n, int field, char *why, size_t whylen)
{
    *bytes += n;
    *lines += field != 0;
    if (*bytes > FWC_MAX_HEADER_BYTES) {
        snprintf(why, whylen, "Too large response headers: %zu > %d", *bytes, FWC_MAX_HEADER_BYTES);
        return -1;
    }
    if (*lines > FWC_MAX_HEADER_LINES) {
        snprintf(why, whylen, "Too many response header lines: %zu > %d", *lines,
                 FWC_MAX_HEADER_LINES);
        return -1;
    }
    return 0;
}

/* Chunk framing, byte by byte as libcurl's chunk reader takes it (so that no part of it
 * is stored, however long): hex digits right away (at most MAX_HEX, leading zeros
 * included), then anything up to the LF (extensions, skipped); after a chunk's data, CRs
 * and the LF.  Returns the bytes consumed; p->state moves on (H1_ERROR when malformed). */
static size_t chunk_framing(FwcH1Parser *p, const char *s, size_t n)
{
    size_t i = 0;
    if (p->state == H1_CHUNK_SIZE) {
        for (; i < n; i++) {
            int c = s[i], d = c >= '0' && c <= '9'   ? c - '0'
                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                     : -1;
            if (d < 0) break;
            if (p->hexdigits >= MAX_HEX) {
                bad(p, FWC_H1E_RECV, "Too long hexadecimal number in chunked-encoding");
                return i;
            }
            p->hexdigits++;
            p->remaining = p->remaining * 16 + (unsigned long long)d;
        }
        if (i == n) return i;
        if (!p->hexdigits || p->remaining > (unsigned long long)INT64_MAX) {
            bad(p, FWC_H1E_RECV, "Illegal or missing hexadecimal sequence in chunked-encoding");
            return i;
        }
        p->state = H1_CHUNK_EXT;
    }
    if (p->state == H1_CHUNK_EXT) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (!nl) return n;
        p->hexdigits = 0;
        p->state = p->remaining ? H1_CHUNK_DATA : H1_TRAILERS;
        return (size_t)(nl - s) + 1;
    }
    /* H1_CHUNK_END */
    for (; i < n && s[i] == '\r'; i++) {
    }
    if (i == n) return i;
    if (s[i] != '\n') {
        bad(p, FWC_H1E_RECV, "Malformed encoding found in chunked-encoding");
        return i;
    }
    p->state = H1_CHUNK_SIZE;
    p->remaining = 0;
    return i + 1;
}

int fwc_h1_parse(FwcH1Parser *p, const char *data, size_t len, size_t *used, FwcResult *res,
                 size_t max_body)
{
    size_t i = 0;
    int rc = FWC_H1_MORE;
    while (i < len && rc == FWC_H1_MORE) {
        switch (p->state) {
        case H1_BODY_LENGTH:
        case H1_CHUNK_DATA: {
            size_t n = len - i;
            if (n > p->remaining) n = (size_t)p->remaining;
            rc = body(p, data + i, n, res, max_body);
            i += n;
            p->remaining -= n;
            if (rc == FWC_H1_MORE && p->remaining == 0) {
                if (p->state == H1_CHUNK_DATA) p->state = H1_CHUNK_END;
                else {
                    p->state = H1_DONE;
                    rc = FWC_H1_DONE;
                }
            }
            continue;
        }
        case H1_BODY_CLOSE:
            rc = body(p, data + i, len - i, res, max_body);
            i = len;
            continue;
        case H1_CHUNK_SIZE:
        case H1_CHUNK_EXT:
        case H1_CHUNK_END:
            i += chunk_framing(p, data + i, len - i);
            if (p->state == H1_ERROR) rc = FWC_H1_BAD;
            continue;
        case H1_DONE: rc = FWC_H1_DONE; continue;
        case H1_ERROR: rc = FWC_H1_BAD; continue;
        default: break;
        }
        /* line states */
        const char *line;
        size_t n;
        int got = next_line(p, data, len, &i, &line, &n);
        if (got < 0) return FWC_H1_BAD;
        if (!got) break;
        p->started = 1;
        size_t text = trim_eol(line, n);
        int in_head = p->state == H1_STATUS || p->state == H1_HEADERS;
        int field = text && p->state != H1_STATUS, trailer = p->state == H1_TRAILERS;
        switch (p->state) {
        case H1_STATUS: rc = status_line(p, line, text, res); break;
        case H1_HEADERS:
            if (text == 0) {
                headers_end(p);
                if (p->state == H1_DONE) rc = FWC_H1_DONE;
            } else rc = header_line(p, line, n, text, res);
            break;
        case H1_TRAILERS:
            if (text == 0) {
                p->state = H1_DONE;
                rc = FWC_H1_DONE;
            } else if (fwc_buf_append(&res->headers, line, n) < 0) rc = FWC_H1_NOMEM;
            break;
        }
        if ((in_head || (trailer && field)) && rc != FWC_H1_BAD && rc != FWC_H1_NOMEM &&
            /* counted after the line went to the record, as libcurl counts; a trailer as
             * libcurl hands it to its header callback: with CRLF, the blank line not */
            fwc_h1_header_count(&p->header_bytes, &p->header_lines, trailer ? text + 2 : n, field,
                                p->error_text, sizeof p->error_text) < 0)
            rc = bad(p, FWC_H1E_RECV, p->error_text);
        p->line.len = 0;
    }
    *used = i;
    return rc;
}

int fwc_h1_parse_eof(FwcH1Parser *p)
{
    if (p->state == H1_BODY_CLOSE || p->state == H1_DONE) {
        p->state = H1_DONE;
        return FWC_H1_DONE;
    }
    if (p->state == H1_HEADERS) {
        /* libcurl ends the response here, with what it has: headers, no body, whatever
         * the status (even an interim 1xx whose header block was cut) -- unless the
         * headers so far promised a body */
        if ((p->has_length && p->remaining) || p->chunked) return FWC_H1_BAD;
        p->state = H1_DONE;
        p->close = 1;
        return FWC_H1_DONE;
    }
    if (p->state == H1_STATUS || p->state == H1_HEADERS) return FWC_H1_MORE;
    return FWC_H1_BAD;
}

int fwc_h1_reusable(const FwcH1Parser *p)
{
    return p->state == H1_DONE && !p->truncated && !p->close && (p->minor >= 1 || p->keep_alive);
}

int fwc_h1_started(const FwcH1Parser *p) { return p->started; }
