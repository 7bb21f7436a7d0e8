/* engine.c — the background delivery engine: creation (one thread per worker, signals
 * blocked), intake, waits on its condition, close (stop intake, wait, stop threads, hand
 * back what was not delivered), and the on_result thread's side: the events it takes
 * (py/results.c makes Delivery objects of them).
 *
 * Interpreter exit: frappe_webhook_c/_delivery.py's atexit handler closes every open
 * engine (registry.c); after that no engine thread calls into Python (none ever does). */
#include "engine/engine.h"
#include <openssl/rand.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define CB_BATCH 512 /* outcomes handed to the on_result thread per call */

static FwcEngine *nomem(FwcError *err)
{
    fwc_error_set(err, FWC_ENOMEM, "out of memory");
    return NULL;
}

FwcEngine *fwc_engine_new(int nworkers, long max_connections, long max_per_host, size_t max_queue,
                          int callbacks, int native_http, FwcError *err)
{
    FwcEngine *e = calloc(1, sizeof *e);
    if (!e) return nomem(err);
    atomic_init(&e->refs, 1);
    fwc_engine_init_sync(e);
    e->live.lprev = e->live.lnext = &e->live;
    e->nworkers = nworkers;
    e->max_per_host = max_per_host;
    e->max_queue = max_queue;
    e->want_callbacks = callbacks;
    e->native_http = native_http;
    if (!(e->workers = calloc((size_t)nworkers, sizeof *e->workers))) {
        fwc_engine_free(e);
        return nomem(err);
    }
    for (int i = 0; i < nworkers; i++) e->workers[i].epfd = e->workers[i].evfd = -1;
    long per_worker = (max_connections + nworkers - 1) / nworkers;
    e->capacity = (size_t)per_worker * (size_t)nworkers;
    /* never below max_per_host for a receiver alone: it may use what it was allowed */
    e->reserve = max_connections > max_per_host ? (size_t)(max_connections - max_per_host) : 0;
    if (e->reserve > (size_t)max_connections / 8) e->reserve = (size_t)max_connections / 8;
    uint64_t seed = (uint64_t)(fwc_wall_now() * 1e6) ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < nworkers; i++)
        if (fwc_worker_init(&e->workers[i], e, i, per_worker, max_per_host, seed) < 0) goto nomem;
    /* native threads take no signals: Python handles them in the main thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int failed = 0;
    for (int i = 0; i < nworkers && !failed; i++) {
        FwcWorker *w = &e->workers[i];
        if (pthread_create(&w->thread, NULL, fwc_worker_main, w) == 0) w->started = 1;
        else failed = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    fwc_registry_add(e);
    if (failed) {
        fwc_error_set(err, FWC_ERUNTIME, "could not start the dispatcher's worker threads");
        pthread_mutex_lock(&e->lock);
        e->closed = e->stopping = 1;
        pthread_mutex_unlock(&e->lock);
        for (int i = 0; i < nworkers; i++) {
            FwcWorker *w = &e->workers[i];
            if (w->evfd >= 0) fwc_worker_wake(w);
        }
        for (int i = 0; i < nworkers; i++)
            if (e->workers[i].started) pthread_join(e->workers[i].thread, NULL);
        for (int i = 0; i < nworkers; i++) fwc_worker_cleanup(&e->workers[i]);
        fwc_engine_decref(e);
        return NULL;
    }
    return e;
nomem:
    for (int i = 0; i < nworkers; i++) fwc_worker_cleanup(&e->workers[i]);
    fwc_engine_free(e);
    return nomem(err);
}

/* ---------- intake, waits, close ---------- */

/* A worker to wake for new work (under the lock), or NULL. */
static FwcWorker *sleeper(FwcEngine *e)
{
    for (int i = 0; i < e->nworkers; i++) {
        FwcWorker *w = &e->workers[i];
        if (w->sleeping && w->ninflight < w->cap) {
            w->sleeping = 0;
            return w;
        }
    }
    return NULL;
}

static int in_callback_thread(FwcEngine *e)
{
    return e->cb_started && pthread_equal(e->cb_tid, pthread_self());
}

/* Nothing queued or in flight, and every outcome handed to on_result (unless this is the
 * callback thread itself).  Under the lock. */
int fwc_engine_drained(FwcEngine *e)
{
    if (e->nqueued || e->ninflight) return 0;
    if (in_callback_thread(e) || e->cb_exited) return 1;
    return !e->cb_head && !e->cb_running;
}

/* Waits (lock held) until pred(e) or the deadline; timeout < 0 waits forever.  Returns
 * pred's last value. */
int fwc_engine_wait(FwcEngine *e, int (*pred)(FwcEngine *), double timeout)
{
    struct timespec dl = fwc_mono_timespec(fwc_mono_now() + (timeout < 0 ? 0 : timeout));
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
FwcJob **fwc_engine_close(FwcEngine *e, double timeout, size_t *n)
{
    *n = 0;
    if (e->dead) return NULL;
    FwcJob **out = NULL;
    double start = fwc_mono_now();
    pthread_mutex_lock(&e->lock);
    int was_stopped = e->stopping;
    e->closed = 1;
    if (!was_stopped) {
        fwc_engine_wait(e, fwc_engine_drained, timeout);
        e->stopping = 1;
    }
    pthread_mutex_unlock(&e->lock);
    if (!was_stopped) {
        for (int i = 0; i < e->nworkers; i++) fwc_worker_wake(&e->workers[i]);
        for (int i = 0; i < e->nworkers; i++)
            if (e->workers[i].started) pthread_join(e->workers[i].thread, NULL);
        for (int i = 0; i < e->nworkers; i++) fwc_worker_cleanup(&e->workers[i]);
    }
    pthread_mutex_lock(&e->lock);
    e->cb_stop = 1;
    pthread_cond_broadcast(&e->cb_cond);
    if (!in_callback_thread(e)) {
        double left = timeout - (fwc_mono_now() - start);
        fwc_engine_wait(e, cb_done, left > 0.5 ? left : 0.5);
    }
    /* what is left is undelivered: queued, in flight when stopped (the workers published
     * every response that had arrived before they aborted the rest), scheduled */
    if (e->nlive) out = malloc(e->nlive * sizeof *out);
    FwcJob *j = e->live.lnext;
    while (j != &e->live) {
        FwcJob *next = j->lnext;
        fwc_live_remove(e, j);
        if (j->state == FWC_JOB_INFLIGHT) j->interrupted = 1;
        j->state = FWC_JOB_STOPPED;
        j->hq = NULL;
        if (out) out[(*n)++] = j; /* the engine's reference moves to the caller */
        else fwc_job_decref(j);   /* cannot fail: the caller's views hold the job */
        j = next;
    }
    for (int i = 0; i < FWC_HOST_BUCKETS; i++) {
        FwcHost *h = e->buckets[i];
        while (h) {
            FwcHost *nx = h->hnext;
            fwc_host_free(h);
            h = nx;
        }
        e->buckets[i] = NULL;
    }
    e->run_head = NULL;
    e->heap_len = 0;
    e->nqueued = e->ninflight = e->nscheduled = 0;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
    return out;
}

int fwc_engine_has_room(FwcEngine *e)
{
    return e->closed || e->nqueued + e->nreserved < e->max_queue;
}

int fwc_engine_reserve(FwcEngine *e, size_t n)
{
    if (e->closed) return 2;
    if (e->nqueued + e->nreserved + n > e->max_queue) return 1;
    e->nreserved += n;
    return 0;
}

void fwc_engine_unreserve(FwcEngine *e, size_t n)
{
    e->nreserved -= n;
    if (n && e->room_waiters) pthread_cond_broadcast(&e->changed);
}

/* Puts j in e (lock held).  0 ok (the engine took a reference), 1 full, 2 closed, -1 OOM. */
int fwc_engine_push(FwcEngine *e, FwcJob *j, int reserved, FwcWorker **wake)
{
    if (e->closed) return 2;
    if (!reserved && e->nqueued + e->nreserved >= e->max_queue) return 1;
    if (fwc_host_push(e, j) < 0) return -1;
    if (reserved) e->nreserved--;
    fwc_job_incref(j);
    fwc_live_add(e, j);
    e->enqueued++;
    *wake = sleeper(e);
    return 0;
}

/* Jobs in the live list matching state (-1: all), new references. Lock taken here. */
FwcJob **fwc_engine_live_jobs(FwcEngine *e, int state, size_t *n)
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

static void forget_job(FwcEngine *e, FwcJob *j)
{
    j->state = FWC_JOB_STOPPED;
    j->hq = NULL;
    j->qnext = NULL;
    fwc_live_remove(e, j);
    fwc_job_decref(j); /* the engine's reference; the caller's views keep theirs */
}

/* Drops every queued and scheduled job (not those in flight): they are no longer ours. */
static void forget_pending(FwcEngine *e)
{
    for (int i = 0; i < FWC_HOST_BUCKETS; i++) {
        FwcHost *h = e->buckets[i];
        while (h) {
            FwcHost *next = h->hnext;
            FwcJob *j = h->qhead;
            while (j) {
                FwcJob *qn = j->qnext;
                forget_job(e, j);
                j = qn;
            }
            e->nqueued -= h->nq;
            h->qhead = h->qtail = NULL;
            h->nq = 0;
            fwc_host_update(e, h); /* may free h */
            h = next;
        }
    }
    for (size_t i = 0; i < e->heap_len; i++) forget_job(e, e->heap[i]);
    e->heap_len = 0;
    e->nscheduled = 0;
}

void fwc_engine_hold(FwcEngine *e, double hold_after, int forget)
{
    pthread_mutex_lock(&e->lock);
    e->hold_after = hold_after;
    if (forget) forget_pending(e);
    if (forget && e->waiters) pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
    for (int i = 0; i < e->nworkers; i++) fwc_worker_wake(&e->workers[i]);
}

/* ---------- the on_result thread and interpreter exit (py/results.c) ---------- */

FwcEvent *fwc_engine_take_events(FwcEngine *e)
{
    FwcEvent *batch = NULL;
    pthread_mutex_lock(&e->lock);
    e->cb_tid = pthread_self();
    e->cb_started = 1;
    if (e->cb_running) {
        e->cb_running = 0;
        if (e->waiters) pthread_cond_broadcast(&e->changed);
    }
    while (!e->cb_head && !e->cb_stop) pthread_cond_wait(&e->cb_cond, &e->lock);
    if (e->cb_head) {
        FwcEvent **tail = &batch;
        for (int k = 0; k < CB_BATCH && e->cb_head; k++) {
            FwcEvent *ev = e->cb_head;
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
    return batch;
}

void fwc_engine_callbacks_done(FwcEngine *e)
{
    pthread_mutex_lock(&e->lock);
    e->cb_exited = 1;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
}
