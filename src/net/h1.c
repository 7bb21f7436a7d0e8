/* h1.c — the native HTTP/1.1 client: connections, sending, receiving, timeouts.
 *
 * One client per worker thread.  A request takes an idle kept-alive connection to its
 * host (URL authority) when there is one, else resolves (h1_resolve.c) and connects
 * without blocking, trying each address in turn.  Every address passes the webhook's
 * SSRF check before connect(), and a kept-alive connection passes it again before each
 * request (another webhook may allow less), as http.c does with libcurl.
 *
 * Sockets are in the worker's epoll set edge-triggered for their whole life, so a
 * request on a kept-alive connection costs one sendmsg() and one recv(): no epoll_ctl,
 * no poll().  Edge-triggered means every event is worked off until the socket would
 * block (or the response is complete: a short read has drained the socket), or until its
 * read budget is spent: then the rest is read at the next fwc_h1_tick.
 *
 * A request sent on a kept-alive connection that the server had closed meanwhile (no
 * byte of a response, then EOF or a reset) is sent once more on a fresh connection, as
 * libcurl does.  A closed connection's memory is kept until the next fwc_h1_tick, because
 * the epoll batch being handled may still name it. */
#include "net/h1.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IDLE_AGE 118.0 /* seconds: libcurl's CURLOPT_MAXAGE_CONN default */
#define READ_SIZE    16384
#define READ_BUDGET  16    /* reads per socket per turn (256 KiB): see receive() */
#define SMALL_BODY   16384 /* bodies up to this size are sent from one buffer */

enum { C_CONNECTING, C_BUSY, C_IDLE, C_CLOSED };
enum { R_IDLE, R_RESOLVING, R_CONNECTING, R_SENDING, R_RECEIVING, R_DONE };

typedef struct Conn {
    int fd, state;
    unsigned hash;
    char key[300];    /* the URL authority it was opened for */
    int family;       /* 4 or 6 */
    uint8_t addr[16]; /* the peer, for the SSRF check of each request */
    FwcH1Req *req;    /* while connecting or busy */
    double idle_since;
    struct Conn *prev, *next; /* idle list (most recently used first), or graveyard */
} Conn;

struct FwcH1Req {
    void *owner;
    const FwcHookSpec *spec;
    const FwcBuilt *req;
    FwcH1Url url;
    unsigned long url_gen; /* the client's route_gen when url was copied; 0 unknown */
    unsigned hash;
    FwcBuf head;      /* request line and headers (the buffer is reused); a
                                 * small body is copied behind them, so that one send()
                                 * writes the request */
    const char *body; /* the body still to write after head, or NULL */
    size_t body_len;
    size_t sent; /* bytes of head and body written */
    Conn *conn;
    int state;
    int reused;  /* on a kept-alive connection */
    int retried; /* already sent again on a fresh connection */
    int backlog; /* its socket may hold unread bytes: read at the next tick */
    double start, deadline, connect_deadline;
    long connects;
    FwcH1Addr one;    /* the address of an IP-literal URL */
    FwcH1Addr *addrs; /* &one, or a malloc'd copy of a lookup's answer */
    size_t naddrs, next_addr;
    int last_errno;
    char refused[256]; /* the last SSRF refusal, "" none */
    FwcH1Parser p;
    FwcResult res;
    struct FwcH1Req *prev, *next; /* the client's active list */
    struct FwcH1Req *dnext;       /* the done list */
};

struct FwcH1 {
    int epfd;
    FwcH1Resolver *resolver;
    size_t max_conns, nidle, nopen; /* open connections (busy or idle) at most max_conns,
                                      * as libcurl's CURLMOPT_MAX_TOTAL_CONNECTIONS */
    Conn *idle_head, *idle_tail;
    Conn *grave;
    FwcH1Req active; /* sentinel of the requests not done */
    FwcH1Req *done_head, *done_tail;
    double next_due; /* earliest deadline, or -1; may be early, never late */
    size_t nbacklog; /* requests with backlog set */
    /* fwc_h1_route's memory of the last (spec, URL) */
    unsigned long route_serial;
    char *route_text;
    int route_ok;
    unsigned long route_gen; /* counts route changes (from 1) */
    FwcH1Url route;
    char rbuf[READ_SIZE];
};

static unsigned hash_text(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---------- connections ---------- */

static void idle_unlink(FwcH1 *c, Conn *k)
{
    if (k->prev) k->prev->next = k->next;
    else c->idle_head = k->next;
    if (k->next) k->next->prev = k->prev;
    else c->idle_tail = k->prev;
    k->prev = k->next = NULL;
    c->nidle--;
}

static void conn_close(FwcH1 *c, Conn *k)
{
    if (k->state == C_CLOSED) return;
    if (k->state == C_IDLE) idle_unlink(c, k);
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->fd, NULL);
    close(k->fd);
    c->nopen--;
    k->fd = -1;
    k->state = C_CLOSED;
    k->req = NULL;
    k->next = c->grave;
    c->grave = k;
}

/* back to the pool after a complete response; the oldest idle one goes when full */
static void conn_idle(FwcH1 *c, Conn *k)
{
    k->req = NULL;
    k->state = C_IDLE;
    k->idle_since = fwc_mono_now();
    k->prev = NULL;
    k->next = c->idle_head;
    if (c->idle_head) c->idle_head->prev = k;
    else c->idle_tail = k;
    c->idle_head = k;
    c->nidle++;
    if (c->nopen > c->max_conns) conn_close(c, c->idle_tail);
}

static Conn *pool_take(FwcH1 *c, const char *key, unsigned hash)
{
    double now = fwc_mono_now();
    for (Conn *k = c->idle_head, *next; k; k = next) {
        next = k->next;
        if (k->hash != hash || strcmp(k->key, key) != 0) continue;
        if (now - k->idle_since > MAX_IDLE_AGE) {
            conn_close(c, k);
            continue;
        }
        idle_unlink(c, k);
        return k;
    }
    return NULL;
}

/* ---------- finishing a request ---------- */

static void backlog_clear(FwcH1 *c, FwcH1Req *r)
{
    if (!r->backlog) return;
    r->backlog = 0;
    c->nbacklog--;
}

static void finish(FwcH1 *c, FwcH1Req *r)
{
    backlog_clear(c, r);
    r->state = R_DONE;
    r->res.elapsed = fwc_mono_now() - r->start;
    r->prev->next = r->next;
    r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->dnext = NULL;
    if (c->done_tail) c->done_tail->dnext = r;
    else c->done_head = r;
    c->done_tail = r;
}

static void fail(FwcH1 *c, FwcH1Req *r, FwcNetKind kind, const char *fmt, ...)
{
    if (r->conn) conn_close(c, r->conn);
    r->conn = NULL;
    va_list ap;
    va_start(ap, fmt);
    r->res.kind = kind;
    vsnprintf(r->res.error, sizeof r->res.error, fmt, ap);
    va_end(ap);
    finish(c, r);
}

/* the redirect a 3xx names, made absolute as libcurl's CURLINFO_REDIRECT_URL */
static void not_followed(FwcH1Req *r)
{
    const char *loc = r->p.location;
    char *abs = NULL;
    CURLU *u = curl_url();
    if (u &&
        curl_url_set(u, CURLUPART_URL, r->req->url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, loc, CURLU_ALLOW_SPACE) == CURLUE_OK)
        curl_url_get(u, CURLUPART_URL, &abs, 0);
    r->res.kind = FWC_NET_REDIRECT;
    snprintf(r->res.error, sizeof r->res.error, "redirect to %s not followed", abs ? abs : loc);
    curl_free(abs);
    curl_url_cleanup(u);
}

/* the response is complete; dirty: the connection must not carry another request */
static void complete(FwcH1 *c, FwcH1Req *r, int dirty)
{
    Conn *k = r->conn;
    r->conn = NULL;
    if (!dirty && r->sent == r->head.len + r->body_len && fwc_h1_reusable(&r->p)) conn_idle(c, k);
    else conn_close(c, k);
    /* as http.c reads libcurl: a cut body (libcurl's write error) reports no redirect */
    if (r->res.status >= 300 && r->res.status < 400 && r->p.location[0] && !r->res.truncated)
        not_followed(r);
    finish(c, r);
}

/* ---------- connecting ---------- */

static void send_more(FwcH1 *c, FwcH1Req *r);
static void resolve_and_connect(FwcH1 *c, FwcH1Req *r);

static const uint8_t *addr_bytes(const FwcH1Addr *a)
{
    if (a->family == AF_INET)
        return (const uint8_t *)&((const struct sockaddr_in *)&a->sa)->sin_addr;
    return (const uint8_t *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
}

/* connects to the next address that passes the SSRF check; fails the request when none is left */
static void connect_next(FwcH1 *c, FwcH1Req *r)
{
    r->state = R_CONNECTING;
    while (r->next_addr < r->naddrs) {
        const FwcH1Addr *a = &r->addrs[r->next_addr++];
        int fam = a->family == AF_INET ? 4 : 6;
        if (fwc_addr_check(r->spec, fam, addr_bytes(a), r->refused, sizeof r->refused) < 0)
            continue;
        /* room for one more: the least recently used idle connection goes */
        if (c->nopen >= c->max_conns && c->idle_tail) conn_close(c, c->idle_tail);
        int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r->last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = connect(fd, (const struct sockaddr *)&a->sa, a->len);
        if (rc < 0 && errno != EINPROGRESS) {
            r->last_errno = errno;
            close(fd);
            continue;
        }
        Conn *k = calloc(1, sizeof *k);
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                  .data.ptr = k };
        if (!k || epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(k);
            close(fd);
            fail(c, r, FWC_NET_OTHER, "out of memory (connection)");
            return;
        }
        c->nopen++;
        k->fd = fd;
        k->state = rc == 0 ? C_BUSY : C_CONNECTING;
        k->hash = r->hash;
        snprintf(k->key, sizeof k->key, "%s", r->url.authority);
        k->family = fam;
        memcpy(k->addr, addr_bytes(a), fam == 4 ? 4 : 16);
        k->req = r;
        r->conn = k;
        r->connects++;
        if (rc == 0) {
            r->state = R_SENDING;
            send_more(c, r);
        }
        return;
    }
    if (r->refused[0]) fail(c, r, FWC_NET_SSRF, "%s", r->refused);
    else if (r->last_errno == ECONNREFUSED) fail(c, r, FWC_NET_REFUSED, "connection refused");
    else if (r->last_errno == ENETUNREACH) fail(c, r, FWC_NET_REFUSED, "network unreachable");
    else if (r->last_errno == EHOSTUNREACH) fail(c, r, FWC_NET_REFUSED, "host unreachable");
    else fail(c, r, FWC_NET_REFUSED, "could not connect: %s", strerror(r->last_errno));
}

static void on_connect(FwcH1 *c, Conn *k, uint32_t events)
{
    FwcH1Req *r = k->req;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (!err && !(events & (EPOLLERR | EPOLLHUP))) {
        if (!(events & EPOLLOUT)) return;
        k->state = C_BUSY;
        r->state = R_SENDING;
        send_more(c, r);
        return;
    }
    /* this address failed: the next one */
    r->last_errno = err ? err : ECONNREFUSED;
    conn_close(c, k);
    r->conn = NULL;
    connect_next(c, r);
}

static void set_addrs(FwcH1Req *r, const FwcH1Addr *addrs, size_t n)
{
    if (r->addrs && r->addrs != &r->one) free(r->addrs);
    r->addrs = NULL;
    r->naddrs = r->next_addr = 0;
    if (n == 1) r->addrs = &r->one;
    else if (!(r->addrs = malloc(n * sizeof *addrs))) return;
    memcpy(r->addrs, addrs, n * sizeof *addrs);
    r->naddrs = n;
}

/* localhost and *.localhost, which libcurl answers itself (127.0.0.1, then ::1) */
static int is_localhost(const char *h)
{
    size_t n = strlen(h);
    return strcasecmp(h, "localhost") == 0 || (n > 10 && strcasecmp(h + n - 10, ".localhost") == 0);
}

/* *a = family's address (bytes) at port (network order) */
static void make_addr(FwcH1Addr *a, int family, const void *bytes, unsigned short port)
{
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&a->sa;
        s->sin_family = AF_INET;
        s->sin_port = port;
        memcpy(&s->sin_addr, bytes, 4);
        a->len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->sa;
        s->sin6_family = AF_INET6;
        s->sin6_port = port;
        memcpy(&s->sin6_addr, bytes, 16);
        a->len = sizeof *s;
    }
    a->family = family;
}

static void resolve_and_connect(FwcH1 *c, FwcH1Req *r)
{
    const FwcH1Url *u = &r->url;
    unsigned short port = htons((unsigned short)atoi(u->port));
    if (!u->literal && is_localhost(u->host)) {
        static const uint8_t v4[4] = { 127, 0, 0, 1 };
        FwcH1Addr two[2];
        make_addr(&two[0], AF_INET, v4, port);
        make_addr(&two[1], AF_INET6, &in6addr_loopback, port);
        set_addrs(r, two, 2);
        if (!r->naddrs) fail(c, r, FWC_NET_OTHER, "out of memory");
        else connect_next(c, r);
        return;
    }
    if (u->literal) {
        FwcH1Addr a;
        make_addr(&a, u->literal == 4 ? AF_INET : AF_INET6, u->addr, port);
        set_addrs(r, &a, 1);
        connect_next(c, r);
        return;
    }
    const FwcH1Addr *addrs;
    size_t n;
    int rc = fwc_h1_resolve(c->resolver, u->host, u->port, &addrs, &n);
    if (rc == 0) {
        r->state = R_RESOLVING;
        return;
    }
    if (rc < 0) {
        fail(c, r, FWC_NET_DNS, "could not resolve host: no resources to look up %s", u->host);
        return;
    }
    if (n == 0) {
        const char *why = fwc_h1_resolve_error(c->resolver, u->host, u->port);
        fail(c, r, FWC_NET_DNS, "could not resolve host: %s", why ? why : u->host);
        return;
    }
    set_addrs(r, addrs, n);
    if (!r->naddrs) {
        fail(c, r, FWC_NET_OTHER, "out of memory");
        return;
    }
    connect_next(c, r);
}

/* a lookup ended: the requests waiting for it go on */
static void on_resolved(void *arg, const char *host, const char *port)
{
    FwcH1 *c = arg;
    for (FwcH1Req *r = c->active.next, *next; r != &c->active; r = next) {
        next = r->next;
        if (r->state == R_RESOLVING && strcmp(r->url.host, host) == 0 &&
            strcmp(r->url.port, port) == 0)
            resolve_and_connect(c, r);
    }
}

/* ---------- sending and receiving ---------- */

/* the connection broke (err) while sending or receiving */
static void broken(FwcH1 *c, FwcH1Req *r, int err, int receiving)
{
    if (r->reused && !r->retried && !fwc_h1_started(&r->p)) {
        /* the server had closed the kept-alive connection: once more on a fresh one */
        conn_close(c, r->conn);
        r->conn = NULL;
        r->retried = 1;
        r->reused = 0;
        r->sent = 0;
        fwc_h1_parser_reset(&r->p);
        r->res.status = 0;
        r->res.headers.len = r->res.body.len = 0;
        resolve_and_connect(c, r);
        return;
    }
    if (err == ECONNRESET) fail(c, r, FWC_NET_RESET, "connection reset by peer");
    else if (err == EPIPE) fail(c, r, FWC_NET_RESET, "connection closed by peer");
    else if (receiving)
        fail(c, r, FWC_NET_RESET, "receive failed: Recv failure: %s", strerror(err));
    else fail(c, r, FWC_NET_RESET, "send failed: Send failure: %s", strerror(err));
}

static void send_more(FwcH1 *c, FwcH1Req *r)
{
    Conn *k = r->conn;
    size_t hl = r->head.len, total = hl + r->body_len;
    while (r->sent < total) {
        ssize_t w;
        if (r->sent >= hl || !r->body_len) {
            /* one buffer: send() spares the kernel the iovec import */
            const char *p = r->sent < hl ? r->head.data + r->sent : r->body + (r->sent - hl);
            w = send(k->fd, p, total - r->sent, MSG_NOSIGNAL);
        } else {
            struct iovec iov[2] = { { r->head.data + r->sent, hl - r->sent },
                                    { (void *)r->body, r->body_len } };
            struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
            w = sendmsg(k->fd, &m, MSG_NOSIGNAL);
        }
        if (w >= 0) {
            r->sent += (size_t)w;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* EPOLLOUT comes */
        broken(c, r, errno, 0);
        return;
    }
    r->state = R_RECEIVING;
}

/* a malformed response, reported with the prefix http.c gives libcurl's error code */
static void parse_failed(FwcH1 *c, FwcH1Req *r)
{
    const char *why = r->p.error ? r->p.error : "malformed response";
    switch (r->p.error_kind) {
    case FWC_H1E_PROTOCOL: fail(c, r, FWC_NET_OTHER, "unsupported protocol: %s", why); break;
    case FWC_H1E_RECV: fail(c, r, FWC_NET_RESET, "receive failed: %s", why); break;
    case FWC_H1E_NOMEM: fail(c, r, FWC_NET_OTHER, "out of memory"); break;
    default: fail(c, r, FWC_NET_OTHER, "transfer failed: %s", why);
    }
}

static void at_eof(FwcH1 *c, FwcH1Req *r)
{
    int rc = fwc_h1_parse_eof(&r->p);
    if (rc == FWC_H1_DONE) complete(c, r, 1);
    else if (rc == FWC_H1_MORE) {
        if (r->reused && !r->retried && !fwc_h1_started(&r->p)) broken(c, r, EPIPE, 1);
        else fail(c, r, FWC_NET_RESET, "connection closed without a response");
    } else fail(c, r, FWC_NET_RESET, "connection closed before the whole response arrived");
}

/* Reads what the socket has, up to READ_BUDGET reads: a receiver that never lets the
 * socket drain (an endless stream of headers, chunk extensions, a body past the cap
 * arriving as fast as it is read) must not hold the worker, whose other requests and
 * timeouts wait meanwhile.  What is left is read at the next fwc_h1_tick, after the
 * timeouts are checked, so the request's timeout holds however fast bytes arrive. */
static void receive(FwcH1 *c, FwcH1Req *r, uint32_t events)
{
    Conn *k = r->conn;
    for (int reads = 0;; reads++) {
        if (reads == READ_BUDGET) {
            if (!r->backlog) {
                r->backlog = 1;
                c->nbacklog++;
            }
            return;
        }
        ssize_t n = recv(k->fd, c->rbuf, sizeof c->rbuf, 0);
        if (n > 0) {
            size_t used = 0;
            int rc = fwc_h1_parse(&r->p, c->rbuf, (size_t)n, &used, &r->res,
                                  r->spec->max_response_bytes);
            if (rc == FWC_H1_DONE) {
                /* bytes beyond the response, or the peer closing: not reused */
                complete(c, r, used < (size_t)n || (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)));
                return;
            }
            if (rc == FWC_H1_BAD) {
                parse_failed(c, r);
                return;
            }
            if (rc == FWC_H1_NOMEM) {
                fail(c, r, FWC_NET_OTHER, "out of memory while receiving the response");
                return;
            }
            /* a short read drained the socket; the next bytes bring a new edge */
            if ((size_t)n < sizeof c->rbuf && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                return;
            continue;
        }
        if (n == 0) {
            at_eof(c, r);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        broken(c, r, errno, 1);
        return;
    }
}

void fwc_h1_event(FwcH1 *c, void *ptr, uint32_t events)
{
    Conn *k = ptr;
    if (k->state == C_CLOSED) return;
    if (k->state == C_IDLE) {
        /* the server closed it, or sent what nobody asked for */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn_close(c, k);
        return;
    }
    FwcH1Req *r = k->req;
    if (k->state == C_CONNECTING) {
        on_connect(c, k, events);
        /* connected and sent: bytes that came with the same edge are read below */
        if (r->conn != k || k->state != C_BUSY) return;
        events &= ~(uint32_t)EPOLLOUT;
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && r->state == R_SENDING) {
        send_more(c, r);
        if (r->conn != k) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) receive(c, r, events);
}

/* ---------- requests ---------- */

/* r's result emptied for the next request (its buffers have been moved out or freed) */
static void result_clear(FwcResult *res)
{
    fwc_result_free(res);
    res->status = 0;
    res->kind = FWC_NET_OK;
    res->truncated = 0;
    res->elapsed = 0;
    res->error[0] = 0;
}

const FwcH1Url *fwc_h1_route(FwcH1 *c, const FwcHookSpec *spec, const FwcBuilt *req)
{
    if (c->route_serial != spec->serial || !c->route_text || strcmp(c->route_text, req->url) != 0) {
        free(c->route_text);
        c->route_text = strdup(req->url);
        c->route_serial = c->route_text ? spec->serial : 0;
        c->route_ok = fwc_h1_eligible(spec, req, &c->route);
        c->route_gen++;
    }
    return c->route_ok ? &c->route : NULL;
}

void fwc_h1_start(FwcH1 *c, FwcH1Req *r, const FwcHookSpec *spec, const FwcBuilt *req,
                  const FwcH1Url *u, void *owner)
{
    r->owner = owner;
    r->spec = spec;
    r->req = req;
    if (r->url_gen != c->route_gen || u != &c->route) {
        /* a route is long (host, authority): copied only when it is not the one r has */
        r->url = *u;
        r->hash = hash_text(u->authority);
        r->url_gen = u == &c->route ? c->route_gen : 0;
    }
    r->sent = 0;
    r->conn = NULL;
    r->reused = r->retried = 0;
    r->connects = 0;
    r->last_errno = 0;
    r->refused[0] = 0;
    fwc_h1_parser_reset(&r->p);
    result_clear(&r->res);
    r->start = fwc_mono_now();
    r->deadline = r->start + spec->timeout;
    r->connect_deadline = r->start + (spec->timeout < 10.0 ? spec->timeout : 10.0);
    r->state = R_SENDING;
    r->prev = c->active.prev;
    r->next = &c->active;
    c->active.prev->next = r;
    c->active.prev = r;
    if (c->next_due < 0 || r->connect_deadline < c->next_due) c->next_due = r->connect_deadline;
    r->body = req->body.data;
    r->body_len = req->body.len;
    if (fwc_h1_head(req, u, &r->head) < 0 ||
        (r->body_len <= SMALL_BODY && fwc_buf_append(&r->head, r->body, r->body_len) < 0)) {
        fail(c, r, FWC_NET_OTHER, "out of memory");
        return;
    }
    if (r->body_len <= SMALL_BODY) {
        r->body = NULL;
        r->body_len = 0;
    }
    Conn *k = pool_take(c, u->authority, r->hash);
    if (k) {
        if (fwc_addr_check(spec, k->family, k->addr, r->refused, sizeof r->refused) < 0) {
            conn_idle(c, k);
            fail(c, r, FWC_NET_SSRF, "%s", r->refused);
            return;
        }
        k->state = C_BUSY;
        k->req = r;
        r->conn = k;
        r->reused = 1;
        send_more(c, r);
        return;
    }
    resolve_and_connect(c, r);
}

static void timed_out(FwcH1 *c, FwcH1Req *r)
{
    char secs[32];
    double timeout = r->spec->timeout, bound = timeout < 10.0 ? timeout : 10.0;
    if (r->state <= R_CONNECTING && bound < timeout) {
        fwc_seconds_text(bound, secs, sizeof secs);
        fail(c, r, FWC_NET_TIMEOUT, "connect timed out after %s s", secs);
    } else {
        fwc_seconds_text(timeout, secs, sizeof secs);
        fail(c, r, FWC_NET_TIMEOUT, "timed out after %s s", secs);
    }
}

void fwc_h1_tick(FwcH1 *c, double now)
{
    fwc_h1_resolver_poll(c->resolver, on_resolved, c);
    if (c->next_due >= 0 && now >= c->next_due) {
        double next = -1;
        for (FwcH1Req *r = c->active.next, *after; r != &c->active; r = after) {
            after = r->next;
            double due = r->state <= R_CONNECTING ? r->connect_deadline : r->deadline;
            if (now >= due) timed_out(c, r);
            else if (next < 0 || due < next) next = due;
        }
        c->next_due = next;
    }
    if (c->nbacklog) {
        for (FwcH1Req *r = c->active.next, *after; r != &c->active; r = after) {
            after = r->next;
            if (!r->backlog) continue;
            backlog_clear(c, r);
            /* RDHUP: read on to EAGAIN or EOF, whose edge may have come already */
            if (r->conn && r->conn->state == C_BUSY) receive(c, r, EPOLLIN | EPOLLRDHUP);
        }
    }
    while (c->grave) {
        Conn *k = c->grave;
        c->grave = k->next;
        free(k);
    }
}

double fwc_h1_next_due(FwcH1 *c) { return c->nbacklog ? 0 : c->next_due; }

void *fwc_h1_take_done(FwcH1 *c, FwcH1Req **out)
{
    FwcH1Req *r = c->done_head;
    if (!r) return NULL;
    c->done_head = r->dnext;
    if (!c->done_head) c->done_tail = NULL;
    r->dnext = NULL;
    r->state = R_IDLE;
    *out = r;
    return r->owner;
}

void fwc_h1_result(FwcH1Req *r, FwcResult *out, long *connects)
{
    /* field by field: the error text is copied only when there is one */
    FwcResult *in = &r->res;
    out->status = in->status;
    out->kind = in->kind;
    out->truncated = in->truncated;
    out->elapsed = in->elapsed;
    out->headers = in->headers;
    out->body = in->body;
    out->url = in->url;
    strcpy(out->error, in->error);
    memset(&in->headers, 0, sizeof in->headers);
    memset(&in->body, 0, sizeof in->body);
    in->url = NULL;
    *connects = r->connects;
}

void fwc_h1_abort(FwcH1 *c, FwcH1Req *r)
{
    if (r->state == R_IDLE) return;
    if (r->state == R_DONE) {
        /* finished but not taken */
        FwcH1Req **pp = &c->done_head, *prev = NULL;
        while (*pp && *pp != r) {
            prev = *pp;
            pp = &(*pp)->dnext;
        }
        if (*pp) {
            *pp = r->dnext;
            if (c->done_tail == r) c->done_tail = prev;
        }
    } else {
        backlog_clear(c, r);
        if (r->conn) conn_close(c, r->conn);
        r->prev->next = r->next;
        r->next->prev = r->prev;
        r->prev = r->next = NULL;
    }
    r->conn = NULL;
    r->state = R_IDLE;
}

/* ---------- lifetime ---------- */

FwcH1 *fwc_h1_new(int epfd, int wakefd, size_t max_conns)
{
    FwcH1 *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (!(c->resolver = fwc_h1_resolver_new(wakefd))) {
        free(c);
        return NULL;
    }
    c->epfd = epfd;
    c->max_conns = max_conns ? max_conns : 1;
    c->active.prev = c->active.next = &c->active;
    c->next_due = -1;
    return c;
}

void fwc_h1_free(FwcH1 *c)
{
    if (!c) return;
    while (c->idle_head) conn_close(c, c->idle_head);
    while (c->grave) {
        Conn *k = c->grave;
        c->grave = k->next;
        free(k);
    }
    fwc_h1_resolver_free(c->resolver);
    free(c->route_text);
    free(c);
}

FwcH1Req *fwc_h1_req_new(void) { return calloc(1, sizeof(FwcH1Req)); }

void fwc_h1_req_free(FwcH1Req *r)
{
    if (!r) return;
    fwc_buf_free(&r->head);
    fwc_h1_parser_free(&r->p);
    fwc_result_free(&r->res);
    if (r->addrs && r->addrs != &r->one) free(r->addrs);
    free(r);
}
