/* dispatcher.c — the background delivery engine and the Dispatcher type.
 *
 * enqueue() runs in the caller with the GIL: one snapshot of the document, one job, one
 * Delivery view, a push under the engine lock.  Everything else happens on native worker
 * threads that never hold the GIL nor touch a PyObject: each worker owns one libcurl
 * multi handle (connections, TLS sessions and HTTP/2 streams reused) driven by
 * curl_multi_socket_action from an epoll loop (an eventfd wakes it), builds and signs each attempt's request (fresh Standard Webhooks
 * timestamp, same id), sends it and decides: Delivered, Failed (retry scheduled) or
 * Exhausted.
 *
 * Queues: jobs wait in per-host FIFOs ("scheme://host:port"); a ring of hosts that have
 * queued jobs and fewer than max_per_host transfers in flight is served round-robin, so a
 * slow receiver holds at most max_per_host transfers and never starves the others.
 * Retries wait in a min-heap on their due time and go back to their host's queue.
 *
 * on_result: each published outcome is queued for a Python thread (_delivery.py) that
 * takes batches through _take_results() and calls on_result with the GIL and without any
 * engine lock.
 *
 * Fork: pthread_atfork handlers take every engine lock around fork(); in the child the
 * engines are marked dead (their threads do not exist there) and never freed nor used
 * for delivery: a Dispatcher's next enqueue in the child starts a fresh engine.
 * Interpreter exit: _delivery.py's atexit handler closes every open engine
 * (_close_all); after that no engine thread calls into Python (workers never do). */
#include "engine.h"
#include <ctype.h>
#include <stdarg.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include <math.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define HOST_BUCKETS 256
#define MAX_PULL 64
#define CB_BATCH 512

typedef struct CbEvent {
    FwcJob *job;    /* one reference */
    struct CbEvent *next;
} CbEvent;

struct FwcHost {
    char *key;
    unsigned hash;
    FwcHost *hnext;             /* hash chain */
    FwcJob *qhead, *qtail;      /* queued jobs, FIFO */
    size_t nq, inflight;
    FwcHost *rprev, *rnext;     /* in the runnable ring */
    int runnable;
};

typedef struct Worker Worker;

/* One attempt on a worker.  Flights are pooled with their easy handle and transfer, so a
 * pooled flight's next request for the same webhook only sets the per-request options
 * (the handle's own options point at the flight, which therefore never moves). */
typedef struct Flight {
    Worker *w;
    CURL *easy;                 /* NULL until the flight's first transfer */
    FwcTransfer *t;
    FwcJob *job;
    struct Flight *prev, *next;
    FwcOutcome *o;              /* the outcome being made (o->req is what t sends) */
    CbEvent *cb;                /* preallocated when on_result is set */
    long nconnects;
    double delay;               /* settle(): seconds until the retry */
    int settled;
} Flight;

/* What the worker knows of a socket (w->fds[fd]): the events it is registered for in the
 * epoll set, whether it is, whether curl watches it now, whether it is a connection
 * (opened and closed through our callbacks).  A connection stays registered while idle
 * between transfers, so that a keep-alive request costs no epoll_ctl. */
enum { FD_IN = 1, FD_OUT = 2, FD_REG = 4, FD_WANT = 8, FD_CONN = 16 };

struct Worker {
    FwcEngine *eng;
    int index;
    pthread_t thread;
    int started;
    CURLM *multi;
    CURLSH *share;
    int epfd, evfd;             /* epoll set of curl's sockets + the wake-up eventfd */
    double timer;               /* curl's timer (monotonic seconds), -1 when none */
    int sleeping;               /* under eng->lock: about to wait in epoll_wait */
    size_t ninflight, cap;      /* under eng->lock */
    Flight *flights;            /* worker-private: in the multi handle */
    Flight **pool;              /* idle flights (options of their last webhook still set) */
    size_t npool;
    uint8_t *fds;               /* FD_* per socket, nfds entries */
    size_t nfds;
    uint64_t rng;
};

struct FwcEngine {
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* progress: queue space, drained, callbacks taken */
    pthread_cond_t cb_cond;     /* events for the callback thread */
    int dead;                   /* inherited through fork(): never used nor freed */
    int closed, stopping;
    int nworkers;
    Worker *workers;
    long max_per_host;
    size_t max_queue;
    int waiters;                /* threads waiting on `changed` */
    int room_waiters;           /* of which enqueue(block=True) waiting for queue room */
    /* jobs */
    FwcJob live;                /* sentinel of the live-job list */
    size_t nlive, nqueued, ninflight, nscheduled;
    FwcHost *buckets[HOST_BUCKETS];
    FwcHost *run_head;          /* runnable ring */
    FwcJob **heap;
    size_t heap_len, heap_cap;
    /* callbacks */
    int want_callbacks;
    CbEvent *cb_head, *cb_tail;
    int cb_running, cb_stop, cb_exited, cb_started;
    pthread_t cb_tid;
    /* counters */
    unsigned long long enqueued, delivered, failed_attempts, exhausted, attempts, conn_opened, conn_reused;
    /* registry of engines (for fork) */
    FwcEngine *reg_prev, *reg_next;
};

/* ---------- time, random ---------- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timespec mono_deadline(double seconds)
{
    double t = mono_now() + seconds;
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static double rng_uniform(uint64_t *s)     /* xorshift64*, [0, 1) */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---------- fork registry ---------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char id_pool[4096];     /* see new_id() */
static size_t id_pool_left;
static FwcEngine *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void init_sync(FwcEngine *e)
{
    /* adaptive: a caller of enqueue() spins briefly on a lock the worker holds for a few
     * microseconds instead of sleeping in the kernel at once */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&e->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->changed, &ca);
    pthread_cond_init(&e->cb_cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void before_fork(void)
{
    pthread_mutex_lock(&registry_lock);
    for (FwcEngine *e = registry; e; e = e->reg_next) pthread_mutex_lock(&e->lock);
}

static void after_fork_parent(void)
{
    for (FwcEngine *e = registry; e; e = e->reg_next) pthread_mutex_unlock(&e->lock);
    pthread_mutex_unlock(&registry_lock);
}

/* The child has none of the engine threads: every engine is dead here.  Its state stays
 * readable (Delivery views of the parent's jobs) but nothing of it is delivered. */
static void after_fork_child(void)
{
    FwcEngine *e = registry;
    while (e) {
        FwcEngine *next = e->reg_next;
        init_sync(e);
        e->dead = 1;
        e->reg_prev = e->reg_next = NULL;
        e = next;
    }
    registry = NULL;
    pthread_mutex_init(&registry_lock, NULL);
    memset(id_pool, 0, sizeof id_pool);
    id_pool_left = 0;
}

static void atfork_install(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

/* ---------- engine lifetime ---------- */

static void host_free(FwcHost *h)
{
    free(h->key);
    free(h);
}

static void engine_free(FwcEngine *e)
{
    pthread_mutex_lock(&registry_lock);
    if (e->reg_prev) e->reg_prev->reg_next = e->reg_next;
    else if (registry == e) registry = e->reg_next;
    if (e->reg_next) e->reg_next->reg_prev = e->reg_prev;
    pthread_mutex_unlock(&registry_lock);
    for (int i = 0; i < HOST_BUCKETS; i++) {
        FwcHost *h = e->buckets[i];
        while (h) {
            FwcHost *n = h->hnext;
            host_free(h);
            h = n;
        }
    }
    CbEvent *ev = e->cb_head;
    while (ev) {
        CbEvent *n = ev->next;
        fwc_job_decref(ev->job);
        free(ev);
        ev = n;
    }
    free(e->heap);
    free(e->workers);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->changed);
    pthread_cond_destroy(&e->cb_cond);
    free(e);
}

static void engine_incref(FwcEngine *e) { atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); }

static void engine_decref(FwcEngine *e)
{
    if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1) return;
    if (e->dead) return;   /* the parent's engine, in a child: left alone */
    engine_free(e);
}

/* ---------- jobs ---------- */

void fwc_job_incref(FwcJob *j) { atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed); }

void fwc_job_decref(FwcJob *j)
{
    if (!j || atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1) return;
    fwc_outcome_decref(j->outcome);
    if (j->snap) fwc_snapshot_decref(j->snap);
    fwc_spec_decref(j->spec);
    engine_decref(j->eng);
    free(j->doctype);
    free(j->docname);
    free(j);
}

FwcOutcome *fwc_job_outcome(FwcJob *j, FwcJobState *state)
{
    pthread_mutex_lock(&j->eng->lock);
    FwcOutcome *o = j->outcome;
    if (o) atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    *state = j->state;
    pthread_mutex_unlock(&j->eng->lock);
    return o;
}

static void live_add(FwcEngine *e, FwcJob *j)
{
    j->lprev = e->live.lprev;
    j->lnext = &e->live;
    e->live.lprev->lnext = j;
    e->live.lprev = j;
    e->nlive++;
}

static void live_remove(FwcEngine *e, FwcJob *j)
{
    j->lprev->lnext = j->lnext;
    j->lnext->lprev = j->lprev;
    j->lprev = j->lnext = NULL;
    e->nlive--;
}

/* ---------- hosts: per-host FIFOs and the runnable ring (under the lock) ---------- */

static unsigned str_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* NULL when out of memory */
static FwcHost *host_get(FwcEngine *e, const char *key)
{
    unsigned h = str_hash(key);
    FwcHost **b = &e->buckets[h % HOST_BUCKETS];
    for (FwcHost *x = *b; x; x = x->hnext)
        if (x->hash == h && strcmp(x->key, key) == 0) return x;
    FwcHost *x = calloc(1, sizeof *x);
    if (!x || !(x->key = strdup(key))) {
        free(x);
        return NULL;
    }
    x->hash = h;
    x->hnext = *b;
    *b = x;
    return x;
}

static void ring_unlink(FwcEngine *e, FwcHost *h)
{
    if (!h->runnable) return;
    if (h->rnext == h) e->run_head = NULL;
    else {
        h->rprev->rnext = h->rnext;
        h->rnext->rprev = h->rprev;
        if (e->run_head == h) e->run_head = h->rnext;
    }
    h->runnable = 0;
}

static void ring_append(FwcEngine *e, FwcHost *h)
{
    if (h->runnable) return;
    if (!e->run_head) {
        h->rprev = h->rnext = h;
        e->run_head = h;
    } else {
        FwcHost *head = e->run_head;
        h->rnext = head;
        h->rprev = head->rprev;
        head->rprev->rnext = h;
        head->rprev = h;
    }
    h->runnable = 1;
}

/* Puts h in or out of the ring as its state says; frees it when idle. */
static void host_update(FwcEngine *e, FwcHost *h)
{
    if (h->nq && h->inflight < (size_t)e->max_per_host) ring_append(e, h);
    else ring_unlink(e, h);
    if (!h->nq && !h->inflight) {
        FwcHost **b = &e->buckets[h->hash % HOST_BUCKETS];
        while (*b != h) b = &(*b)->hnext;
        *b = h->hnext;
        host_free(h);
    }
}

/* Queues j at its host's tail.  -1 when out of memory. */
static int host_push(FwcEngine *e, FwcJob *j)
{
    FwcHost *h = host_get(e, j->host);
    if (!h) return -1;
    j->qnext = NULL;
    if (h->qtail) h->qtail->qnext = j;
    else h->qhead = j;
    h->qtail = j;
    h->nq++;
    j->hq = h;
    j->state = J_QUEUED;
    e->nqueued++;
    host_update(e, h);
    return 0;
}

/* The next job to start (round-robin over runnable hosts), or NULL. */
static FwcJob *pop_runnable(FwcEngine *e)
{
    FwcHost *h = e->run_head;
    if (!h) return NULL;
    FwcJob *j = h->qhead;
    h->qhead = j->qnext;
    if (!h->qhead) h->qtail = NULL;
    j->qnext = NULL;
    h->nq--;
    h->inflight++;
    e->nqueued--;
    e->run_head = h->rnext;     /* the next host goes first next time */
    host_update(e, h);
    return j;
}

/* ---------- retry heap (under the lock) ---------- */

static void heap_set(FwcEngine *e, size_t i, FwcJob *j)
{
    e->heap[i] = j;
    j->heap_idx = i;
}

static int heap_push(FwcEngine *e, FwcJob *j)
{
    if (e->heap_len == e->heap_cap) {
        size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
        FwcJob **p = realloc(e->heap, cap * sizeof *p);
        if (!p) return -1;
        e->heap = p;
        e->heap_cap = cap;
    }
    size_t i = e->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (e->heap[parent]->due <= j->due) break;
        heap_set(e, i, e->heap[parent]);
        i = parent;
    }
    heap_set(e, i, j);
    return 0;
}

static FwcJob *heap_pop(FwcEngine *e)
{
    FwcJob *top = e->heap[0], *last = e->heap[--e->heap_len];
    size_t i = 0, n = e->heap_len;
    if (n) {
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && e->heap[c + 1]->due < e->heap[c]->due) c++;
            if (last->due <= e->heap[c]->due) break;
            heap_set(e, i, e->heap[c]);
            i = c;
        }
        heap_set(e, i, last);
    }
    return top;
}

/* Moves retries that are due back to their host queues. */
static void promote_due(FwcEngine *e, double now)
{
    while (e->heap_len && e->heap[0]->due <= now) {
        FwcJob *j = heap_pop(e);
        e->nscheduled--;
        if (host_push(e, j) < 0) {
            /* out of memory: try again a second later */
            j->due = now + 1.0;
            if (heap_push(e, j) == 0) {
                e->nscheduled++;
                j->state = J_SCHEDULED;
            }
            break;
        }
    }
}

/* ---------- one attempt ---------- */

/* malloc + memset rather than calloc: glibc's calloc bypasses the per-thread cache */
static FwcOutcome *outcome_new(void)
{
    FwcOutcome *o = malloc(sizeof *o);
    if (o) {
        memset(o, 0, sizeof *o);
        atomic_init(&o->refs, 1);
    }
    return o;
}

/* o->error = the formatted text (malloc'd; a fixed text when out of memory) */
static void set_error(FwcOutcome *o, const char *fmt, ...)
{
    static char oom[] = "out of memory";
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (o->error_owned) free(o->error);
    o->error = strdup(text);
    o->error_owned = o->error != NULL;
    if (!o->error) o->error = oom;
}

/* Seconds the receiver asked for in Retry-After (delta or HTTP-date), or -1. */
static double retry_after(const FwcBuf *headers)
{
    const char *p = headers->data, *end = p ? p + headers->len : NULL;
    double found = -1;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
            char v[64];
            const char *s = p + 12;
            while (s < eol && (*s == ' ' || *s == '\t')) s++;
            size_t n = (size_t)(eol - s);
            if (n >= sizeof v) n = sizeof v - 1;
            memcpy(v, s, n);
            v[n] = 0;
            while (n && (v[n - 1] == '\r' || v[n - 1] == ' ' || v[n - 1] == '\t')) v[--n] = 0;
            char *e;
            long secs = strtol(v, &e, 10);
            if (n && *e == 0 && secs >= 0) found = (double)secs;
            else {
                struct tm tm;
                memset(&tm, 0, sizeof tm);
                const char *rest = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
                if (rest && !*rest) {
                    double d = (double)timegm(&tm) - wall_now();
                    found = d > 0 ? d : 0;
                }
            }
        }
        p = eol + 1;
    }
    return found;
}

/* Status, error and next retry of an attempt whose request was sent (o->res filled). */
static void decide(Worker *w, const FwcHookSpec *s, FwcOutcome *o, double *delay)
{
    FwcResult *r = &o->res;
    *delay = 0;
    if (r->kind == FWC_NET_OK && r->status >= 200 && r->status < 300 && !r->error[0]) {
        o->status = FWC_DS_DELIVERED;
        return;
    }
    if (r->error[0]) o->error = r->error;     /* the outcome owns r: no copy */
    else if (r->status == 410) {
        o->status = FWC_DS_EXHAUSTED;
        set_error(o, "HTTP 410 Gone: the receiver wants no more deliveries (not retried)");
        return;
    } else
        set_error(o, "HTTP %ld", r->status);
    if (r->kind == FWC_NET_SSRF) {
        o->status = FWC_DS_EXHAUSTED;
        return;
    }
    if (o->attempt > s->max_retries) {
        o->status = FWC_DS_EXHAUSTED;
        return;
    }
    size_t n = s->nretry_schedule;
    double step = s->retry_schedule[(size_t)(o->attempt - 1) < n ? (size_t)(o->attempt - 1) : n - 1];
    double longest = 0;
    for (size_t i = 0; i < n; i++)
        if (s->retry_schedule[i] > longest) longest = s->retry_schedule[i];
    step *= 1.0 + s->retry_jitter * (2.0 * rng_uniform(&w->rng) - 1.0);
    if (step < 0) step = 0;
    if (r->status == 429 || r->status == 503) {
        double ra = retry_after(&r->headers);
        if (ra > longest) ra = longest;
        if (ra > step) step = ra;
    }
    o->status = FWC_DS_FAILED;
    *delay = step;
}

static void error_outcome(FwcOutcome *o, FwcDeliveryStatus status, const char *fmt, const char *detail)
{
    o->status = status;
    set_error(o, fmt, detail);
}

/* An idle flight (pooled, or new); NULL when out of memory. */
static Flight *flight_get(Worker *w)
{
    if (w->npool) return w->pool[--w->npool];
    Flight *f = malloc(sizeof *f);
    if (f) {
        memset(f, 0, sizeof *f);
        f->w = w;
    }
    return f;
}

static void flight_free(Flight *f)
{
    fwc_http_transfer_free(f->t);
    if (f->easy) curl_easy_cleanup(f->easy);
    free(f);
}

/* Back to the pool once its attempt is over (not in the multi handle). */
static void flight_put(Worker *w, Flight *f)
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

/* Starts the job's next attempt on w, or completes it at once (build failure) by
 * appending it to *done.  -1 when out of memory: the caller puts j back in its queue.
 * No lock held. */
static int begin(Worker *w, FwcJob *j, Flight **done)
{
    FwcEngine *e = w->eng;
    Flight *f = flight_get(w);
    FwcOutcome *o = outcome_new();
    CbEvent *cb = e->want_callbacks ? malloc(sizeof *cb) : NULL;
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
        const char *kind = st == FWC_ETEMPLATE ? "TemplateError" : st == FWC_ECONDITION ? "ConditionError"
                           : st == FWC_ENOMEM ? "MemoryError" : st == FWC_ETYPE ? "TypeError" : "ValueError";
        char msg[560];
        snprintf(msg, sizeof msg, "%s: %s", kind, err.message);
        error_outcome(o, st == FWC_ENOMEM ? FWC_DS_FAILED : FWC_DS_EXHAUSTED, "could not build the request: %s", msg);
        f->next = *done;
        *done = f;
        return 0;
    }
    o->built = 1;
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
    f->prev = NULL;
    f->next = w->flights;
    if (w->flights) w->flights->prev = f;
    w->flights = f;
    return 0;
}

static void flight_unlink(Worker *w, Flight *f)
{
    if (f->prev) f->prev->next = f->next;
    else w->flights = f->next;
    if (f->next) f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

/* Finished transfers -> *done. */
static void collect(Worker *w, Flight **done)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(w->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        Flight *f = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (!f) continue;
        fwc_http_complete(f->t, msg->data.result, &f->o->res);
        curl_easy_getinfo(f->easy, CURLINFO_NUM_CONNECTS, &f->nconnects);
        curl_multi_remove_handle(w->multi, f->easy);
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
        j->snap = NULL;   /* nobody builds from a final job */
        if (s) fwc_snapshot_decref(s);
        fwc_job_decref(j);
    }
    g->nfinal = 0;
}

/* Status, error and retry delay of a finished attempt (f->delay): before the lock is
 * taken, so that publish() holds it for a few pointer updates only. */
static void settle(Worker *w, Flight *f)
{
    FwcOutcome *o = f->o;
    f->delay = 0;
    f->settled = 1;
    if (o->built && o->status == FWC_DS_QUEUED) decide(w, f->job->spec, o, &f->delay);
    else if (o->status == FWC_DS_FAILED) {
        /* build ran out of memory or the transfer could not start */
        if (o->attempt > f->job->spec->max_retries) o->status = FWC_DS_EXHAUSTED;
        else f->delay = 1.0;
    }
}

/* Publishes finished attempts (under the lock).  Returns how many were published;
 * stops early (leaving the rest in *done) when the garbage list is full. */
static size_t publish(Worker *w, Flight **done, Garbage *g)
{
    FwcEngine *e = w->eng;
    size_t n = 0;
    double now = mono_now(), wall = wall_now();
    while (*done && g->nout < sizeof g->outcomes / sizeof *g->outcomes - 1 &&
           g->nfinal < sizeof g->finals / sizeof *g->finals - 1) {
        Flight *f = *done;
        *done = f->next;
        FwcJob *j = f->job;
        FwcOutcome *o = f->o;
        e->ninflight--;
        w->ninflight--;
        FwcHost *h = j->hq;
        j->hq = NULL;
        if (h) {
            h->inflight--;
            host_update(e, h);
        }
        double delay = f->delay;
        j->attempts = o->attempt;
        e->attempts++;
        if (f->nconnects > 0) e->conn_opened += (unsigned long long)f->nconnects;
        else if (o->built && (o->res.status || o->res.kind == FWC_NET_OK)) e->conn_reused++;
        if (o->status == FWC_DS_FAILED) {
            o->next_retry = wall + delay;
            j->due = now + delay;
            j->state = J_SCHEDULED;
            if (heap_push(e, j) == 0) e->nscheduled++;
            else {
                o->status = FWC_DS_EXHAUSTED;
                o->next_retry = 0;
                set_error(o, "out of memory scheduling the retry");
            }
        }
        if (o->status != FWC_DS_DELIVERED) e->failed_attempts++;
        if (o->status == FWC_DS_DELIVERED || o->status == FWC_DS_EXHAUSTED) {
            if (o->status == FWC_DS_DELIVERED) e->delivered++;
            else e->exhausted++;
            j->state = J_FINAL;
            live_remove(e, j);
            g->finals[g->nfinal++] = j;     /* the engine's reference */
        }
        if (j->outcome) g->outcomes[g->nout++] = j->outcome;
        j->outcome = o;
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
static void abort_flights(Worker *w)
{
    while (w->flights) {
        Flight *f = w->flights;
        flight_unlink(w, f);
        curl_multi_remove_handle(w->multi, f->easy);
        fwc_outcome_decref(f->o);
        free(f->cb);
        flight_free(f);
    }
}

/* ---------- the event loop: epoll + curl_multi_socket_action ---------- */

/* w->fds entry of socket s (grown as needed), or NULL when out of memory: the caller
 * then registers and removes eagerly. */
static uint8_t *fd_state(Worker *w, curl_socket_t s)
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

static void fd_unregister(Worker *w, curl_socket_t s, uint8_t *st)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
    if (st) *st &= (uint8_t)~(FD_REG | FD_IN | FD_OUT);
}

/* curl wants socket s watched for `what` */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    Worker *w = userp;
    uint8_t *st = fd_state(w, s);
    if (what == CURL_POLL_REMOVE) {
        if (st) *st &= (uint8_t)~FD_WANT;
        /* an idle connection stays registered (events for it are dropped in events());
         * anything else curl may close behind our back, so it leaves the set now */
        if (!st || ((*st & FD_REG) && !(*st & FD_CONN))) fd_unregister(w, s, st);
        return 0;
    }
    uint8_t mask = (uint8_t)((what & CURL_POLL_IN ? FD_IN : 0) | (what & CURL_POLL_OUT ? FD_OUT : 0));
    if (st) {
        *st |= FD_WANT;
        if ((*st & FD_REG) && (*st & (FD_IN | FD_OUT)) == mask) return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (mask & FD_IN ? EPOLLIN : 0) | (mask & FD_OUT ? EPOLLOUT : 0);
    ev.data.fd = s;
    int op = st && (*st & FD_REG) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (!st) op = EPOLL_CTL_MOD;    /* state unknown: try both */
    if (epoll_ctl(w->epfd, op, s, &ev) < 0) epoll_ctl(w->epfd, op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
    if (st) *st = (uint8_t)((*st & ~(FD_IN | FD_OUT)) | mask | FD_REG);
    return 0;
}

/* A connection's socket (CURLOPT_OPENSOCKETFUNCTION): the SSRF check of http.c, and the
 * worker learns that the socket is a connection, closed through close_sock. */
static curl_socket_t open_sock(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    Flight *f = clientp;
    curl_socket_t s = fwc_http_open_socket(f->t, (int)purpose, a);
    if (s != CURL_SOCKET_BAD) {
        uint8_t *st = fd_state(f->w, s);
        if (st) *st = FD_CONN;      /* a new socket is in no epoll set yet */
    }
    return s;
}

/* A connection is closed (CURLOPT_CLOSESOCKETFUNCTION).  It leaves the epoll set first:
 * were its file still open in a forked child, the registration would outlive close(). */
static int close_sock(void *clientp, curl_socket_t s)
{
    Worker *w = clientp;
    uint8_t *st = s >= 0 && (size_t)s < w->nfds ? &w->fds[s] : NULL;
    if (!st || (*st & FD_REG)) epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
    if (st) *st = 0;
    return close(s);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    Worker *w = userp;
    w->timer = timeout_ms < 0 ? -1 : mono_now() + (double)timeout_ms / 1000.0;
    return 0;
}

static void wake(Worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof one);
    (void)r;    /* EAGAIN: the counter is already non-zero, the worker wakes anyway */
}

/* Waits up to timeout_ms for socket events and lets curl act on them and on its timer. */
static void events(Worker *w, int timeout_ms)
{
    struct epoll_event evs[64];
    int n = epoll_wait(w->epfd, evs, 64, timeout_ms), running;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
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
        int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(w->multi, fd, flags, &running);
    }
    if (w->timer >= 0 && mono_now() >= w->timer) {
        w->timer = -1;
        curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    FwcEngine *e = w->eng;
    Flight *done = NULL;
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
            host_update(e, h);
            if (host_push(e, j) < 0) {
                /* not even a host entry: retry it later */
                j->due = mono_now() + 1.0;
                j->state = J_SCHEDULED;
                if (heap_push(e, j) == 0) e->nscheduled++;
            }
        }
        nback = 0;
        while (done) {
            published += publish(w, &done, g);
            if (done) {     /* garbage list full: drop it and go on */
                pthread_mutex_unlock(&e->lock);
                garbage_drop(g);
                pthread_mutex_lock(&e->lock);
            }
        }
        if (e->stopping) break;
        double now = mono_now();
        promote_due(e, now);
        FwcJob *start[MAX_PULL];
        size_t n = 0;
        FwcJob *j;
        while (w->ninflight < w->cap && n < MAX_PULL && (j = pop_runnable(e))) {
            j->state = J_INFLIGHT;
            e->ninflight++;
            w->ninflight++;
            start[n++] = j;
        }
        /* waiters want room in the queue or the engine drained; a broadcast for anything
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
        if (w->timer >= 0) {
            double t = (w->timer - mono_now()) * 1000.0;
            if (t < timeout_ms) timeout_ms = t > 0 ? (long)ceil(t) : 0;
        }
        events(w, n == 0 && !done && !nback ? (int)timeout_ms : 0);
        collect(w, &done);
        for (Flight *f = done; f && !f->settled; f = f->next) settle(w, f);
        pthread_mutex_lock(&e->lock);
        w->sleeping = 0;
    }
    pthread_mutex_unlock(&e->lock);
    abort_flights(w);
    /* attempts finished but not published when the stop came: the jobs stay live */
    while (done) {
        Flight *f = done;
        done = f->next;
        fwc_outcome_decref(f->o);
        free(f->cb);
        flight_free(f);
    }
    garbage_drop(g);
    free(g);
    return NULL;
}

/* ---------- engine creation, wake-ups, close ---------- */

static void worker_cleanup(Worker *w)
{
    for (size_t i = 0; i < w->npool; i++) flight_free(w->pool[i]);
    w->npool = 0;
    free(w->pool);
    w->pool = NULL;
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

/* A running engine; NULL + exception. */
static FwcEngine *engine_new(int nworkers, long max_connections, long max_per_host, size_t max_queue, int callbacks)
{
    pthread_once(&atfork_once, atfork_install);
    FwcEngine *e = calloc(1, sizeof *e);
    if (!e) return (FwcEngine *)PyErr_NoMemory();
    atomic_init(&e->refs, 1);
    init_sync(e);
    e->live.lprev = e->live.lnext = &e->live;
    e->nworkers = nworkers;
    e->max_per_host = max_per_host;
    e->max_queue = max_queue;
    e->want_callbacks = callbacks;
    if (!(e->workers = calloc((size_t)nworkers, sizeof *e->workers))) {
        engine_free(e);
        return (FwcEngine *)PyErr_NoMemory();
    }
    for (int i = 0; i < nworkers; i++) e->workers[i].epfd = e->workers[i].evfd = -1;
    long per_worker = (max_connections + nworkers - 1) / nworkers;
    uint64_t seed = (uint64_t)(wall_now() * 1e6) ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < nworkers; i++) {
        Worker *w = &e->workers[i];
        w->eng = e;
        w->index = i;
        w->cap = (size_t)per_worker;
        w->rng = (seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1)) | 1;
        w->timer = -1;
        w->pool = calloc(w->cap, sizeof *w->pool);
        w->multi = curl_multi_init();
        w->share = curl_share_init();
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!w->pool || !w->multi || !w->share || w->epfd < 0 || w->evfd < 0) goto nomem;
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.fd = w->evfd;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) goto nomem;
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
    }
    /* native threads take no signals: Python handles them in the main thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int failed = 0;
    for (int i = 0; i < nworkers && !failed; i++) {
        Worker *w = &e->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) == 0) w->started = 1;
        else failed = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&registry_lock);
    e->reg_next = registry;
    if (registry) registry->reg_prev = e;
    registry = e;
    pthread_mutex_unlock(&registry_lock);
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "could not start the dispatcher's worker threads");
        pthread_mutex_lock(&e->lock);
        e->closed = e->stopping = 1;
        pthread_mutex_unlock(&e->lock);
        for (int i = 0; i < nworkers; i++) {
            Worker *w = &e->workers[i];
            if (w->evfd >= 0) wake(w);
        }
        for (int i = 0; i < nworkers; i++)
            if (e->workers[i].started) pthread_join(e->workers[i].thread, NULL);
        for (int i = 0; i < nworkers; i++) worker_cleanup(&e->workers[i]);
        engine_decref(e);
        return NULL;
    }
    return e;
nomem:
    for (int i = 0; i < nworkers; i++) worker_cleanup(&e->workers[i]);
    engine_free(e);
    return (FwcEngine *)PyErr_NoMemory();
}

/* A worker to wake for new work (under the lock), or NULL. */
static Worker *sleeper(FwcEngine *e)
{
    for (int i = 0; i < e->nworkers; i++) {
        Worker *w = &e->workers[i];
        if (w->sleeping && w->ninflight < w->cap) {
            w->sleeping = 0;
            return w;
        }
    }
    return NULL;
}

static int in_callback_thread(FwcEngine *e) { return e->cb_started && pthread_equal(e->cb_tid, pthread_self()); }

/* Nothing queued or in flight, and every outcome handed to on_result (unless this is the
 * callback thread itself).  Under the lock. */
static int drained(FwcEngine *e)
{
    if (e->nqueued || e->ninflight) return 0;
    if (in_callback_thread(e) || e->cb_exited) return 1;
    return !e->cb_head && !e->cb_running;
}

/* Waits (lock held) until pred(e) or the deadline; timeout < 0 waits forever.  Returns
 * pred's last value. */
static int wait_until(FwcEngine *e, int (*pred)(FwcEngine *), double timeout)
{
    struct timespec dl = mono_deadline(timeout < 0 ? 0 : timeout);
    e->waiters++;
    int ok;
    while (!(ok = pred(e))) {
        if (timeout < 0) pthread_cond_wait(&e->changed, &e->lock);
        else if (pthread_cond_timedwait(&e->changed, &e->lock, &dl) != 0) {
            ok = pred(e);
            break;
        }
    }
    e->waiters--;
    return ok;
}

static int cb_done(FwcEngine *e) { return e->cb_exited || !e->cb_started; }

/* Stops intake, waits up to timeout for queued and in-flight work, stops the threads and
 * returns the jobs not delivered (new references, *n of them; malloc'd array).  GIL held
 * on entry and exit (released while waiting).  NULL with *n = 0 when none or OOM. */
static FwcJob **engine_close(FwcEngine *e, double timeout, size_t *n)
{
    *n = 0;
    if (e->dead) return NULL;
    FwcJob **out = NULL;
    Py_BEGIN_ALLOW_THREADS
    double start = mono_now();
    pthread_mutex_lock(&e->lock);
    int was_stopped = e->stopping;
    e->closed = 1;
    if (!was_stopped) {
        wait_until(e, drained, timeout);
        e->stopping = 1;
    }
    pthread_mutex_unlock(&e->lock);
    if (!was_stopped) {
        for (int i = 0; i < e->nworkers; i++) wake(&e->workers[i]);
        for (int i = 0; i < e->nworkers; i++)
            if (e->workers[i].started) pthread_join(e->workers[i].thread, NULL);
        for (int i = 0; i < e->nworkers; i++) worker_cleanup(&e->workers[i]);
    }
    pthread_mutex_lock(&e->lock);
    e->cb_stop = 1;
    pthread_cond_broadcast(&e->cb_cond);
    if (!in_callback_thread(e)) {
        double left = timeout - (mono_now() - start);
        wait_until(e, cb_done, left > 0.5 ? left : 0.5);
    }
    /* what is left is undelivered: queued, in flight when stopped, scheduled */
    if (e->nlive) out = malloc(e->nlive * sizeof *out);
    FwcJob *j = e->live.lnext;
    while (j != &e->live) {
        FwcJob *next = j->lnext;
        live_remove(e, j);
        j->state = J_STOPPED;
        j->hq = NULL;
        if (out) out[(*n)++] = j;   /* the engine's reference moves to the caller */
        else fwc_job_decref(j);     /* cannot fail: the caller's views hold the job */
        j = next;
    }
    for (int i = 0; i < HOST_BUCKETS; i++) {
        FwcHost *h = e->buckets[i];
        while (h) {
            FwcHost *nx = h->hnext;
            host_free(h);
            h = nx;
        }
        e->buckets[i] = NULL;
    }
    e->run_head = NULL;
    e->heap_len = 0;
    e->nqueued = e->ninflight = e->nscheduled = 0;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
    Py_END_ALLOW_THREADS
    return out;
}

/* ---------- Python side ---------- */

static PyObject *KEY_DOCTYPE, *KEY_NAME;

typedef struct {
    PyObject_HEAD
    FwcEngine *eng;         /* NULL only when construction failed */
    PyObject *on_result;
    int workers;
    long max_connections, max_per_host;
    Py_ssize_t max_queue;
} DispatcherObject;

static FwcModuleState *dstate(PyObject *self) { return fwc_state_of_type(Py_TYPE(self)); }

/* Starts the callback thread of e (frappe_webhook_c._delivery). */
static int start_callbacks(FwcEngine *e, PyObject *on_result)
{
    PyObject *mod = PyImport_ImportModule("frappe_webhook_c._delivery");
    if (!mod) return -1;
    PyObject *cap = PyCapsule_New(e, "frappe_webhook_c.engine", NULL);
    if (!cap) {
        Py_DECREF(mod);
        return -1;
    }
    /* the capsule's reference to e is released by _release_engine when the thread ends */
    engine_incref(e);
    PyObject *r = PyObject_CallMethod(mod, "_start_callback_thread", "OO", cap, on_result);
    Py_DECREF(mod);
    Py_DECREF(cap);
    if (!r) {
        engine_decref(e);
        return -1;
    }
    Py_DECREF(r);
    pthread_mutex_lock(&e->lock);
    e->cb_started = 1;      /* cb_tid is set by the thread's first _take_results */
    pthread_mutex_unlock(&e->lock);
    return 0;
}

static FwcEngine *make_engine(DispatcherObject *self)
{
    FwcEngine *e = engine_new(self->workers, self->max_connections, self->max_per_host, (size_t)self->max_queue,
                              self->on_result != NULL);
    if (!e) return NULL;
    if (self->on_result && start_callbacks(e, self->on_result) < 0) {
        size_t n;
        FwcJob **left = engine_close(e, 0, &n);
        free(left);
        engine_decref(e);
        return NULL;
    }
    return e;
}

static PyObject *Dispatcher_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"workers", "max_connections", "max_per_host", "max_queue", "on_result", NULL};
    int workers = 1;
    long max_connections = 64, max_per_host = 16;
    Py_ssize_t max_queue = 100000;
    PyObject *on_result = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|illnO:Dispatcher", kwlist, &workers, &max_connections,
                                     &max_per_host, &max_queue, &on_result))
        return NULL;
    if (workers < 1 || workers > 64) return PyErr_Format(PyExc_ValueError, "workers must be from 1 to 64, not %d", workers);
    if (max_connections < workers || max_connections > 100000)
        return PyErr_Format(PyExc_ValueError, "max_connections must be from workers (%d) to 100000, not %ld", workers,
                            max_connections);
    if (max_per_host < 1 || max_per_host > 100000)
        return PyErr_Format(PyExc_ValueError, "max_per_host must be from 1 to 100000, not %ld", max_per_host);
    if (max_queue < 1) return PyErr_Format(PyExc_ValueError, "max_queue must be at least 1, not %zd", max_queue);
    if (on_result != Py_None && !PyCallable_Check(on_result))
        return PyErr_Format(PyExc_TypeError, "on_result must be callable or None, not %.100s", Py_TYPE(on_result)->tp_name);
    DispatcherObject *self = (DispatcherObject *)tp->tp_alloc(tp, 0);
    if (!self) return NULL;
    self->workers = workers;
    self->max_connections = max_connections;
    self->max_per_host = max_per_host;
    self->max_queue = max_queue;
    self->on_result = on_result == Py_None ? NULL : Py_NewRef(on_result);
    if (!(self->eng = make_engine(self))) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *views_of(FwcModuleState *st, FwcJob **jobs, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) {
        PyObject *v = list ? fwc_delivery_view(st, jobs[i]) : NULL;
        if (!v) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, v);
        fwc_job_decref(jobs[i]);
    }
    free(jobs);
    return list;
}

/* Logs the ids of deliveries dropped without being delivered (GIL held, not finalizing). */
static void log_undelivered(PyObject *views, const char *why)
{
    if (!views || PyList_GET_SIZE(views) == 0) return;
#if PY_VERSION_HEX >= 0x030D0000
    if (Py_IsFinalizing()) return;
#else
    if (_Py_IsFinalizing()) return;
#endif
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *mod = PyImport_ImportModule("frappe_webhook_c._delivery");
    PyObject *r = mod ? PyObject_CallMethod(mod, "_log_undelivered", "Os", views, why) : NULL;
    if (!r) PyErr_WriteUnraisable(mod);
    Py_XDECREF(r);
    Py_XDECREF(mod);
    PyErr_Restore(type, value, tb);
}

static void Dispatcher_dealloc(DispatcherObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->eng) {
        size_t n;
        FwcJob **left = engine_close(self->eng, 0, &n);
        FwcModuleState *st = dstate((PyObject *)self);
        if (n && st) {
            PyObject *views = views_of(st, left, n);
            if (!views) PyErr_Clear();
            log_undelivered(views, "a Dispatcher was garbage-collected without close()");
            Py_XDECREF(views);
        } else {
            for (size_t i = 0; i < n; i++) fwc_job_decref(left[i]);
            free(left);
        }
        engine_decref(self->eng);
    }
    Py_CLEAR(self->on_result);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* The document's doctype/name as a malloc'd string, or NULL (None/missing); -1 on error. */
static int doc_field(PyObject *doc, PyObject *key, char **out)
{
    *out = NULL;
    PyObject *v;
    if (PyDict_Check(doc)) {
        v = PyDict_GetItemWithError(doc, key);
        if (!v) return PyErr_Occurred() ? -1 : 0;
        Py_INCREF(v);
    } else {
        v = PyObject_GetAttr(doc, key);
        if (!v) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
            PyErr_Clear();
            v = PyObject_GetItem(doc, key);
            if (!v) {
                PyErr_Clear();
                return 0;
            }
        }
    }
    if (v == Py_None) {
        Py_DECREF(v);
        return 0;
    }
    PyObject *s = PyUnicode_Check(v) ? Py_NewRef(v) : PyObject_Str(v);
    Py_DECREF(v);
    if (!s) return -1;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {
        PyErr_Clear();
        Py_DECREF(s);
        return 0;   /* a lone surrogate: not worth failing the save for */
    }
    *out = malloc((size_t)n + 1);
    if (*out) memcpy(*out, u, (size_t)n + 1);
    Py_DECREF(s);
    return *out ? 0 : (PyErr_NoMemory(), -1);
}

/* "scheme://host:port" of a static URL (lower-cased); "dynamic:<serial>" for templates. */
static void host_key(const FwcHookSpec *s, char *out, size_t outlen)
{
    if (s->is_dynamic_url) {
        snprintf(out, outlen, "dynamic:%lu", s->serial);
        return;
    }
    const char *url = s->request_url, *sep = strstr(url, "://");
    if (!sep) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    size_t slen = (size_t)(sep - url);
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    const char *bracket = memchr(auth, ']', alen);
    const char *portsep = memchr(bracket ? bracket : auth, ':', alen - (size_t)((bracket ? bracket : auth) - auth));
    int https = slen == 5;
    int k = snprintf(out, outlen, "%.*s://%.*s%s", (int)slen, url, (int)alen, auth,
                     portsep ? "" : https ? ":443" : ":80");
    for (int i = 0; i < k && (size_t)i < outlen; i++) out[i] = (char)tolower((unsigned char)out[i]);
}

/* Delivery ids: "msg_" + 24 base62 characters (143 random bits), as fwc_new_msg_id makes
 * them, but drawn from a pool of CSPRNG bytes refilled 4 KiB at a time: enqueue() must not
 * make a system call per id.  Only used with the GIL held; emptied in a forked child so
 * that parent and child never hand out the same ids. */
static void new_id(char out[32])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    memcpy(out, "msg_", 4);
    for (int pos = 0; pos < 24;) {
        if (!id_pool_left) {
            if (RAND_bytes(id_pool, (int)sizeof id_pool) != 1) {
                fwc_new_msg_id(out);    /* its own fallback */
                return;
            }
            id_pool_left = sizeof id_pool;
        }
        unsigned char b = id_pool[--id_pool_left];
        id_pool[id_pool_left] = 0;
        if (b >= 248) continue;     /* 248 = 4 * 62: every character equally likely */
        out[4 + pos++] = alphabet[b % 62];
    }
    out[28] = 0;
}

static FwcJob *job_new(FwcEngine *e, FwcHookSpec *spec, FwcSnapshot *snap, char *doctype, char *docname)
{
    char key[300];
    host_key(spec, key, sizeof key);
    size_t klen = strlen(key);
    FwcJob *j = malloc(sizeof *j + klen + 1);
    if (!j) return NULL;
    memset(j, 0, sizeof *j);
    atomic_init(&j->refs, 1);
    j->host = (char *)(j + 1);
    memcpy(j->host, key, klen + 1);
    engine_incref(e);
    j->eng = e;
    fwc_spec_incref(spec);
    j->spec = spec;
    j->snap = snap;
    j->doctype = doctype;
    j->docname = docname;
    new_id(j->id);
    return j;
}

static int has_room(FwcEngine *e) { return e->closed || e->nqueued < e->max_queue; }

/* Puts j in e (lock held).  0 ok (the engine took a reference), 1 full, 2 closed, -1 OOM. */
static int try_push(FwcEngine *e, FwcJob *j, Worker **wake)
{
    if (e->closed) return 2;
    if (e->nqueued >= e->max_queue) return 1;
    if (host_push(e, j) < 0) return -1;
    fwc_job_incref(j);
    live_add(e, j);
    e->enqueued++;
    *wake = sleeper(e);
    return 0;
}

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_RuntimeError, "the Dispatcher is closed");
    return NULL;
}

/* enqueue(hook, doc, *, block=False, timeout=None) -> Delivery */
static PyObject *Dispatcher_enqueue(DispatcherObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *hook = NULL, *doc = NULL;
    int block = 0;
    double timeout = -1;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) return PyErr_Format(PyExc_TypeError, "enqueue() takes 2 positional arguments, %zd given", nargs);
    if (nargs >= 1) hook = args[0];
    if (nargs >= 2) doc = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
        PyObject *v = args[nargs + i];
        if (!k) return NULL;
        if (!strcmp(k, "hook") && !hook) hook = v;
        else if (!strcmp(k, "doc") && !doc) doc = v;
        else if (!strcmp(k, "block")) {
            if ((block = PyObject_IsTrue(v)) < 0) return NULL;
        } else if (!strcmp(k, "timeout")) {
            if (v != Py_None) {
                timeout = PyFloat_AsDouble(v);
                if (timeout == -1.0 && PyErr_Occurred()) return NULL;
                if (!(timeout >= 0)) return PyErr_Format(PyExc_ValueError, "timeout must be >= 0 or None");
            }
        } else
            return PyErr_Format(PyExc_TypeError, "enqueue() got an unexpected keyword argument '%s'", k);
    }
    if (!hook || !doc) return PyErr_Format(PyExc_TypeError, "enqueue() missing required argument '%s'", hook ? "doc" : "hook");
    FwcModuleState *st = dstate((PyObject *)self);
    FwcHookSpec *spec = fwc_webhook_get_spec(st, hook);
    if (!spec) return NULL;
    FwcEngine *e = self->eng;
    if (e->dead) {
        /* first enqueue in a forked child: a fresh engine; the parent's stays behind */
        FwcEngine *fresh = make_engine(self);
        if (!fresh) return NULL;
        self->eng = fresh;
        e = fresh;
    }
    if (e->closed) return closed_error();
    FwcSnapshot *snap = fwc_webhook_snapshot(hook, doc);
    if (!snap) return NULL;
    char *doctype = NULL, *docname = NULL;
    if (doc_field(doc, KEY_DOCTYPE, &doctype) < 0 || doc_field(doc, KEY_NAME, &docname) < 0) {
        free(doctype);
        fwc_snapshot_decref(snap);
        return NULL;
    }
    FwcJob *j = job_new(e, spec, snap, doctype, docname);
    if (!j) {
        free(doctype);
        free(docname);
        fwc_snapshot_decref(snap);
        return PyErr_NoMemory();
    }
    PyObject *view = fwc_delivery_view(st, j);
    fwc_job_decref(j);      /* the view holds it */
    if (!view) return NULL;
    Worker *waker = NULL;
    pthread_mutex_lock(&e->lock);
    int r = try_push(e, j, &waker);
    pthread_mutex_unlock(&e->lock);
    if (r == 1 && block) {
        /* wait for room, in slices so that signals (Ctrl-C) are seen */
        double deadline = timeout < 0 ? -1 : mono_now() + timeout;
        for (;;) {
            double slice = 0.1;
            if (deadline >= 0) {
                double left = deadline - mono_now();
                if (left <= 0) break;
                if (left < slice) slice = left;
            }
            Py_BEGIN_ALLOW_THREADS
            pthread_mutex_lock(&e->lock);
            e->room_waiters++;
            wait_until(e, has_room, slice);
            e->room_waiters--;
            r = try_push(e, j, &waker);
            pthread_mutex_unlock(&e->lock);
            Py_END_ALLOW_THREADS
            if (r != 1) break;
            if (PyErr_CheckSignals() < 0) {
                Py_DECREF(view);
                return NULL;
            }
        }
    }
    if (waker) wake(waker);
    if (r == 0) return view;
    Py_DECREF(view);
    if (r == 2) return closed_error();
    if (r == -1) return PyErr_NoMemory();
    PyErr_Format(st->QueueFull, "the delivery queue is full (max_queue=%zd)", self->max_queue);
    return NULL;
}

/* Jobs in the live list matching state (-1: all), new references. Lock taken here. */
static FwcJob **live_jobs(FwcEngine *e, int state, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&e->lock);
    FwcJob **out = e->nlive ? malloc(e->nlive * sizeof *out) : NULL;
    for (FwcJob *j = e->live.lnext; out && j != &e->live; j = j->lnext)
        if (state < 0 || (int)j->state == state) {
            fwc_job_incref(j);
            out[(*n)++] = j;
        }
    pthread_mutex_unlock(&e->lock);
    return out;
}

static int parse_timeout(PyObject *o, double *out, const char *what)
{
    *out = -1;
    if (!o || o == Py_None) return 0;
    *out = PyFloat_AsDouble(o);
    if (*out == -1.0 && PyErr_Occurred()) return -1;
    if (!(*out >= 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 or None", what);
        return -1;
    }
    return 0;
}

/* flush(timeout=None) -> the deliveries not yet delivered (queued, in flight, scheduled) */
static PyObject *Dispatcher_flush(DispatcherObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *t = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:flush", kwlist, &t) || parse_timeout(t, &timeout, "timeout") < 0)
        return NULL;
    FwcEngine *e = self->eng;
    if (e->dead) return PyList_New(0);
    double deadline = timeout < 0 ? -1 : mono_now() + timeout;
    for (;;) {
        double slice = 0.2;
        if (deadline >= 0) {
            double left = deadline - mono_now();
            if (left < slice) slice = left > 0 ? left : 0;
        }
        int ok;
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&e->lock);
        ok = wait_until(e, drained, slice);
        pthread_mutex_unlock(&e->lock);
        Py_END_ALLOW_THREADS
        if (ok || (deadline >= 0 && mono_now() >= deadline)) break;
        if (PyErr_CheckSignals() < 0) return NULL;
    }
    size_t n;
    FwcJob **jobs = live_jobs(e, -1, &n);
    return views_of(dstate((PyObject *)self), jobs, n);
}

static int due_cmp(const void *a, const void *b)
{
    double x = (*(FwcJob *const *)a)->due, y = (*(FwcJob *const *)b)->due;
    return x < y ? -1 : x > y;
}

/* scheduled() -> deliveries waiting for a retry, soonest first */
static PyObject *Dispatcher_scheduled(DispatcherObject *self, PyObject *unused)
{
    FwcEngine *e = self->eng;
    if (e->dead) return PyList_New(0);
    size_t n;
    pthread_mutex_lock(&e->lock);
    FwcJob **jobs = e->heap_len ? malloc(e->heap_len * sizeof *jobs) : NULL;
    for (size_t i = 0; jobs && i < e->heap_len; i++) {
        jobs[i] = e->heap[i];
        fwc_job_incref(jobs[i]);
    }
    n = jobs ? e->heap_len : 0;
    if (jobs) qsort(jobs, n, sizeof *jobs, due_cmp);
    pthread_mutex_unlock(&e->lock);
    return views_of(dstate((PyObject *)self), jobs, n);
}

/* close(timeout=5.0) -> the deliveries not delivered */
static PyObject *Dispatcher_close(DispatcherObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *t = NULL;
    double timeout = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:close", kwlist, &t)) return NULL;
    if (t && parse_timeout(t, &timeout, "timeout") < 0) return NULL;
    if (timeout < 0) timeout = 1e9;
    size_t n;
    FwcJob **jobs = engine_close(self->eng, timeout, &n);
    return views_of(dstate((PyObject *)self), jobs, n);
}

static PyObject *Dispatcher_enter(PyObject *self, PyObject *unused) { return Py_NewRef(self); }

/* __exit__: close() with its default timeout; what it could not deliver is logged */
static PyObject *Dispatcher_exit(DispatcherObject *self, PyObject *args)
{
    size_t n;
    FwcJob **jobs = engine_close(self->eng, 5.0, &n);
    PyObject *views = views_of(dstate((PyObject *)self), jobs, n);
    if (!views) return NULL;
    log_undelivered(views, "the Dispatcher's with-block ended");
    Py_DECREF(views);
    Py_RETURN_FALSE;
}

static PyObject *Dispatcher_stats(DispatcherObject *self, PyObject *unused)
{
    FwcEngine *e = self->eng;
    unsigned long long v[10];
    pthread_mutex_lock(&e->lock);
    int dead = e->dead;
    v[0] = e->nqueued;
    v[1] = e->ninflight;
    v[2] = e->nscheduled;
    v[3] = e->delivered;
    v[4] = e->failed_attempts;
    v[5] = e->exhausted;
    v[6] = e->conn_opened;
    v[7] = e->conn_reused;
    v[8] = e->enqueued;
    v[9] = e->attempts;
    pthread_mutex_unlock(&e->lock);
    if (dead) memset(v, 0, sizeof v);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsK}", "queued", v[0], "in_flight", v[1], "scheduled", v[2], "delivered",
                         v[3], "failed_attempts", v[4], "exhausted", v[5], "connections_opened", v[6],
                         "connections_reused", v[7], "enqueued", v[8], "attempts", v[9]);
}

static PyObject *Dispatcher_get_closed(DispatcherObject *self, void *c)
{
    pthread_mutex_lock(&self->eng->lock);
    int closed = self->eng->closed && !self->eng->dead;
    pthread_mutex_unlock(&self->eng->lock);
    return PyBool_FromLong(closed);
}

static PyObject *Dispatcher_get_workers(DispatcherObject *self, void *c) { return PyLong_FromLong(self->workers); }
static PyObject *Dispatcher_get_max_connections(DispatcherObject *self, void *c) { return PyLong_FromLong(self->max_connections); }
static PyObject *Dispatcher_get_max_per_host(DispatcherObject *self, void *c) { return PyLong_FromLong(self->max_per_host); }
static PyObject *Dispatcher_get_max_queue(DispatcherObject *self, void *c) { return PyLong_FromSsize_t(self->max_queue); }
static PyObject *Dispatcher_get_on_result(DispatcherObject *self, void *c)
{
    return Py_NewRef(self->on_result ? self->on_result : Py_None);
}

static PyObject *Dispatcher_repr(DispatcherObject *self)
{
    return PyUnicode_FromFormat("<Dispatcher workers=%d max_connections=%ld max_per_host=%ld%s>", self->workers,
                                self->max_connections, self->max_per_host,
                                self->eng->closed && !self->eng->dead ? " closed" : "");
}

static int Dispatcher_traverse(DispatcherObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->on_result);
    return 0;
}

static int Dispatcher_clear(DispatcherObject *self)
{
    /* the callback thread has its own reference to on_result */
    Py_CLEAR(self->on_result);
    return 0;
}

static PyMethodDef Dispatcher_methods[] = {
    {"enqueue", (PyCFunction)(void (*)(void))Dispatcher_enqueue, METH_FASTCALL | METH_KEYWORDS,
     "enqueue(hook, doc, *, block=False, timeout=None) -> Delivery: snapshot doc now, deliver in the background"},
    {"flush", (PyCFunction)(void (*)(void))Dispatcher_flush, METH_VARARGS | METH_KEYWORDS,
     "flush(timeout=None) -> list of the deliveries not delivered yet, after waiting until nothing is queued or in flight"},
    {"scheduled", (PyCFunction)Dispatcher_scheduled, METH_NOARGS, "scheduled() -> deliveries waiting for a retry, soonest first"},
    {"close", (PyCFunction)(void (*)(void))Dispatcher_close, METH_VARARGS | METH_KEYWORDS,
     "close(timeout=5.0) -> list of every delivery not delivered: stops intake, finishes what it can in time, stops"},
    {"stats", (PyCFunction)Dispatcher_stats, METH_NOARGS, "stats() -> dict of counters"},
    {"__enter__", (PyCFunction)Dispatcher_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Dispatcher_exit, METH_VARARGS, NULL},
    {NULL},
};

static PyGetSetDef Dispatcher_getset[] = {
    {"closed", (getter)Dispatcher_get_closed, NULL, "True after close()", NULL},
    {"workers", (getter)Dispatcher_get_workers, NULL, "worker threads", NULL},
    {"max_connections", (getter)Dispatcher_get_max_connections, NULL, "connections (and transfers) in flight, all workers", NULL},
    {"max_per_host", (getter)Dispatcher_get_max_per_host, NULL, "transfers in flight per host (scheme://host:port)", NULL},
    {"max_queue", (getter)Dispatcher_get_max_queue, NULL, "deliveries waiting to start before enqueue raises QueueFull", NULL},
    {"on_result", (getter)Dispatcher_get_on_result, NULL, "callback after every attempt, or None", NULL},
    {NULL},
};

static PyType_Slot Dispatcher_slots[] = {
    {Py_tp_new, Dispatcher_new},
    {Py_tp_dealloc, Dispatcher_dealloc},
    {Py_tp_traverse, Dispatcher_traverse},
    {Py_tp_clear, Dispatcher_clear},
    {Py_tp_repr, Dispatcher_repr},
    {Py_tp_methods, Dispatcher_methods},
    {Py_tp_getset, Dispatcher_getset},
    {Py_tp_doc, "Dispatcher(workers=1, max_connections=64, max_per_host=16, max_queue=100000, on_result=None):\n"
                "delivers webhooks in the background on native threads, with retries."},
    {0, NULL},
};

PyType_Spec fwc_dispatcher_spec = {
    .name = "frappe_webhook_c.Dispatcher",
    .basicsize = sizeof(DispatcherObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Dispatcher_slots,
};

/* ---------- module-level helpers ---------- */

static FwcEngine *capsule_engine(PyObject *cap)
{
    return PyCapsule_GetPointer(cap, "frappe_webhook_c.engine");
}

/* _take_results(engine) -> list of Delivery (the outcomes to report), or None when the
 * engine is closed and everything was reported.  Blocks with the GIL released. */
PyObject *fwc_py_take_results(PyObject *module, PyObject *cap)
{
    FwcEngine *e = capsule_engine(cap);
    if (!e) return NULL;
    CbEvent *batch = NULL;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&e->lock);
    e->cb_tid = pthread_self();
    e->cb_started = 1;
    if (e->cb_running) {
        e->cb_running = 0;
        if (e->waiters) pthread_cond_broadcast(&e->changed);
    }
    while (!e->cb_head && !e->cb_stop) pthread_cond_wait(&e->cb_cond, &e->lock);
    if (e->cb_head) {
        CbEvent **tail = &batch;
        for (int k = 0; k < CB_BATCH && e->cb_head; k++) {
            CbEvent *ev = e->cb_head;
            e->cb_head = ev->next;
            *tail = ev;
            tail = &ev->next;
        }
        *tail = NULL;
        if (!e->cb_head) e->cb_tail = NULL;
        e->cb_running = 1;
    } else {
        e->cb_exited = 1;
        pthread_cond_broadcast(&e->changed);
    }
    pthread_mutex_unlock(&e->lock);
    Py_END_ALLOW_THREADS
    if (!batch) Py_RETURN_NONE;
    FwcModuleState *st = fwc_state_of_module(module);
    PyObject *list = PyList_New(0);
    while (batch) {
        CbEvent *ev = batch;
        batch = ev->next;
        PyObject *v = list ? fwc_delivery_view(st, ev->job) : NULL;
        if (!v || PyList_Append(list, v) < 0) Py_CLEAR(list);
        Py_XDECREF(v);
        fwc_job_decref(ev->job);
        free(ev);
    }
    return list;
}

/* _release_engine(engine): the callback thread is done with it */
PyObject *fwc_py_release_engine(PyObject *module, PyObject *cap)
{
    FwcEngine *e = capsule_engine(cap);
    if (!e) return NULL;
    pthread_mutex_lock(&e->lock);
    e->cb_exited = 1;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
    engine_decref(e);
    Py_RETURN_NONE;
}

/* _close_all(timeout) -> list of lists of the deliveries each open engine could not
 * deliver (interpreter exit) */
PyObject *fwc_py_close_all(PyObject *module, PyObject *arg)
{
    double timeout = PyFloat_AsDouble(arg);
    if (timeout == -1.0 && PyErr_Occurred()) return NULL;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (;;) {
        FwcEngine *e = NULL;
        pthread_mutex_lock(&registry_lock);
        for (FwcEngine *x = registry; x; x = x->reg_next) {
            pthread_mutex_lock(&x->lock);
            int open = !x->closed && !x->dead;
            pthread_mutex_unlock(&x->lock);
            if (open) {
                e = x;
                engine_incref(e);
                break;
            }
        }
        pthread_mutex_unlock(&registry_lock);
        if (!e) break;
        size_t n;
        FwcJob **jobs = engine_close(e, timeout, &n);
        PyObject *views = views_of(fwc_state_of_module(module), jobs, n);
        engine_decref(e);
        if (!views || PyList_Append(out, views) < 0) {
            Py_XDECREF(views);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(views);
    }
    return out;
}

int fwc_dispatcher_init(PyObject *m, FwcModuleState *st)
{
    if (!KEY_DOCTYPE && !(KEY_DOCTYPE = PyUnicode_InternFromString("doctype"))) return -1;
    if (!KEY_NAME && !(KEY_NAME = PyUnicode_InternFromString("name"))) return -1;
    PyObject *queue = PyImport_ImportModule("queue");
    PyObject *full = queue ? PyObject_GetAttrString(queue, "Full") : NULL;
    Py_XDECREF(queue);
    if (!full) return -1;
    st->QueueFull = PyErr_NewExceptionWithDoc("frappe_webhook_c.QueueFull",
                                              "Dispatcher.enqueue(): the queue holds max_queue deliveries.", full, NULL);
    Py_DECREF(full);
    if (!st->QueueFull || PyModule_AddObjectRef(m, "QueueFull", st->QueueFull) < 0) return -1;
    st->DispatcherType = PyType_FromModuleAndSpec(m, &fwc_dispatcher_spec, NULL);
    if (!st->DispatcherType || PyModule_AddType(m, (PyTypeObject *)st->DispatcherType) < 0) return -1;
    st->DeliveryType = PyType_FromModuleAndSpec(m, &fwc_delivery_spec, NULL);
    if (!st->DeliveryType || PyModule_AddType(m, (PyTypeObject *)st->DeliveryType) < 0) return -1;
    return 0;
}
