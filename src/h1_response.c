/* h1_response.c — an incremental HTTP/1.x response parser for the native client.
 *
 * Bytes arrive in whatever pieces the socket gives; lines may be split anywhere (a split
 * line is gathered in p->line, a whole one is used in place).  What it records matches
 * what http.c records from libcurl's callbacks: the raw header lines of the last
 * response (interim 1xx responses are read and dropped, as the "HTTP/" line resets
 * http.c's record), trailer lines after them, and the decoded body up to the cap. */
#include "h1.h"
#include <strings.h>

enum {
    H1_STATUS,          /* expecting a status line */
    H1_HEADERS,
    H1_BODY_LENGTH,     /* p->remaining body bytes */
    H1_CHUNK_SIZE,
    H1_CHUNK_DATA,      /* p->remaining bytes of this chunk */
    H1_CHUNK_END,       /* the CRLF after a chunk's data */
    H1_TRAILERS,
    H1_BODY_CLOSE,      /* the body ends when the connection does */
    H1_DONE,
    H1_ERROR,
};

#define MAX_LINE (100 * 1024)           /* libcurl's CURL_MAX_HTTP_HEADER */
#define MAX_HEADERS (300 * 1024)        /* libcurl's MAX_HTTP_RESP_HEADER_SIZE */

void fwc_h1_parser_reset(FwcH1Parser *p)
{
    FwcBuf line = p->line;
    memset(p, 0, sizeof *p);
    line.len = 0;
    p->line = line;
    p->state = H1_STATUS;
}

void fwc_h1_parser_free(FwcH1Parser *p) { fwc_buf_free(&p->line); }

static int bad(FwcH1Parser *p, const char *why)
{
    p->state = H1_ERROR;
    p->error = why;
    return FWC_H1_BAD;
}

/* The next whole line (with its LF) at data[*i..]: 1 with *line and *n set, 0 when the rest
 * of data was kept for later, -1 when out of memory or too long (p->error set). */
static int next_line(FwcH1Parser *p, const char *data, size_t len, size_t *i, const char **line, size_t *n)
{
    const char *start = data + *i;
    size_t avail = len - *i;
    const char *nl = memchr(start, '\n', avail);
    size_t take = nl ? (size_t)(nl - start) + 1 : avail;
    if (p->line.len + take > MAX_LINE) {
        bad(p, "response header line too long");
        return -1;
    }
    *i += take;
    if (nl && p->line.len == 0) {
        *line = start;
        *n = take;
        return 1;
    }
    if (fwc_buf_append(&p->line, start, take) < 0) {
        p->error = NULL;
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

static int status_line(FwcH1Parser *p, const char *s, size_t n, FwcResult *res)
{
    if (n < 5 || memcmp(s, "HTTP/", 5) != 0) return bad(p, "Received HTTP/0.9 when not allowed");
    if (n < 12 || s[5] != '1' || s[6] != '.' || (s[7] != '0' && s[7] != '1') || s[8] != ' ' || s[9] < '0' ||
        s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' || (n > 12 && s[12] != ' '))
        return bad(p, "Unsupported HTTP version in response");
    int minor = s[7] - '0';
    int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    /* a new response: only the last one is kept (as http.c does at libcurl's "HTTP/" line) */
    res->headers.len = 0;
    res->body.len = 0;
    res->truncated = 0;
    res->status = status;
    p->status = status;
    p->minor = minor;
    p->chunked = p->close = p->keep_alive = p->has_length = 0;
    p->location[0] = 0;
    p->state = H1_HEADERS;
    return FWC_H1_MORE;
}

static int header_line(FwcH1Parser *p, const char *s, size_t n)
{
    const char *v;
    size_t vl;
    if (header_is(s, n, "Content-Length", &v, &vl)) {
        unsigned long long x = 0;
        if (vl == 0 || vl > 19) return bad(p, "Illegal Content-Length in response");
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9') return bad(p, "Illegal Content-Length in response");
            x = x * 10 + (unsigned long long)(v[i] - '0');
        }
        p->has_length = 1;
        p->remaining = x;
    } else if (header_is(s, n, "Transfer-Encoding", &v, &vl)) {
        if (has_token(v, vl, "chunked")) p->chunked = 1;
    } else if (header_is(s, n, "Connection", &v, &vl)) {
        if (has_token(v, vl, "close")) p->close = 1;
        if (has_token(v, vl, "keep-alive")) p->keep_alive = 1;
    } else if (header_is(s, n, "Location", &v, &vl) && !p->location[0]) {
        /* the first one counts, as in libcurl */
        if (vl >= sizeof p->location) vl = sizeof p->location - 1;
        memcpy(p->location, v, vl);
        p->location[vl] = 0;
    }
    return FWC_H1_MORE;
}

/* the blank line after the headers: what the body is */
static void headers_end(FwcH1Parser *p)
{
    int s = p->status;
    if (s >= 100 && s < 200 && s != 101) {
        p->state = H1_STATUS;       /* interim: the real response follows */
        p->header_bytes = 0;
        return;
    }
    if (s == 204 || s == 304 || s == 101) {
        p->state = H1_DONE;
        if (s == 101) p->close = 1;
    } else if (p->chunked)
        p->state = H1_CHUNK_SIZE;
    else if (p->has_length)
        p->state = p->remaining ? H1_BODY_LENGTH : H1_DONE;
    else {
        p->state = H1_BODY_CLOSE;
        p->close = 1;
    }
}

/* body bytes: kept up to max_body; beyond it the response is cut (truncated) */
static int body(FwcH1Parser *p, const char *s, size_t n, FwcResult *res, size_t max_body)
{
    size_t room = max_body > res->body.len ? max_body - res->body.len : 0;
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

static int chunk_size(FwcH1Parser *p, const char *s, size_t n)
{
    size_t i = 0;
    unsigned long long x = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    size_t digits = 0;
    for (; i < n; i++, digits++) {
        int c = s[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        if (digits >= 15) return bad(p, "invalid chunk size in chunked-encoding");
        x = x * 16 + (unsigned long long)d;
    }
    if (!digits) return bad(p, "Illegal or missing hexadecimal sequence in chunked-encoding");
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i < n && s[i] != ';') return bad(p, "Illegal or missing hexadecimal sequence in chunked-encoding");
    p->remaining = x;
    p->state = x ? H1_CHUNK_DATA : H1_TRAILERS;
    return FWC_H1_MORE;
}

int fwc_h1_parse(FwcH1Parser *p, const char *data, size_t len, size_t *used, FwcResult *res, size_t max_body)
{
    size_t i = 0;
    int rc = FWC_H1_MORE;
    if (len) p->started = 1;
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
        case H1_DONE:
            rc = FWC_H1_DONE;
            continue;
        case H1_ERROR:
            rc = FWC_H1_BAD;
            continue;
        default:
            break;
        }
        /* line states */
        const char *line;
        size_t n;
        int got = next_line(p, data, len, &i, &line, &n);
        if (got < 0) return p->error ? FWC_H1_BAD : FWC_H1_NOMEM;
        if (!got) break;
        size_t text = trim_eol(line, n);
        if (p->state == H1_STATUS || p->state == H1_HEADERS || p->state == H1_TRAILERS) {
            p->header_bytes += n;
            if (p->header_bytes > MAX_HEADERS) {
                rc = bad(p, "Too large response headers");
                break;
            }
        }
        switch (p->state) {
        case H1_STATUS:
            rc = status_line(p, line, text, res);
            break;
        case H1_HEADERS:
            if (text == 0) {
                headers_end(p);
                if (p->state == H1_DONE) rc = FWC_H1_DONE;
            } else if (fwc_buf_append(&res->headers, line, n) < 0)
                rc = FWC_H1_NOMEM;
            else
                rc = header_line(p, line, text);
            break;
        case H1_CHUNK_SIZE:
            rc = chunk_size(p, line, text);
            break;
        case H1_CHUNK_END:
            if (text != 0) rc = bad(p, "chunk not followed by CRLF in chunked-encoding");
            else p->state = H1_CHUNK_SIZE;
            break;
        case H1_TRAILERS:
            if (text == 0) {
                p->state = H1_DONE;
                rc = FWC_H1_DONE;
            } else if (fwc_buf_append(&res->headers, line, n) < 0)
                rc = FWC_H1_NOMEM;
            break;
        }
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
    if (!p->started) return FWC_H1_MORE;
    return FWC_H1_BAD;
}

int fwc_h1_reusable(const FwcH1Parser *p)
{
    return p->state == H1_DONE && !p->truncated && !p->close && (p->minor >= 1 || p->keep_alive);
}

int fwc_h1_started(const FwcH1Parser *p) { return p->started; }

int fwc_h1_in_headers(const FwcH1Parser *p) { return p->state == H1_STATUS || p->state == H1_HEADERS; }
