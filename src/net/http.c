/* http.c — the libcurl transport: easy-handle setup, SSRF checks, result extraction.
 *
 * A transfer is
 *
 *     FwcTransfer *t = fwc_http_prepare(easy, spec, req);   configure the easy handle
 *     curl_easy_perform(easy)  -- or a curl multi handle in a background dispatcher
 *     fwc_http_complete(t, code, &result);                   status, headers, body, error text
 *     fwc_http_release(t);
 *
 * fwc_http_send() runs one on the calling thread's own easy handle.  That handle lives
 * as long as the thread (a pthread key destructor cleans it at thread exit), so its
 * connection cache gives keep-alive across consecutive sends; when the next send uses the
 * same webhook, only the per-request options (URL, body, headers) are set again.
 * After fork() a child never uses a handle inherited from its parent: the handle (whose
 * sockets and TLS sessions belong to the parent) is abandoned, not cleaned up, because
 * cleaning would write TLS close_notify on the parent's connections.
 *
 * SSRF: every socket libcurl opens goes through open_socket(), which refuses addresses
 * the webhook may not reach (loopback, private, link-local, ...) before connect(); and
 * every request, including one on a reused connection, passes prereq() which checks the
 * connected address again before a byte of the request is sent. */
#include "net/net.h"
#include "net/h1.h" /* the response header bounds both transports apply */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#if LIBCURL_VERSION_NUM < 0x075500
#error "frappe_webhook_c needs libcurl >= 7.85 (CURLOPT_PROTOCOLS_STR)"
#endif

struct FwcTransfer {
    CURL *easy;
    const FwcHookSpec *spec;
    const FwcBuilt *req;
    struct curl_slist *headers; /* one malloc block: nodes then strings */
    size_t headers_cap;         /* its size, reused by the next request when it fits */
    char *url;                  /* fwc_http_rearm: CURLOPT_URL as set (malloc'd), or NULL */
    FwcResult res;
    int heap;                          /* allocated by fwc_http_prepare */
    unsigned long serial;              /* fwc_http_rearm: spec whose options are set; 0 none */
    int fresh;                         /* connections opened since the handle was last reset */
    char refused[256];                 /* SSRF refusal text, "" when none */
    size_t header_bytes, header_lines; /* received so far (fwc_h1_header_count) */
    char too_large[96];                /* why on_header stopped the transfer, "" when it did not */
    char errbuf[CURL_ERROR_SIZE];
};

/* libcurl 7.88 counts the requests it re-sent on a fresh connection after a kept-alive
 * one had died, per easy handle, and never resets the count between transfers: a pooled
 * handle would give up on its sixth ("Connection died, tried 5 times before giving up")
 * however far apart they were.  curl_easy_reset clears the count, so a handle is reset
 * once it has opened this many connections (each such re-send opens one). */
#define MAX_FRESH 4

/* ---------- global init ---------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;
static pthread_key_t conn_key;
static atomic_uint fork_generation;

typedef struct {
    CURL *easy;
    unsigned generation;  /* fork_generation when created */
    unsigned long serial; /* spec whose options are set on easy; 0 none */
    int busy;
    FwcTransfer t; /* the persistent transfer of this handle */
} ThreadConn;

static void conn_destroy(void *p)
{
    ThreadConn *c = p;
    if (!c) return;
    if (c->generation == atomic_load(&fork_generation) && c->easy) curl_easy_cleanup(c->easy);
    free(c->t.headers);
    free(c->t.url);
    free(c);
}

static void after_fork_child(void) { atomic_fetch_add(&fork_generation, 1); }

static void global_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return;
    if (pthread_key_create(&conn_key, conn_destroy) != 0) return;
    if (pthread_atfork(NULL, NULL, after_fork_child) != 0) return;
    global_ok = 1;
}

int fwc_http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_ok ? 0 : -1;
}

/* ---------- the SSRF policy on libcurl's connections (ssrf.c decides) ---------- */

/* 0 allowed, -1 refused (t->refused filled) */
static int check_sockaddr(FwcTransfer *t, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return fwc_addr_check(t->spec, 4,
                              (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr,
                              t->refused, sizeof t->refused);
    if (sa->sa_family == AF_INET6)
        return fwc_addr_check(t->spec, 6,
                              (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr,
                              t->refused, sizeof t->refused);
    snprintf(t->refused, sizeof t->refused,
             "refused to connect: address family %d is not IPv4 or IPv6", sa->sa_family);
    return -1;
}

/* libcurl is about to open a socket for a connection to `a` */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    FwcTransfer *t = clientp;
    if (purpose == CURLSOCKTYPE_IPCXN && check_sockaddr(t, &a->addr) < 0) return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int fwc_http_open_socket(FwcTransfer *t, int purpose, void *curl_sockaddr)
{
    return open_socket(t, (curlsocktype)purpose, curl_sockaddr);
}

/* a connection (new or reused) is about to carry the request */
static int prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    FwcTransfer *t = clientp;
    uint8_t addr[16];
    char ip[INET6_ADDRSTRLEN + 1];
    snprintf(ip, sizeof ip, "%s", primary_ip ? primary_ip : "");
    char *pct = strchr(ip, '%'); /* fe80::1%eth0 */
    if (pct) *pct = 0;
    int rc;
    if (inet_pton(AF_INET, ip, addr) == 1)
        rc = fwc_addr_check(t->spec, 4, addr, t->refused, sizeof t->refused);
    else if (inet_pton(AF_INET6, ip, addr) == 1)
        rc = fwc_addr_check(t->spec, 6, addr, t->refused, sizeof t->refused);
    else {
        snprintf(t->refused, sizeof t->refused,
                 "refused to send: the connected address '%s' is unknown", ip);
        rc = -1;
    }
    return rc < 0 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

/* ---------- response callbacks ---------- */

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    FwcTransfer *t = userdata;
    size_t len = size * n;
    int field = 0;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new response (1xx, a redirect, the final one): keep only the last */
        t->res.headers.len = 0;
        t->res.body.len = 0;
        t->res.truncated = 0;
    } else if (!(len <= 2 && (len == 0 || p[0] == '\r' || p[0] == '\n'))) {
        if (fwc_buf_append(&t->res.headers, p, len) < 0) return 0;
        field = 1;
    }
    /* libcurl 7.88 bounds header bytes but not trailers, which it hands over here too:
     * every line counts, after it was recorded, as the native client counts (h1.h) */
    if (fwc_h1_header_count(&t->header_bytes, &t->header_lines, len, field, t->too_large,
                            sizeof t->too_large) < 0)
        return 0;
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    FwcTransfer *t = userdata;
    size_t len = size * n, max = t->spec->max_response_bytes;
    size_t room = max > t->res.body.len ? max - t->res.body.len : 0;
    if (len > room) {
        /* keep what fits and stop reading: the rest is not wanted */
        if (room && fwc_buf_append(&t->res.body, p, room) < 0) return 0;
        t->res.truncated = 1;
        return 0;
    }
    if (fwc_buf_append(&t->res.body, p, len) < 0) return 0;
    return len;
}

/* ---------- setup ---------- */

static int has_header(const FwcBuilt *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return 1;
    return 0;
}

/* The header list for one request, in one malloc block (nodes, then "Name: value"
 * strings): the request's headers, Content-Type when none is set, User-Agent, and an
 * empty Expect (no 100-continue round trip). */
static struct curl_slist *build_headers(const FwcBuilt *req, struct curl_slist *old, size_t *cap)
{
    static const char ctype[] = "Content-Type: application/json";
    static const char ua[] = "User-Agent: frappe-webhook-c/" FWC_VERSION;
    static const char expect[] = "Expect:";
    int add_ctype = !has_header(req, "Content-Type"), add_ua = !has_header(req, "User-Agent");
    size_t count = req->nheaders + (size_t)add_ctype + (size_t)add_ua + 1, bytes = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        bytes += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 3;
    bytes += sizeof ctype + sizeof ua + sizeof expect;
    size_t need = count * sizeof(struct curl_slist) + bytes;
    struct curl_slist *nodes = old;
    if (need > *cap) {
        /* room for a longer signature next time, so that one block serves */
        if (!(nodes = malloc(need + 64))) return NULL;
        free(old);
        *cap = need + 64;
    }
    char *s = (char *)(nodes + count);
    size_t k = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        size_t nl = strlen(req->headers[i].name), vl = strlen(req->headers[i].value);
        nodes[k++].data = s;
        memcpy(s, req->headers[i].name, nl);
        memcpy(s + nl, ": ", 2);
        memcpy(s + nl + 2, req->headers[i].value, vl + 1);
        s += nl + vl + 3;
    }
    if (add_ctype) nodes[k++].data = (char *)ctype;
    if (add_ua) nodes[k++].data = (char *)ua;
    nodes[k++].data = (char *)expect;
    for (size_t i = 0; i < count; i++) nodes[i].next = i + 1 < count ? &nodes[i + 1] : NULL;
    return nodes;
}

/* Options that depend on the webhook only.  0 ok, -1 a setopt failed (out of memory). */
static int setup_spec(FwcTransfer *t)
{
    CURL *e = t->easy;
    const FwcHookSpec *s = t->spec;
    long timeout_ms = (long)ceil(s->timeout * 1000.0);
    long connect_ms = timeout_ms < 10000 ? timeout_ms : 10000;
    int bad = 0;
#define SET(opt, val) bad |= curl_easy_setopt(e, opt, val) != CURLE_OK
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, s->follow_redirects > 0 ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, (long)s->follow_redirects);
    /* a followed redirect re-sends the same method and body, whatever its code: a webhook is
     * not a browser form, and turning it into a GET would drop the payload silently */
    SET(CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_SSL_VERIFYPEER, s->verify_tls ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, s->verify_tls ? 2L : 0L);
    SET(CURLOPT_PROXY_SSL_VERIFYPEER, s->verify_tls ? 1L : 0L);
    SET(CURLOPT_PROXY_SSL_VERIFYHOST, s->verify_tls ? 2L : 0L);
    if (s->ca_file) SET(CURLOPT_CAINFO, s->ca_file);
    if (s->client_cert) SET(CURLOPT_SSLCERT, s->client_cert);
    if (s->client_key) SET(CURLOPT_SSLKEY, s->client_key);
    /* "" turns proxies off, including http_proxy/https_proxy from the environment */
    SET(CURLOPT_PROXY, s->proxy ? s->proxy : "");
    SET(CURLOPT_NOPROXY, "");
    if (strcmp(s->request_method, "POST") == 0) SET(CURLOPT_POST, 1L);
    else SET(CURLOPT_CUSTOMREQUEST, s->request_method);
    SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SET(CURLOPT_OPENSOCKETDATA, t);
    SET(CURLOPT_PREREQFUNCTION, prereq);
    SET(CURLOPT_PREREQDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
#undef SET
    return bad ? -1 : 0;
}

/* Options that change with every request. */
static int setup_request(FwcTransfer *t)
{
    CURL *e = t->easy;
    const FwcBuilt *r = t->req;
    /* libcurl still points at the old list while it is rewritten: nothing reads it
     * between transfers, and CURLOPT_HTTPHEADER below sets it again */
    struct curl_slist *h = build_headers(r, t->headers, &t->headers_cap);
    if (!h) return -1;
    t->headers = h;
    memset(&t->res, 0, sizeof t->res);
    t->refused[0] = 0;
    t->too_large[0] = 0;
    t->header_bytes = t->header_lines = 0;
    t->errbuf[0] = 0;
    int bad = 0;
    if (!t->url || strcmp(t->url, r->url) != 0) {
        /* libcurl copies the URL: skipped while it stays the same (a static URL) */
        bad |= curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK;
        free(t->url);
        t->url = bad ? NULL : strdup(r->url);
    }
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK;
    return bad ? -1 : 0;
}

static void fwc_http_release(FwcTransfer *t);

static FwcTransfer *fwc_http_prepare(void *easy, const FwcHookSpec *spec, const FwcBuilt *req)
{
    FwcTransfer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->heap = 1;
    t->easy = easy;
    t->spec = spec;
    t->req = req;
    curl_easy_reset(easy);
    if (setup_spec(t) < 0 || setup_request(t) < 0) {
        fwc_http_release(t);
        return NULL;
    }
    return t;
}

/* ---------- transfers that stay with their easy handle (the Dispatcher's pool) ---------- */

FwcTransfer *fwc_http_transfer_new(void *easy)
{
    FwcTransfer *t = calloc(1, sizeof *t);
    if (t) t->easy = easy;
    return t;
}

int fwc_http_rearm(FwcTransfer *t, const FwcHookSpec *spec, const FwcBuilt *req)
{
    fwc_result_free(&t->res);
    t->spec = spec;
    t->req = req;
    int reset = 0;
    if (t->serial != spec->serial || t->fresh >= MAX_FRESH) {
        /* another webhook's options: start from scratch (curl_easy_reset costs a few
         * allocations, so it is skipped while the webhook stays the same) */
        t->fresh = 0;
        curl_easy_reset(t->easy);
        free(t->url);
        t->url = NULL;
        t->serial = 0;
        reset = 1;
        if (setup_spec(t) < 0) return -1;
        t->serial = spec->serial;
    }
    if (setup_request(t) < 0) {
        t->serial = 0;
        return -1;
    }
    return reset;
}

void fwc_http_transfer_free(FwcTransfer *t)
{
    if (!t) return;
    fwc_result_free(&t->res);
    free(t->headers);
    free(t->url);
    free(t);
}

static void fwc_http_release(FwcTransfer *t)
{
    if (!t) return;
    fwc_result_free(&t->res);
    free(t->headers);
    free(t->url);
    t->headers = NULL;
    t->headers_cap = 0;
    t->url = NULL;
    if (t->heap) free(t);
}

/* errbuf without libcurl's prefixes, or curl's generic text */
static const char *detail(FwcTransfer *t, int code)
{
    static const char *const prefixes[] = { "SSL certificate problem: ", "SSL: ", NULL };
    const char *d = t->errbuf[0] ? t->errbuf : curl_easy_strerror((CURLcode)code);
    for (int i = 0; prefixes[i]; i++)
        if (strncmp(d, prefixes[i], strlen(prefixes[i])) == 0) return d + strlen(prefixes[i]);
    return d;
}

static void fail(FwcResult *r, FwcNetKind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->kind = kind;
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

void fwc_http_complete(FwcTransfer *t, int curl_code, FwcResult *out)
{
    CURL *e = t->easy;
    FwcResult *r = &t->res;
    CURLcode code = (CURLcode)curl_code;
    long status = 0, os_errno = 0;
    curl_off_t total_us = 0, connect_us = 0;
    char *eff = NULL;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
    long connects = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    t->fresh += (int)connects;
    if (code != CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect_us);
    }
    r->status = status;
    r->elapsed = (double)total_us / 1e6;
    /* NULL when it is the request's URL (no redirect): one malloc less per request */
    r->url = eff && strcmp(eff, t->req->url) != 0 ? strdup(eff) : NULL;
    r->kind = FWC_NET_OK;
    r->error[0] = 0;
    char secs[32];
    switch (code) {
    case CURLE_OK:
        if (status >= 300 && status < 400) {
            char *location = NULL;
            curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &location);
            if (location) fail(r, FWC_NET_REDIRECT, "redirect to %s not followed", location);
        }
        break;
    case CURLE_WRITE_ERROR:
        if (t->too_large[0]) fail(r, FWC_NET_RESET, "receive failed: %s", t->too_large);
        else if (!r->truncated)
            fail(r, FWC_NET_OTHER, "out of memory while receiving the response");
        break;
    case CURLE_COULDNT_CONNECT:
        if (t->refused[0]) fail(r, FWC_NET_SSRF, "%s", t->refused);
        else if (os_errno == ECONNREFUSED) fail(r, FWC_NET_REFUSED, "connection refused");
        else if (os_errno == ENETUNREACH) fail(r, FWC_NET_REFUSED, "network unreachable");
        else if (os_errno == EHOSTUNREACH) fail(r, FWC_NET_REFUSED, "host unreachable");
        else fail(r, FWC_NET_REFUSED, "could not connect: %s", detail(t, code));
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        fail(r, t->refused[0] ? FWC_NET_SSRF : FWC_NET_OTHER, "%s",
             t->refused[0] ? t->refused : "transfer aborted");
        break;
    case CURLE_OPERATION_TIMEDOUT: {
        double connect_bound = t->spec->timeout < 10.0 ? t->spec->timeout : 10.0;
        if (connect_us == 0 && connect_bound < t->spec->timeout) {
            fwc_seconds_text(connect_bound, secs, sizeof secs);
            fail(r, FWC_NET_TIMEOUT, "connect timed out after %s s", secs);
        } else {
            fwc_seconds_text(t->spec->timeout, secs, sizeof secs);
            fail(r, FWC_NET_TIMEOUT, "timed out after %s s", secs);
        }
        break;
    }
    case CURLE_PEER_FAILED_VERIFICATION:
        fail(r, FWC_NET_TLS, "TLS certificate verify failed: %s", detail(t, code));
        break;
    case CURLE_SSL_CONNECT_ERROR:
        fail(r, FWC_NET_TLS, "TLS handshake failed: %s", detail(t, code));
        break;
    case CURLE_SSL_CERTPROBLEM:
        fail(r, FWC_NET_TLS, "TLS client certificate problem: %s", detail(t, code));
        break;
    case CURLE_SSL_CACERT_BADFILE:
        fail(r, FWC_NET_TLS, "could not load the CA file: %s", detail(t, code));
        break;
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT: fail(r, FWC_NET_TLS, "TLS error: %s", detail(t, code)); break;
    case CURLE_TOO_MANY_REDIRECTS:
        fail(r, FWC_NET_REDIRECT, "too many redirects (follow_redirects=%d)",
             t->spec->follow_redirects);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        if (eff && strcmp(eff, t->req->url) != 0)
            fail(r, FWC_NET_REDIRECT, "redirect to %s refused: only http and https are followed",
                 eff);
        else fail(r, FWC_NET_OTHER, "unsupported protocol: %s", detail(t, code));
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        fail(r, FWC_NET_DNS, "could not resolve host: %s", detail(t, code));
        break;
    case CURLE_COULDNT_RESOLVE_PROXY:
        fail(r, FWC_NET_DNS, "could not resolve proxy: %s", detail(t, code));
        break;
    case CURLE_GOT_NOTHING: fail(r, FWC_NET_RESET, "connection closed without a response"); break;
    case CURLE_PARTIAL_FILE:
        fail(r, FWC_NET_RESET, "connection closed before the whole response arrived");
        break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        if (os_errno == ECONNRESET) fail(r, FWC_NET_RESET, "connection reset by peer");
        else if (os_errno == EPIPE) fail(r, FWC_NET_RESET, "connection closed by peer");
        else
            fail(r, FWC_NET_RESET, "%s failed: %s", code == CURLE_RECV_ERROR ? "receive" : "send",
                 detail(t, code));
        break;
    case CURLE_OUT_OF_MEMORY: fail(r, FWC_NET_OTHER, "out of memory"); break;
    default: fail(r, FWC_NET_OTHER, "transfer failed: %s", detail(t, code)); break;
    }
    *out = *r;
    memset(r, 0, sizeof *r);
}

/* ---------- synchronous send on the thread's own handle ---------- */

static ThreadConn *thread_conn(void)
{
    ThreadConn *c = pthread_getspecific(conn_key);
    unsigned gen = atomic_load(&fork_generation);
    if (c && c->generation != gen) {
        /* inherited through fork(): abandoned, see the top of this file */
        c = NULL;
    }
    if (c) return c;
    c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (!(c->easy = curl_easy_init())) {
        free(c);
        return NULL;
    }
    c->generation = gen;
    c->t.easy = c->easy;
    if (pthread_setspecific(conn_key, c) != 0) {
        curl_easy_cleanup(c->easy);
        free(c);
        return NULL;
    }
    return c;
}

FwcStatus fwc_http_send(const FwcHookSpec *spec, const FwcBuilt *req, FwcResult *out, FwcError *err)
{
    memset(out, 0, sizeof *out);
    ThreadConn *c = thread_conn();
    if (!c) return fwc_error_set(err, FWC_ENOMEM, "out of memory (no curl handle)");
    if (c->busy) {
        /* re-entered on this thread (cannot happen from Python, which never runs during a
         * transfer): use a one-off handle */
        CURL *easy = curl_easy_init();
        FwcTransfer *t = easy ? fwc_http_prepare(easy, spec, req) : NULL;
        if (!t) {
            if (easy) curl_easy_cleanup(easy);
            return fwc_error_set(err, FWC_ENOMEM, "out of memory");
        }
        int code = curl_easy_perform(easy);
        fwc_http_complete(t, code, out);
        fwc_http_release(t);
        curl_easy_cleanup(easy);
        return FWC_OK;
    }
    FwcTransfer *t = &c->t;
    t->spec = spec;
    t->req = req;
    if (c->serial != spec->serial || t->fresh >= MAX_FRESH) {
        t->fresh = 0;
        curl_easy_reset(c->easy);
        free(t->url);
        t->url = NULL;
        c->serial = 0;
        if (setup_spec(t) < 0)
            return fwc_error_set(err, FWC_ENOMEM, "out of memory (curl options)");
        c->serial = spec->serial;
    }
    if (setup_request(t) < 0) {
        c->serial = 0;
        return fwc_error_set(err, FWC_ENOMEM, "out of memory (curl options)");
    }
    c->busy = 1;
    int code = curl_easy_perform(c->easy);
    c->busy = 0;
    fwc_http_complete(t, code, out);
    /* the spec and request are the caller's: drop the pointers, keep the options */
    t->spec = NULL;
    t->req = NULL;
    return FWC_OK;
}
