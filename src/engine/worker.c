/* worker.c — one worker thread of the delivery engine.  It never holds the GIL nor
 * touches a PyObject.  It owns one libcurl multi handle (connections, TLS sessions and
 * HTTP/2 streams reused) driven by curl_multi_socket_action, and a native HTTP/1.1
 * client (h1.h) that sends the plain-http requests libcurl would send unchanged, both
 * from one epoll loop (an eventfd wakes it for new work).  Each loop: publish the attempts that finished (under
 * the engine lock, briefly), take up to its share of runnable jobs, build and sign each
 * request (fresh Standard Webhooks timestamp, same id) and start it, wait for socket
 * events, collect what finished and settle its verdict (retry.c) before taking the lock.
 *
 * Per request it costs no allocation of a curl handle (flights are pooled with their
 * easy handle and options) and no epoll_ctl on a keep-alive connection. */
#include "engine/engine.h"
#include "net/h1.h"
#include <math.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PULL 64 /* jobs taken from the queue per loop, at most */

/* One attempt on a worker.  Flights are pooled with their easy handle and transfer, so a
 * pooled flight's next request for the same webhook only sets the per-request options
 * (the handle's own options point at the flight, which therefore never moves). */
typedef struct FwcFlight {
    FwcWorker *w;
    CURL *easy; /* NULL until the flight's first transfer */
    FwcTransfer *t;
    FwcH1Req *h1req; /* NULL until the flight's first native request */
    int native;      /* this attempt goes through the native client */
    FwcJob *job;
    struct FwcFlight *prev, *next;
    FwcOutcome *o; /* the outcome being made (o->req is what t sends) */
    FwcEvent *cb;  /* preallocated when on_result is set */
    long nconnects;
    double delay; /* settle(): seconds until the retry */
    int settled;
} FwcFlight;

/* What the worker knows of a socket (w->fds[fd]): the events it is registered for in the
 * epoll set, whether it is, whether curl watches it now, whether it is a connection
 * (opened and closed through our callbacks).  A connection stays registered while idle
 * between transfers, so that a keep-alive request costs no epoll_ctl. */
enum { FD_IN = 1, FD_OUT = 2, FD_REG = 4, FD_WANT = 8, FD_CONN = 16 };

/* epoll data of the worker's own fds (curl's sockets, the eventfd): odd, so that they
 * never look like the native client's connection pointers */
#define TAG_FD(fd) (((uint64_t)(uint32_t)(fd) << 1) | 1)

static void error_outcome(FwcOutcome *o, FwcDeliveryStatus status, const char *fmt,
                          const char *detail)
{
    o->status = status;
    fwc_outcome_error(o, fmt, detail);
}

/* ---------- flights: pooled transfers ---------- */

/* An idle flight (pooled, or new); NULL when out of memory. */
static FwcFlight *flight_get(FwcWorker *w)
{
    if (w->npool) return w->pool[--w->npool];
    FwcFlight *f = malloc(sizeof *f);
    if (f) {
        memset(f, 0, sizeof *f);
        f->w = w;
    }
    return f;
}

static void flight_free(FwcFlight *f)
{
    fwc_http_transfer_free(f->t);
    if (f->easy) curl_easy_cleanup(f->easy);
    fwc_h1_req_free(f->h1req);
    free(f);
}

/* Back to the pool once its attempt is over (not in the multi handle). */
static void flight_put(FwcWorker *w, FwcFlight *f)
{
    f->job = NULL;
    f->o = NULL;
    f->cb = NULL;
    f->prev = f->next = NULL;
    if (w->npool < w->cap) w->pool[w->npool++] = f;
    else flight_free(f);
}

static curl_socket_t open_sock(void *clientp, curlsocktype purpose, struct curl_sockaddr *a);
static int close_sock(void *clientp, curl_socket_t s);

/* ---------- one attempt ---------- */

static void flight_link(FwcWorker *w, FwcFlight *f)
{
    f->prev = NULL;
    f->next = w->flights;
    if (w->flights) w->flights->prev = f;
    w->flights = f;
}

/* Starts the job's next attempt on w, or completes it at once (build failure) by
 * appending it to *done.  -1 when out of memory: the caller puts j back in its queue.
 * No lock held. */
static int begin(FwcWorker *w, FwcJob *j, FwcFlight **done)
{
    FwcEngine *e = w->eng;
    FwcFlight *f = flight_get(w);
    FwcOutcome *o = fwc_outcome_new();
    FwcEvent *cb = e->want_callbacks ? malloc(sizeof *cb) : NULL;
    if (!f || !o || (e->want_callbacks && !cb)) {
        if (f) flight_put(w, f);
        free(o);
        free(cb);
        return -1;
    }
    f->job = j;
    f->o = o;
    f->cb = cb;
    f->nconnects = 0;
    f->settled = 0;
    o->attempt = j->attempts + 1;
    FwcError err;
    FwcStatus st = fwc_request_build(j->spec, j->snap, j->id, (long long)time(NULL), &o->req, &err);
    if (st) {
        const char *kind = st == FWC_ETEMPLATE    ? "TemplateError"
                           : st == FWC_ECONDITION ? "ConditionError"
                           : st == FWC_ENOMEM     ? "MemoryError"
                           : st == FWC_ETYPE      ? "TypeError"
                                                  : "ValueError";
        char msg[560];
        snprintf(msg, sizeof msg, "%s: %s", kind, err.message);
        error_outcome(o, st == FWC_ENOMEM ? FWC_DS_FAILED : FWC_DS_EXHAUSTED,
                      "could not build the request: %s", msg);
        f->next = *done;
        *done = f;
        return 0;
    }
    o->built = 1;
    const FwcH1Url *url = e->native_http ? fwc_h1_route(w->h1, j->spec, &o->req) : NULL;
    f->native = url != NULL;
    if (f->native) {
        if (!f->h1req && !(f->h1req = fwc_h1_req_new())) {
            f->native = 0;
            error_outcome(o, FWC_DS_FAILED, "%s", "out of memory (request)");
            f->next = *done;
            *done = f;
            return 0;
        }
        flight_link(w, f);
        /* a request that fails at once is in the client's done list: collect() takes it */
        fwc_h1_start(w->h1, f->h1req, j->spec, &o->req, url, f);
        return 0;
    }
    if (!f->easy && (f->easy = curl_easy_init()) && !(f->t = fwc_http_transfer_new(f->easy))) {
        curl_easy_cleanup(f->easy);
        f->easy = NULL;
    }
    int armed = f->t ? fwc_http_rearm(f->t, j->spec, &o->req) : -1;
    if (armed < 0) {
        error_outcome(o, FWC_DS_FAILED, "%s", "out of memory (curl handle)");
        f->next = *done;
        *done = f;
        return 0;
    }
    if (armed > 0) {
        /* the handle's options were reset (new, or another webhook's): ours again */
        curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
        curl_easy_setopt(f->easy, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(f->easy, CURLOPT_SHARE, w->share);
        curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETFUNCTION, open_sock);
        curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETDATA, f);
        curl_easy_setopt(f->easy, CURLOPT_CLOSESOCKETFUNCTION, close_sock);
        curl_easy_setopt(f->easy, CURLOPT_CLOSESOCKETDATA, w);
    }
    if (curl_multi_add_handle(w->multi, f->easy) != CURLM_OK) {
        error_outcome(o, FWC_DS_FAILED, "%s", "could not start the transfer");
        f->next = *done;
        *done = f;
        return 0;
    }
    flight_link(w, f);
    return 0;
}

static void flight_unlink(FwcWorker *w, FwcFlight *f)
{
    if (f->prev) f->prev->next = f->next;
    else w->flights = f->next;
    if (f->next) f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

/* Finished transfers -> *done. */
static void collect(FwcWorker *w, FwcFlight **done)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(w->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        FwcFlight *f = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (!f) continue;
        fwc_http_complete(f->t, msg->data.result, &f->o->res);
        curl_easy_getinfo(f->easy, CURLINFO_NUM_CONNECTS, &f->nconnects);
        curl_multi_remove_handle(w->multi, f->easy);
        flight_unlink(w, f);
        f->next = *done;
        *done = f;
    }
    FwcH1Req *r;
    FwcFlight *f;
    while ((f = fwc_h1_take_done(w->h1, &r))) {
        fwc_h1_result(r, &f->o->res, &f->nconnects);
        flight_unlink(w, f);
        f->next = *done;
        *done = f;
    }
}

/* What to release once the lock is dropped. */
typedef struct {
    FwcOutcome *outcomes[2 * MAX_PULL + 8];
    size_t nout;
    FwcJob *finals[2 * MAX_PULL + 8];
    size_t nfinal;
} Garbage;

static void garbage_drop(Garbage *g)
{
    for (size_t i = 0; i < g->nout; i++) fwc_outcome_decref(g->outcomes[i]);
    g->nout = 0;
    for (size_t i = 0; i < g->nfinal; i++) {
        FwcJob *j = g->finals[i];
        FwcSnapshot *s = j->snap;
        j->snap = NULL; /* nobody builds from a final job */
        if (s) fwc_snapshot_decref(s);
        fwc_job_decref(j);
    }
    g->nfinal = 0;
}

/* Status, error and retry delay of a finished attempt (f->delay): before the lock is
 * taken, so that publish() holds it for a few pointer updates only. */
static void settle(FwcWorker *w, FwcFlight *f)
{
    FwcOutcome *o = f->o;
    f->delay = 0;
    f->settled = 1;
    if (o->built && o->status == FWC_DS_QUEUED)
        fwc_retry_decide(&w->rng, f->job->spec, o, &f->delay);
    else if (o->status == FWC_DS_FAILED) {
        /* build ran out of memory or the transfer could not start */
        if (o->attempt > f->job->spec->max_retries) o->status = FWC_DS_EXHAUSTED;
        else f->delay = 1.0;
    }
}

/* Publishes finished attempts (under the lock).  Returns how many were published;
 * stops early (leaving the rest in *done) when the garbage list is full. */
static size_t publish(FwcWorker *w, FwcFlight **done, Garbage *g)
{
    FwcEngine *e = w->eng;
    size_t n = 0;
    double now = fwc_mono_now(), wall = fwc_wall_now();
    while (*done && g->nout < sizeof g->outcomes / sizeof *g->outcomes - 1 &&
           g->nfinal < sizeof g->finals / sizeof *g->finals - 1) {
        FwcFlight *f = *done;
        *done = f->next;
        FwcJob *j = f->job;
        FwcOutcome *o = f->o;
        e->ninflight--;
        w->ninflight--;
        FwcHost *h = j->hq;
        j->hq = NULL;
        if (h) {
            h->inflight--;
            fwc_host_update(e, h);
        }
        double delay = f->delay;
        j->attempts = o->attempt;
        e->attempts++;
        if (f->native) e->native_attempts++;
        if (f->nconnects > 0) e->conn_opened += (unsigned long long)f->nconnects;
        else if (o->built && (o->res.status || o->res.kind == FWC_NET_OK)) e->conn_reused++;
        if (o->status == FWC_DS_FAILED) {
            o->next_retry = wall + delay;
            j->due = now + delay;
            j->state = FWC_JOB_SCHEDULED;
            if (fwc_heap_push(e, j) == 0) e->nscheduled++;
            else {
                o->status = FWC_DS_EXHAUSTED;
                o->next_retry = 0;
                fwc_outcome_error(o, "out of memory scheduling the retry");
            }
        }
        if (o->status != FWC_DS_DELIVERED) e->failed_attempts++;
        if (o->status == FWC_DS_DELIVERED || o->status == FWC_DS_EXHAUSTED) {
            if (o->status == FWC_DS_DELIVERED) e->delivered++;
            else e->exhausted++;
            j->state = FWC_JOB_FINAL;
            fwc_live_remove(e, j);
            g->finals[g->nfinal++] = j; /* the engine's reference */
        }
        if (j->outcome) g->outcomes[g->nout++] = j->outcome;
        j->outcome = o;
        if (e->observer.fn) e->observer.fn(e->observer.ctx, j, o);
        if (f->cb) {
            fwc_job_incref(j);
            f->cb->job = j;
            f->cb->next = NULL;
            if (e->cb_tail) e->cb_tail->next = f->cb;
            else e->cb_head = f->cb;
            e->cb_tail = f->cb;
            f->cb = NULL;
        }
        flight_put(w, f);
        n++;
    }
    if (n && e->want_callbacks) pthread_cond_signal(&e->cb_cond);
    return n;
}

/* Stops every transfer of w (close): the jobs stay live, undelivered. */
static void abort_flights(FwcWorker *w)
{
    while (w->flights) {
        FwcFlight *f = w->flights;
        flight_unlink(w, f);
        if (f->native) fwc_h1_abort(w->h1, f->h1req);
        else curl_multi_remove_handle(w->multi, f->easy);
        fwc_outcome_decref(f->o);
        free(f->cb);
        flight_free(f);
    }
}

/* ---------- the event loop: epoll + curl_multi_socket_action ---------- */

/* w->fds entry of socket s (grown as needed), or NULL when out of memory: the caller
 * then registers and removes eagerly. */
static uint8_t *fd_state(FwcWorker *w, curl_socket_t s)
{
    if (s < 0) return NULL;
    if ((size_t)s >= w->nfds) {
        size_t n = w->nfds ? w->nfds : 64;
        while (n <= (size_t)s) n *= 2;
        uint8_t *p = realloc(w->fds, n);
        if (!p) return NULL;
        memset(p + w->nfds, 0, n - w->nfds);
        w->fds = p;
        w->nfds = n;
    }
    return &w->fds[s];
}

static void fd_unregister(FwcWorker *w, curl_socket_t s, uint8_t *st)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
    if (st) *st &= (uint8_t) ~(FD_REG | FD_IN | FD_OUT);
}

/* curl wants socket s watched for `what` */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    FwcWorker *w = userp;
    uint8_t *st = fd_state(w, s);
    if (what == CURL_POLL_REMOVE) {
        if (st) *st &= (uint8_t)~FD_WANT;
        /* an idle connection stays registered (events for it are dropped in events());
         * anything else curl may close behind our back, so it leaves the set now */
        if (!st || ((*st & FD_REG) && !(*st & FD_CONN))) fd_unregister(w, s, st);
        return 0;
    }
    uint8_t mask =
        (uint8_t)((what & CURL_POLL_IN ? FD_IN : 0) | (what & CURL_POLL_OUT ? FD_OUT : 0));
    if (st) {
        *st |= FD_WANT;
        if ((*st & FD_REG) && (*st & (FD_IN | FD_OUT)) == mask) return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (mask & FD_IN ? EPOLLIN : 0) | (mask & FD_OUT ? EPOLLOUT : 0);
    ev.data.u64 = TAG_FD(s);
    int op = st && (*st & FD_REG) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (!st) op = EPOLL_CTL_MOD; /* state unknown: try both */
    if (epoll_ctl(w->epfd, op, s, &ev) < 0)
        epoll_ctl(w->epfd, op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
    if (st) *st = (uint8_t)((*st & ~(FD_IN | FD_OUT)) | mask | FD_REG);
    return 0;
}

/* A connection's socket (CURLOPT_OPENSOCKETFUNCTION): the SSRF check of http.c, and the
 * worker learns that the socket is a connection, closed through close_sock. */
static curl_socket_t open_sock(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    FwcFlight *f = clientp;
    curl_socket_t s = fwc_http_open_socket(f->t, (int)purpose, a);
    if (s != CURL_SOCKET_BAD) {
        uint8_t *st = fd_state(f->w, s);
        if (st) *st = FD_CONN; /* a new socket is in no epoll set yet */
    }
    return s;
}

/* A connection is closed (CURLOPT_CLOSESOCKETFUNCTION).  It leaves the epoll set first:
 * were its file still open in a forked child, the registration would outlive close(). */
static int close_sock(void *clientp, curl_socket_t s)
{
    FwcWorker *w = clientp;
    uint8_t *st = s >= 0 && (size_t)s < w->nfds ? &w->fds[s] : NULL;
    if (!st || (*st & FD_REG)) epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
    if (st) *st = 0;
    return close(s);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    FwcWorker *w = userp;
    w->timer = timeout_ms < 0 ? -1 : fwc_mono_now() + (double)timeout_ms / 1000.0;
    return 0;
}

void fwc_worker_wake(FwcWorker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, the worker wakes anyway */
}

/* Waits up to timeout_ms for socket events and lets curl act on them and on its timer. */
static void events(FwcWorker *w, int timeout_ms)
{
    struct epoll_event evs[64];
    int n = epoll_wait(w->epfd, evs, 64, timeout_ms), running;
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        if (!(tag & 1)) {
            fwc_h1_event(w->h1, evs[i].data.ptr, evs[i].events);
            continue;
        }
        int fd = (int)(tag >> 1);
        if (fd == w->evfd) {
            uint64_t v;
            ssize_t r = read(w->evfd, &v, sizeof v);
            (void)r;
            continue;
        }
        if ((size_t)fd < w->nfds && !(w->fds[fd] & FD_WANT)) {
            /* an idle connection that became readable (closed by the server, most
             * likely): curl checks it when it next wants it; until then it is not watched */
            fd_unregister(w, fd, &w->fds[fd]);
            continue;
        }
        /* No event bits (0: libcurl polls the socket itself, as curl_multi_perform
         * does).  libcurl < 8 keeps the bits on the connection, not on a transfer, and
         * the first transfer over it to run takes them: on an HTTP/2 connection that can
         * be a transfer that has just sent its request HEADERS, which then, told "only
         * readable", leaves its body for later.  A server that answers without reading
         * the body (nginx's `return`) ends the stream in between (RST_STREAM NO_ERROR),
         * and libcurl 7.x fails the late body with CURLE_HTTP2_STREAM ("stream N
         * closed"): a delivery lost to a retry.  Polled, the socket is writable and the
         * body follows its headers at once.  Costs a poll() per transfer woken. */
        curl_multi_socket_action(w->multi, fd, 0, &running);
    }
    double now = fwc_mono_now();
    if (w->timer >= 0 && now >= w->timer) {
        w->timer = -1;
        curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    fwc_h1_tick(w->h1, now);
}

void *fwc_worker_main(void *arg)
{
    FwcWorker *w = arg;
    FwcEngine *e = w->eng;
    FwcFlight *done = NULL;
    pthread_setname_np(pthread_self(), "fwc-worker"); /* as top and perf show it */
    Garbage *g = malloc(sizeof *g);
    if (!g) abort();
    g->nout = g->nfinal = 0;
    FwcJob *back[MAX_PULL];
    size_t nback = 0;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        size_t published = 0;
        /* jobs that could not start for want of memory go back to their queues */
        for (size_t i = 0; i < nback; i++) {
            FwcJob *j = back[i];
            FwcHost *h = j->hq;
            e->ninflight--;
            w->ninflight--;
            h->inflight--;
            fwc_host_update(e, h);
            if (fwc_host_push(e, j) < 0) {
                /* not even a host entry: retry it later */
                j->due = fwc_mono_now() + 1.0;
                j->state = FWC_JOB_SCHEDULED;
                if (fwc_heap_push(e, j) == 0) e->nscheduled++;
            }
        }
        nback = 0;
        while (done) {
            published += publish(w, &done, g);
            if (done) { /* garbage list full: drop it and go on */
                pthread_mutex_unlock(&e->lock);
                garbage_drop(g);
                pthread_mutex_lock(&e->lock);
            }
        }
        if (e->stopping) break;
        double now = fwc_mono_now();
        fwc_queue_promote_due(e, now);
        FwcJob *start[MAX_PULL];
        size_t n = 0;
        FwcJob *j;
        while (w->ninflight < w->cap && n < MAX_PULL && (j = fwc_queue_pop(e))) {
            j->state = FWC_JOB_INFLIGHT;
            e->ninflight++;
            w->ninflight++;
            start[n++] = j;
        }
        /* waiters want room in the queue or the engine fwc_engine_drained; a broadcast for anything
         * else would wake flush() once per loop for nothing */
        if (e->waiters && ((n && e->room_waiters) || (published && !e->nqueued && !e->ninflight)))
            pthread_cond_broadcast(&e->changed);
        long timeout_ms = 1000;
        if (e->heap_len) {
            double wait = (e->heap[0]->due - now) * 1000.0 + 1.0;
            if (wait < timeout_ms) timeout_ms = wait > 0 ? (long)wait : 0;
        }
        w->sleeping = n == 0;
        pthread_mutex_unlock(&e->lock);
        garbage_drop(g);
        for (size_t i = 0; i < n; i++)
            if (begin(w, start[i], &done) < 0) back[nback++] = start[i];
        double due = fwc_h1_next_due(w->h1);
        if (w->timer >= 0 && (due < 0 || w->timer < due)) due = w->timer;
        if (due >= 0) {
            double t = (due - fwc_mono_now()) * 1000.0;
            if (t < timeout_ms) timeout_ms = t > 0 ? (long)ceil(t) : 0;
        }
        events(w, n == 0 && !done && !nback ? (int)timeout_ms : 0);
        collect(w, &done);
        for (FwcFlight *f = done; f && !f->settled; f = f->next) settle(w, f);
        pthread_mutex_lock(&e->lock);
        w->sleeping = 0;
    }
    pthread_mutex_unlock(&e->lock);
    garbage_drop(g);
    if (w->flights) {
        /* one last look, without waiting: a response that has arrived makes its delivery
         * Delivered (or Failed), not one close() reports as interrupted in flight */
        events(w, 0);
        collect(w, &done);
        for (FwcFlight *f = done; f; f = f->next)
            if (!f->settled) settle(w, f);
        pthread_mutex_lock(&e->lock);
        while (done) {
            publish(w, &done, g);
            pthread_mutex_unlock(&e->lock);
            garbage_drop(g);
            pthread_mutex_lock(&e->lock);
        }
        pthread_mutex_unlock(&e->lock);
    }
    abort_flights(w);
    /* attempts finished but not published when the stop came: the jobs stay live */
    while (done) {
        FwcFlight *f = done;
        done = f->next;
        fwc_outcome_decref(f->o);
        free(f->cb);
        flight_free(f);
    }
    garbage_drop(g);
    free(g);
    return NULL;
}

void fwc_worker_cleanup(FwcWorker *w)
{
    for (size_t i = 0; i < w->npool; i++) flight_free(w->pool[i]);
    w->npool = 0;
    free(w->pool);
    w->pool = NULL;
    fwc_h1_free(w->h1);
    w->h1 = NULL;
    /* closes the cached connections through close_sock, which still needs w->fds */
    if (w->multi) curl_multi_cleanup(w->multi);
    if (w->share) curl_share_cleanup(w->share);
    w->multi = NULL;
    w->share = NULL;
    free(w->fds);
    w->fds = NULL;
    w->nfds = 0;
    if (w->epfd >= 0) close(w->epfd);
    if (w->evfd >= 0) close(w->evfd);
    w->epfd = w->evfd = -1;
}

/* ---------- setup ---------- */

int fwc_worker_init(FwcWorker *w, FwcEngine *e, int index, long per_worker, long max_per_host,
                    uint64_t seed)
{
    w->eng = e;
    w->index = index;
    w->cap = (size_t)per_worker;
    w->rng = (seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1)) | 1;
    w->timer = -1;
    w->pool = calloc(w->cap, sizeof *w->pool);
    w->multi = curl_multi_init();
    w->share = curl_share_init();
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!w->pool || !w->multi || !w->share || w->epfd < 0 || w->evfd < 0) return -1;
    if (!(w->h1 = fwc_h1_new(w->epfd, w->evfd, (size_t)per_worker))) return -1;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = TAG_FD(w->evfd);
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) return -1;
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_per_host);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, per_worker);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, per_worker);
    curl_share_setopt(w->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(w->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return 0;
}
