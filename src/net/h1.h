/* h1.h — the native HTTP/1.1 client of the delivery engine, for plain http://.
 *
 * libcurl's multi interface costs 30-50 us of CPU per request here (liveness polls, a
 * 16 KB buffer, per-transfer state); a webhook to a plain-http receiver needs one
 * writev() and one read() on a kept-alive connection.  So a worker sends the requests it
 * can send exactly as libcurl would (fwc_h1_eligible) through this client, and everything
 * else (https, HTTP/2, proxies, followed redirects, URLs libcurl would rewrite) through
 * libcurl.  The request bytes, the response record and the error texts are libcurl's
 * (tests/test_native_http.py compares the two transports).
 *
 *   h1_request.c   which requests qualify; the request head, as libcurl writes it
 *   h1_response.c  an incremental HTTP/1.x response parser
 *   h1_resolve.c   host name lookups off the worker thread, cached
 *   h1.c           connections (keep-alive pool, non-blocking connect, SSRF checks),
 *                  sending, receiving, timeouts
 *
 * Everything runs on one worker thread: no locks, no GIL, no PyObject. */
#ifndef FWC_H1_H
#define FWC_H1_H

#include "net/net.h"
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---------- the request (h1_request.c) ---------- */

/* Where a URL goes, when the native client may send to it. */
typedef struct {
    char host[256];                    /* as the URL spells it, without brackets */
    char port[8];                      /* decimal, canonical */
    int literal;                       /* 4 or 6 when host is an IP address; 0 a name */
    uint8_t addr[16];                  /* the address when literal */
    size_t target_off;                 /* the request target: this many bytes into the URL... */
    size_t target_len;                 /* ...and this long ("" means "/"); an offset, not a pointer,
                             * because a route is kept for later requests with equal URLs */
    char authority[300];               /* the Host header's value; also the connection pool key */
    int add_accept, add_ctype, add_ua; /* headers libcurl adds because the request has none */
} FwcH1Url;

/* 1 when the native client sends (spec, req) byte for byte as libcurl would, with *u
 * filled; 0 when libcurl must send it (https, a proxy, followed redirects, a URL libcurl
 * would normalise, a header libcurl treats specially).  The answer depends on the spec
 * and the URL only (header names and custom values come from the spec; signature values
 * are never blank), so a caller may keep it per (spec, URL). */
int fwc_h1_eligible(const FwcHookSpec *spec, const FwcBuilt *req, FwcH1Url *u);

/* The request line and headers, ending with the blank line, into b (reset first).
 * -1 when out of memory. */
int fwc_h1_head(const FwcBuilt *req, const FwcH1Url *u, FwcBuf *b);

/* ---------- the response (h1_response.c) ---------- */

typedef struct {
    int state;  /* H1_* in h1_response.c */
    int status; /* of the response being read; 0 before its status line */
    int minor;  /* HTTP/1.minor */
    int chunked, close, keep_alive, has_length;
    int truncated;                     /* the body exceeded the cap: the rest is not read */
    int started;                       /* a whole line (or a body byte) of a response has arrived */
    int headerline;                    /* lines of this response's header block so far */
    size_t header_bytes, header_lines; /* of every response to this request, trailers
                                         * included (fwc_h1_header_count) */
    int hexdigits;                     /* of the chunk size being read */
    unsigned long long remaining;      /* body or chunk bytes still to come */
    FwcBuf line;                       /* a line split across reads */
    char location[2048]; /* the final response's Location ("" none; cut when longer) */
    const char *error;   /* why the response is malformed, when H1_ERROR... */
    int error_kind;      /* ...and how libcurl reports it: FWC_H1E_* */
    char error_text[96]; /* the text, when it is formatted */
} FwcH1Parser;

/* how libcurl reports a malformed response (the prefix http.c puts before its text) */
enum { FWC_H1E_PROTOCOL, FWC_H1E_WEIRD, FWC_H1E_RECV, FWC_H1E_NOMEM };

enum { FWC_H1_MORE = 0, FWC_H1_DONE = 1, FWC_H1_BAD = -1, FWC_H1_NOMEM = -2 };

/* Bounds on what a request's responses send besides their bodies: status lines, header
 * lines, blank lines and trailers of every response (interim 1xx ones included) -- 300 KiB
 * (libcurl's MAX_HTTP_RESP_HEADER_SIZE, which libcurl itself does not apply to trailers)
 * and FWC_MAX_HEADER_LINES header and trailer lines.  Both transports apply them (http.c
 * in libcurl's header callback), so that a receiver streaming headers or trailers without
 * end costs a bounded amount of memory and fails at once. */
#define FWC_MAX_HEADER_BYTES (300 * 1024)
#define FWC_MAX_HEADER_LINES 10000
/* Counts a received line of n bytes (a header or trailer line when field) into *bytes and
 * *lines: 0 within the bounds, -1 past one of them with why filled (libcurl's wording:
 * "Too large response headers: 307205 > 307200"). */
int fwc_h1_header_count(size_t *bytes, size_t *lines, size_t n, int field, char *why,
                        size_t whylen);

void fwc_h1_parser_reset(FwcH1Parser *p);
void fwc_h1_parser_free(FwcH1Parser *p);
/* Feeds received bytes: header lines of the final response go to res->headers, its body
 * (up to max_body bytes) to res->body, its status to res->status.  Returns FWC_H1_MORE
 * (all of data consumed), FWC_H1_DONE (the response is complete; *used bytes were
 * consumed, the rest is not part of it), FWC_H1_BAD (p->error says why) or
 * FWC_H1_NOMEM. */
int fwc_h1_parse(FwcH1Parser *p, const char *data, size_t len, size_t *used, FwcResult *res,
                 size_t max_body);
/* The peer closed the connection: FWC_H1_DONE when that ends the response (a body
 * delimited by the close, or -- as libcurl has it -- a header block cut after its status
 * line, when no body was promised), FWC_H1_MORE when no status line of a response had
 * arrived, else FWC_H1_BAD (a body cut short). */
int fwc_h1_parse_eof(FwcH1Parser *p);
/* Whether the connection may carry another request after this response. */
int fwc_h1_reusable(const FwcH1Parser *p);
/* Whether a whole line (or a body byte) of a response has arrived: before that, a dead
 * kept-alive connection may be retried on a fresh one (libcurl's rule). */
int fwc_h1_started(const FwcH1Parser *p);

/* ---------- host name lookups (h1_resolve.c) ---------- */

typedef struct FwcH1Addr {
    int family; /* AF_INET or AF_INET6 */
    socklen_t len;
    struct sockaddr_storage sa;
} FwcH1Addr;

typedef struct FwcH1Lookup FwcH1Lookup;
typedef struct FwcH1Resolver FwcH1Resolver;

/* A resolver that wakes the worker through wakefd (its eventfd; duplicated per lookup,
 * so a lookup outliving the worker writes to nothing that may have been reused). */
FwcH1Resolver *fwc_h1_resolver_new(int wakefd);
void fwc_h1_resolver_free(FwcH1Resolver *r);
/* The addresses of host:port: 1 with *addrs and *n (owned by the cache, valid until the
 * next call into the resolver) when cached; 0 when a lookup is under way (the worker
 * is woken when it ends: call fwc_h1_resolver_poll); -1 when it cannot start (out of
 * resources). */
int fwc_h1_resolve(FwcH1Resolver *r, const char *host, const char *port, const FwcH1Addr **addrs,
                   size_t *n);
/* Lookups that ended since the last poll: calls done(arg, host, port) for each; inside
 * it fwc_h1_resolve answers from the cache, or fails with *n == 0 and
 * fwc_h1_resolve_error saying why. */
void fwc_h1_resolver_poll(FwcH1Resolver *r,
                          void (*done)(void *arg, const char *host, const char *port), void *arg);
/* The error text of the last failed lookup of host:port, or NULL. */
const char *fwc_h1_resolve_error(FwcH1Resolver *r, const char *host, const char *port);

/* ---------- the client (h1.c) ---------- */

typedef struct FwcH1 FwcH1;
typedef struct FwcH1Req FwcH1Req;

/* A client whose sockets go into epfd with data.ptr = a connection (never an odd
 * value: the worker tags its own fds with the low bit).  At most max_conns connections
 * are open (busy or idle; the least recently used idle one makes room).  NULL when out
 * of memory. */
FwcH1 *fwc_h1_new(int epfd, int wakefd, size_t max_conns);
/* Closes every connection; requests still in flight must have been aborted. */
void fwc_h1_free(FwcH1 *c);

FwcH1Req *fwc_h1_req_new(void); /* NULL when out of memory */
void fwc_h1_req_free(FwcH1Req *r);

/* The route of (spec, req) when the native client sends it, else NULL (libcurl does):
 * fwc_h1_eligible, remembered for the last (spec, URL) seen.  Valid until the next call. */
const FwcH1Url *fwc_h1_route(FwcH1 *c, const FwcHookSpec *spec, const FwcBuilt *req);

/* Starts sending req (borrowed, with spec, until the request is done) to u; owner is
 * handed back by fwc_h1_take_done.  A request that fails at once (no memory, refused
 * address) is done at once. */
void fwc_h1_start(FwcH1 *c, FwcH1Req *r, const FwcHookSpec *spec, const FwcBuilt *req,
                  const FwcH1Url *u, void *owner);
/* An epoll event for ptr (a connection of c). */
void fwc_h1_event(FwcH1 *c, void *ptr, uint32_t events);
/* Lookups that ended, timeouts due by now, then the reads a busy socket had left over
 * (a socket gets a bounded number of reads per turn). */
void fwc_h1_tick(FwcH1 *c, double now);
/* The earliest monotonic time something is due (a timeout; 0 when reads are left over),
 * or -1. */
double fwc_h1_next_due(FwcH1 *c);
/* A finished request (its owner; *r the request), or NULL when none. */
void *fwc_h1_take_done(FwcH1 *c, FwcH1Req **r);
/* The result of a finished request, moved to *out; *connects: connections opened for it. */
void fwc_h1_result(FwcH1Req *r, FwcResult *out, long *connects);
/* Abandons a request in flight (engine close): its connection is closed. */
void fwc_h1_abort(FwcH1 *c, FwcH1Req *r);

#endif
