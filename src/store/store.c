/* store.c — a store's life (open, attach to an engine, close, abandon after fork) and
 * the delivery log's operations (read, count, purge, requeue, replay). */
#include "store/store.h"
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void make_owner(FwcStore *s)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned char r[6] = { 0 };
    RAND_bytes(r, sizeof r);
    snprintf(s->owner, sizeof s->owner, "%s:%d:%02x%02x%02x%02x%02x%02x", host, (int)s->pid, r[0],
             r[1], r[2], r[3], r[4], r[5]);
}

void fwc_store_incref(FwcStore *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

static void free_store(FwcStore *s)
{
    fwc_db_close(s);
    fwc_store_hooks_free(s);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->db_lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->intake);
    pthread_cond_destroy(&s->arrived);
    pthread_cond_destroy(&s->journaled);
    pthread_cond_destroy(&s->resolver);
    free(s->path);
    free(s);
}

FwcStore *fwc_store_open(const FwcStoreOptions *opt, FwcError *err)
{
    FwcStore *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(opt->path))) {
        free(s);
        fwc_error_set(err, FWC_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->opt = *opt;
    s->opt.path = s->path;
    s->pid = getpid();
    make_owner(s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->db_lock, NULL);
    pthread_condattr_t mono;
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &mono);
    pthread_cond_init(&s->arrived, &mono);
    pthread_cond_init(&s->journaled, &mono);
    pthread_condattr_destroy(&mono);
    pthread_cond_init(&s->intake, NULL);
    pthread_cond_init(&s->resolver, NULL);
    s->pending_tail = &s->pending;
    s->journal_tail = &s->journal;
    if (fwc_db_open(s, err)) {
        free_store(s);
        return NULL;
    }
    return s;
}

int fwc_store_attach(FwcStore *s, FwcEngine *e, FwcError *err)
{
    double now = fwc_mono_now();
    if (fwc_db_checkpointer(s, err) || fwc_db_register_owner(s, err)) return err->code;
    fwc_engine_incref(e);
    s->eng = e;
    pthread_mutex_lock(&e->lock);
    e->observer = (FwcObserver){ fwc_store_observe, s };
    pthread_mutex_unlock(&e->lock);
    fwc_engine_hold(e, now + s->opt.lease * FWC_STORE_HOLD, 0);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* Python handles signals in its main thread */
    int rc = pthread_create(&s->thread, NULL, fwc_store_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) return fwc_error_set(err, FWC_ERUNTIME, "could not start the store's thread");
    s->thread_started = 1;
    return FWC_OK;
}

void fwc_store_close(FwcStore *s)
{
    if (!s) return;
    if (s->pid != getpid()) return fwc_store_abandon(s); /* a forked child's copy */
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_cond_broadcast(&s->resolver);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started) pthread_join(s->thread, NULL);
    if (s->eng) {
        pthread_mutex_lock(&s->eng->lock);
        s->eng->observer = (FwcObserver){ NULL, NULL };
        pthread_mutex_unlock(&s->eng->lock);
        fwc_engine_decref(s->eng);
        s->eng = NULL;
    }
    pthread_mutex_lock(&s->db_lock);
    fwc_db_close(s);
    pthread_mutex_unlock(&s->db_lock);
    fwc_store_decref(s);
}

void fwc_store_decref(FwcStore *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) free_store(s);
}

int fwc_store_closed(FwcStore *s)
{
    pthread_mutex_lock(&s->lock);
    int closed = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return closed;
}

void fwc_store_abandon(FwcStore *s)
{
    (void)s; /* the parent's connection, thread and locks: nothing here may touch them */
}

const char *fwc_store_path(const FwcStore *s) { return s->path; }
const char *fwc_store_owner(const FwcStore *s) { return s->owner; }

int fwc_store_deliveries(FwcStore *s, const FwcLogQuery *q, FwcLogRow **rows, size_t *n,
                         FwcError *err)
{
    return fwc_db_deliveries(s, q, rows, n, err) ? -1 : 0;
}

int fwc_store_attempts(FwcStore *s, const char *id, FwcAttemptRow **rows, size_t *n, FwcError *err)
{
    return fwc_db_attempts(s, id, rows, n, err) ? -1 : 0;
}

int fwc_store_counts(FwcStore *s, FwcStoreCounts *c, FwcError *err)
{
    return fwc_db_counts(s, fwc_wall_now(), c, err) ? -1 : 0;
}

int fwc_store_purge(FwcStore *s, double before, long long *removed, FwcError *err)
{
    return fwc_db_purge(s, before, removed, err) ? -1 : 0;
}

int fwc_store_requeue(FwcStore *s, const char *id, FwcError *err)
{
    return fwc_db_requeue(s, id, 0, NULL, err) ? -1 : 0;
}

int fwc_store_replay(FwcStore *s, const char *id, FwcJob **out, FwcError *err)
{
    *out = NULL;
    FwcClaimed c;
    if (fwc_db_requeue(s, id, 1, &c, err)) return -1;
    int r = fwc_store_push_claimed(s, &c, out, err);
    if (r) {
        /* not sendable here: it stays queued for a process that can */
        FwcError e2;
        fwc_db_release(s, c.id, r > 0 ? err->message : NULL, 0, &e2);
        if (r > 0) err->code = FWC_EVALUE;
    }
    fwc_claimed_clear(&c);
    return r ? -1 : 0;
}
