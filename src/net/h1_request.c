/* h1_request.c — which requests the native HTTP/1.1 client sends, and their head.
 *
 * A request qualifies when libcurl would send its URL unchanged: plain http://, no user
 * info, a host name as written or a canonical IP address (libcurl rewrites 127.1,
 * 0x7f.0.0.1 and non-canonical IPv6), a path without dot segments (libcurl removes them)
 * and only printable ASCII (libcurl percent-encodes the rest).  Headers that libcurl
 * treats specially (Host, Content-Length, Connection, ...) or a header whose value is
 * blank (libcurl drops it) leave the request to libcurl too.  Everything else is written
 * as libcurl writes it:
 *
 *     METHOD target HTTP/1.1 | Host | Accept: * / * (unless set) | the request's headers
 *     | Content-Type and User-Agent (unless set; as http.c adds them) | Content-Length */
#include "net/h1.h"
#include <arpa/inet.h>
#include <strings.h>

static int is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* libcurl reads a host made only of these as an IPv4 number in any of its forms */
static int ipv4_like(const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEFxX.", h[i])) return 0;
    return 1;
}

/* 1 when the path (up to '?') has a "." or ".." segment */
static int has_dot_segment(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] == '?') return 0;
        if (p[i] == '/') {
            size_t j = i + 1, k = j;
            while (k < n && p[k] != '/' && p[k] != '?') k++;
            size_t len = k - j;
            if ((len == 1 && p[j] == '.') || (len == 2 && p[j] == '.' && p[j + 1] == '.')) return 1;
            i = k;
        } else i++;
    }
    return 0;
}

static int parse_url(const char *url, FwcH1Url *u)
{
    FwcUrlParts up;
    if (!fwc_url_split(url, &up) || up.scheme_len != 4 || strncmp(url, "http", 4) != 0 ||
        up.userinfo)
        return 0;
    const char *a = up.host, *end = up.rest;
    const char *h = a, *hend, *port = NULL;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (!hend) return 0;
        h++;
        if (hend < end - 1) {
            if (hend[1] != ':') return 0;
            port = hend + 2;
        }
    } else {
        hend = memchr(h, ':', (size_t)(end - h));
        if (hend) port = hend + 1;
        else hend = end;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= sizeof u->host) return 0;
    memcpy(u->host, h, hlen);
    u->host[hlen] = 0;
    char canon[INET6_ADDRSTRLEN];
    if (a[0] == '[') {
        if (inet_pton(AF_INET6, u->host, u->addr) != 1 ||
            !inet_ntop(AF_INET6, u->addr, canon, sizeof canon) || strcmp(canon, u->host) != 0)
            return 0;
        u->literal = 6;
    } else {
        for (size_t i = 0; i < hlen; i++)
            if (!is_host_char((unsigned char)h[i])) return 0;
        if (h[hlen - 1] == '.') return 0;
        if (ipv4_like(h, hlen)) {
            if (inet_pton(AF_INET, u->host, u->addr) != 1 ||
                !inet_ntop(AF_INET, u->addr, canon, sizeof canon) || strcmp(canon, u->host) != 0)
                return 0;
            u->literal = 4;
        } else u->literal = 0;
    }
    unsigned long pn = 80;
    if (port) {
        if (port == end || end - port > 5) return 0;
        pn = 0;
        for (const char *p = port; p < end; p++) {
            if (*p < '0' || *p > '9') return 0;
            pn = pn * 10 + (unsigned long)(*p - '0');
        }
        if (pn == 0 || pn > 65535) return 0;
    }
    snprintf(u->port, sizeof u->port, "%lu", pn);
    const char *t = end, *tend = t + strcspn(t, "#");
    for (const char *p = t; p < tend; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) return 0;
    if (has_dot_segment(t, (size_t)(tend - t))) return 0;
    u->target_off = (size_t)(t - url);
    u->target_len = (size_t)(tend - t);
    int n = a[0] == '[' ? snprintf(u->authority, sizeof u->authority, "[%s]", u->host)
                        : snprintf(u->authority, sizeof u->authority, "%s", u->host);
    if (pn != 80) snprintf(u->authority + n, sizeof u->authority - (size_t)n, ":%lu", pn);
    return 1;
}

static int has_header(const FwcBuilt *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return 1;
    return 0;
}

/* headers libcurl adds, replaces or acts on itself */
static const char *const SPECIAL[] = {
    "Host",    "Content-Length", "Transfer-Encoding", "Connection",       "Expect", "TE",
    "Upgrade", "Keep-Alive",     "Trailer",           "Proxy-Connection", NULL
};

int fwc_h1_eligible(const FwcHookSpec *spec, const FwcBuilt *req, FwcH1Url *u)
{
    if (spec->proxy || spec->follow_redirects) return 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        for (int k = 0; SPECIAL[k]; k++)
            if (strcasecmp(req->headers[i].name, SPECIAL[k]) == 0) return 0;
        /* libcurl drops a header whose value is blank (isspace: no CR or LF gets here) */
        const char *v = req->headers[i].value;
        while (*v == ' ' || *v == '\t' || *v == '\v' || *v == '\f') v++;
        if (!*v) return 0;
    }
    if (!parse_url(req->url, u)) return 0;
    u->add_accept = !has_header(req, "Accept");
    u->add_ctype = !has_header(req, "Content-Type");
    u->add_ua = !has_header(req, "User-Agent");
    return 1;
}

#define PUT(s, n) bad |= fwc_buf_append(b, s, n)
#define PUTS(s)   PUT(s, sizeof s - 1)

int fwc_h1_head(const FwcBuilt *req, const FwcH1Url *u, FwcBuf *b)
{
    int bad = 0;
    b->len = 0;
    PUT(req->method, strlen(req->method));
    PUTS(" ");
    const char *target = req->url + u->target_off;
    if (u->target_len == 0 || target[0] == '?') PUTS("/");
    PUT(target, u->target_len);
    PUTS(" HTTP/1.1\r\nHost: ");
    PUT(u->authority, strlen(u->authority));
    PUTS("\r\n");
    if (u->add_accept) PUTS("Accept: */*\r\n");
    for (size_t i = 0; i < req->nheaders; i++) {
        PUT(req->headers[i].name, strlen(req->headers[i].name));
        PUTS(": ");
        PUT(req->headers[i].value, strlen(req->headers[i].value));
        PUTS("\r\n");
    }
    if (u->add_ctype) PUTS("Content-Type: application/json\r\n");
    if (u->add_ua) PUTS("User-Agent: frappe-webhook-c/" FWC_VERSION "\r\n");
    PUTS("Content-Length: ");
    bad |= fwc_buf_put_int(b, (long long)req->body.len);
    PUTS("\r\n\r\n");
    return bad ? -1 : 0;
}
