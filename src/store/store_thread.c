/* store_thread.c — the store's thread.  It journals each attempt's outcome (the engine's
 * observer only notes it: the engine lock must not wait for a disk), renews the leases of
 * what this process holds, claims deliveries that fell due without a live owner (stored
 * by a process that closed, died, or could not resolve their webhook) and purges what
 * is past retention.  It never holds the GIL. */
#include "store/store.h"
#include <time.h>

#define CLAIM_BATCH 256 /* deliveries claimed per look */

void fwc_store_observe(void *ctx, FwcJob *j, FwcOutcome *o)
{
    FwcStore *s = ctx;
    FwcJournal *it = malloc(sizeof *it);
    if (!it) return; /* not journaled: the row stays pending and is sent again later */
    fwc_job_incref(j);
    fwc_outcome_incref(o);
    *it = (FwcJournal){ j, o, NULL };
    pthread_mutex_lock(&s->lock);
    *s->journal_tail = it;
    s->journal_tail = &it->next;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

static void note_error(FwcStore *s, const FwcError *err)
{
    pthread_mutex_lock(&s->lock);
    s->store_errors++;
    snprintf(s->last_error, sizeof s->last_error, "%s", err->message);
    pthread_mutex_unlock(&s->lock);
}

static void journal_free(FwcJournal *batch)
{
    while (batch) {
        FwcJournal *next = batch->next;
        fwc_outcome_decref(batch->out);
        fwc_job_decref(batch->job);
        free(batch);
        batch = next;
    }
}

void fwc_journal_done(FwcStore *s, FwcJournal *batch, int ok)
{
    if (ok) journal_free(batch);
    else if (batch) {
        /* in front of what arrived since: the store thread tries again */
        FwcJournal **tail = &batch;
        while (*tail) tail = &(*tail)->next;
        *tail = s->journal;
        if (!s->journal) s->journal_tail = tail;
        s->journal = batch;
        pthread_cond_signal(&s->wake);
    }
    s->journaling--;
    pthread_cond_broadcast(&s->journaled);
}

/* Writes a batch of the journal (lock not held). */
static void journal(FwcStore *s, FwcJournal *batch)
{
    FwcError err;
    /* one retry: another process may have held the write lock past busy_timeout */
    if (fwc_db_journal(s, batch, &err) && fwc_db_journal(s, batch, &err)) note_error(s, &err);
    /* what could not be written is dropped: those deliveries stay pending in the store
     * and are sent again later (at least once) */
    pthread_mutex_lock(&s->lock);
    fwc_journal_done(s, batch, 1);
    pthread_mutex_unlock(&s->lock);
}

int fwc_store_push_claimed(FwcStore *s, FwcClaimed *c, FwcJob **out, FwcError *err)
{
    FwcEngine *e = s->eng;
    const char *why = NULL;
    int asked = 0;
    pthread_mutex_lock(&s->lock);
    FwcHookSpec *spec = fwc_store_lookup(s, c->webhook);
    if (spec) fwc_spec_incref(spec);
    else {
        asked = fwc_store_ask(s, c->webhook, &why);
        if (asked)
            fwc_error_set(err, FWC_EVALUE, "waiting for the resolver to find webhook '%s'",
                          c->webhook);
        else
            fwc_error_set(err, FWC_EVALUE, "no webhook named '%s' in this process%s%s", c->webhook,
                          why ? ": " : "", why ? why : "");
    }
    pthread_mutex_unlock(&s->lock);
    if (!spec) return asked ? 1 : 2;
    FwcSnapshot *snap = fwc_snapshot_decode(c->snap, c->snap_len, err);
    if (!snap) {
        fwc_spec_decref(spec);
        return -1;
    }
    char host[300];
    fwc_job_host_key(spec, host, sizeof host);
    FwcJob *j =
        fwc_job_new(e, spec, snap, c->id, host, c->doctype, c->doctype ? strlen(c->doctype) : 0,
                    c->docname, c->docname ? strlen(c->docname) : 0);
    fwc_spec_decref(spec);
    if (!j) {
        fwc_snapshot_decref(snap);
        return fwc_error_set(err, FWC_ENOMEM, "out of memory"), -1;
    }
    j->attempts = c->attempts;
    j->store_seq = c->seq;
    FwcWorker *w = NULL;
    pthread_mutex_lock(&e->lock);
    int r = fwc_engine_push(e, j, 0, &w);
    pthread_mutex_unlock(&e->lock);
    if (w) fwc_worker_wake(w);
    if (r) {
        fwc_job_decref(j);
        fwc_error_set(err, r == -1 ? FWC_ENOMEM : FWC_ERUNTIME, "%s",
                      r == 1   ? "the delivery queue is full"
                      : r == 2 ? "the Dispatcher is closed"
                               : "out of memory");
        return -1;
    }
    if (out) *out = j;
    else fwc_job_decref(j);
    return 0;
}

/* Claims what is due and fits in the engine's queue; returns how many were claimed. */
static size_t claim(FwcStore *s)
{
    FwcEngine *e = s->eng;
    pthread_mutex_lock(&e->lock);
    size_t used = e->nqueued + e->nreserved;
    long room = e->closed || used >= e->max_queue ? 0 : (long)(e->max_queue - used);
    pthread_mutex_unlock(&e->lock);
    if (room > CLAIM_BATCH) room = CLAIM_BATCH;
    if (room <= 0) return 0;
    FwcClaimed *rows;
    size_t n;
    FwcError err;
    double now = fwc_wall_now();
    if (fwc_db_claim(s, now, room, &rows, &n, &err)) {
        note_error(s, &err);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int r = fwc_store_push_claimed(s, &rows[i], NULL, &err);
        if (r == 0) continue;
        /* back to the store, with the reason for the log */
        double recheck = now + (r == 1 ? 1.0 : FWC_STORE_RECHECK);
        FwcError e2;
        if (fwc_db_release(s, rows[i].id, err.message, recheck, &e2)) note_error(s, &e2);
    }
    fwc_claimed_free(rows, n);
    return n;
}

int fwc_store_sync(FwcStore *s, double timeout)
{
    struct timespec ts = fwc_mono_timespec(fwc_mono_now() + timeout);
    pthread_mutex_lock(&s->lock);
    while ((s->journal || s->journaling) && s->thread_started && !s->stopping)
        if (pthread_cond_timedwait(&s->journaled, &s->lock, &ts)) break;
    int done = !s->journal && !s->journaling;
    pthread_mutex_unlock(&s->lock);
    return done;
}

void *fwc_store_main(void *arg)
{
    FwcStore *s = arg;
    pthread_setname_np(pthread_self(), "fwc-store");
    double now = fwc_mono_now();
    double renew_every = s->opt.lease / 3;
    double next_renew = now + renew_every, next_claim = now, next_purge = now;
    FwcError err;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        now = fwc_mono_now();
        double next = next_renew < next_claim ? next_renew : next_claim;
        if (next_purge < next) next = next_purge;
        int wal_full =
            atomic_load_explicit(&s->wal_frames, memory_order_relaxed) >= FWC_STORE_CHECKPOINT;
        if (!s->journal && !s->nrecheck && !s->claim_now && !s->stopping && !wal_full &&
            next > now) {
            struct timespec ts = fwc_mono_timespec(next);
            pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
        FwcJournal *batch = s->journal;
        s->journal = NULL;
        s->journal_tail = &s->journal;
        char **recheck = s->recheck;
        size_t nrecheck = s->nrecheck;
        s->recheck = NULL;
        s->nrecheck = s->recheck_cap = 0;
        int claim_now = s->claim_now, stopping = s->stopping;
        s->claim_now = 0;
        if (batch) s->journaling++;
        pthread_mutex_unlock(&s->lock);
        if (batch) journal(s, batch);
        for (size_t i = 0; i < nrecheck; i++) {
            if (fwc_db_recheck(s, recheck[i], &err)) note_error(s, &err);
            free(recheck[i]);
        }
        free(recheck);
        fwc_db_checkpoint(s);
        now = fwc_mono_now();
        if (!stopping) {
            if (now >= next_renew) {
                /* the workers start attempts only while the lease surely holds; a lease
                 * that was lost means its deliveries are another process's now */
                int lost;
                if (fwc_db_renew(s, fwc_wall_now(), &lost, &err)) note_error(s, &err);
                else if (!lost) fwc_engine_hold(s->eng, now + s->opt.lease * FWC_STORE_HOLD, 0);
                else {
                    /* taken for dead: drop what the engine holds, then free every row
                     * still ours (also those stored after the takeover, whose jobs were
                     * just dropped) for any process to claim, then take a lease anew */
                    fwc_engine_hold(s->eng, 1e-9, 1); /* in the past: nothing starts */
                    if (fwc_db_release_all(s, &err) || fwc_db_register_owner(s, &err))
                        note_error(s, &err);
                    else fwc_engine_hold(s->eng, now + s->opt.lease * FWC_STORE_HOLD, 0);
                    next_claim = now; /* and claim at once, this process too */
                }
                next_renew = now + renew_every;
            }
            if (claim_now || now >= next_claim)
                next_claim = now + (claim(s) == CLAIM_BATCH ? 0.0 : FWC_STORE_POLL);
            if (now >= next_purge) {
                long long removed;
                if (fwc_db_purge(s, fwc_wall_now() - s->opt.retention, &removed, &err))
                    note_error(s, &err);
                next_purge = now + FWC_STORE_PURGE;
            }
        }
        pthread_mutex_lock(&s->lock);
        if (stopping && !s->journal) break;
    }
    pthread_mutex_unlock(&s->lock);
    /* what this process held goes back to the store, for the next one */
    if (fwc_db_release_all(s, &err)) note_error(s, &err);
    return NULL;
}
