/* store_intake.c — enqueue with a store: the delivery is committed before enqueue returns,
 * and enqueues that arrive while a commit is running share the next one (group commit:
 * the first waiting thread becomes the leader and writes every pending row in one
 * transaction, the others sleep until it is done).  Queue places are reserved first, so
 * that a delivery that is stored is never refused by the engine afterwards.  The outcomes
 * waiting to be journaled are written in the same transaction. */
#include "store/store.h"

/* When the last transaction held several enqueues, their threads are likely on their way
 * back (they wait for the GIL between two enqueues): the leader gives them a moment to
 * join, so that N threads share one commit instead of taking turns.  A lone thread never
 * waits.  Lock held. */
static void gather(FwcStore *s)
{
    if (s->last_group < 2) return;
    struct timespec ts = fwc_mono_timespec(fwc_mono_now() + FWC_STORE_GATHER);
    s->gathering = 1;
    while (s->npending < s->last_group)
        if (pthread_cond_timedwait(&s->arrived, &s->lock, &ts)) break;
    s->gathering = 0;
}

/* Writes every pending batch as the leader (lock held on entry and exit). */
static void lead(FwcStore *s)
{
    s->committing = 1;
    gather(s);
    s->last_group = s->npending;
    s->npending = 0;
    FwcIntake *batch = s->pending;
    s->pending = NULL;
    s->pending_tail = &s->pending;
    /* the outcomes waiting for the store thread ride along: one commit for both */
    FwcJournal *journal = s->journal;
    s->journal = NULL;
    s->journal_tail = &s->journal;
    if (journal) s->journaling++;
    pthread_mutex_unlock(&s->lock);
    FwcError err = { 0 };
    int rc = fwc_db_insert(s, batch, journal, &err);
    pthread_mutex_lock(&s->lock);
    if (journal) fwc_journal_done(s, journal, rc == FWC_OK);
    s->commits++;
    for (FwcIntake *in = batch; in; in = in->next) {
        if (!rc) s->committed += in->n;
        in->status = rc;
        if (rc) in->err = err;
        in->done = 1;
    }
    s->committing = 0;
    pthread_cond_broadcast(&s->intake);
}

/* Withdraws rows that were stored but could not be queued (the engine closed meanwhile),
 * so that what enqueue reports as refused is not sent later either. */
static void withdraw(FwcStore *s, FwcJob **jobs, size_t n)
{
    FwcError err;
    for (size_t i = 0; i < n; i++) fwc_db_delete(s, jobs[i]->id, &err);
}

int fwc_store_enqueue(FwcStore *s, FwcJob **jobs, size_t n, FwcError *err)
{
    FwcEngine *e = s->eng;
    FwcBuf one, *snaps = n == 1 ? &one : calloc(n, sizeof *snaps);
    if (!snaps) return fwc_error_set(err, FWC_ENOMEM, "out of memory");
    memset(snaps, 0, n * sizeof *snaps);
    int rc = FWC_OK;
    for (size_t i = 0; i < n && !rc; i++)
        if (fwc_snapshot_encode(&jobs[i]->snap->root, &snaps[i]) < 0)
            rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
    if (!rc) {
        pthread_mutex_lock(&e->lock);
        int r = fwc_engine_reserve(e, n);
        pthread_mutex_unlock(&e->lock);
        if (r) rc = -r; /* 1 full, 2 closed: reported as such below */
    }
    if (!rc) {
        FwcIntake in = { jobs, n, snaps, fwc_wall_now(), 0, 0, { 0 }, NULL };
        pthread_mutex_lock(&s->lock);
        *s->pending_tail = &in;
        s->pending_tail = &in.next;
        s->npending++;
        if (s->gathering) pthread_cond_signal(&s->arrived);
        while (!in.done) {
            if (!s->committing) lead(s);
            else pthread_cond_wait(&s->intake, &s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        if (in.status) {
            *err = in.err;
            rc = in.status;
            pthread_mutex_lock(&e->lock);
            fwc_engine_unreserve(e, n);
            pthread_mutex_unlock(&e->lock);
        } else {
            FwcWorker *wake[64], *w; /* at most one per worker: push marks it awake */
            size_t pushed = 0, nwake = 0;
            pthread_mutex_lock(&e->lock);
            for (; pushed < n; pushed++) {
                if (fwc_engine_push(e, jobs[pushed], 1, &w)) break;
                if (w && nwake < 64) wake[nwake++] = w;
            }
            fwc_engine_unreserve(e, n - pushed);
            pthread_mutex_unlock(&e->lock);
            for (size_t i = 0; i < nwake; i++) fwc_worker_wake(wake[i]);
            if (pushed < n) {
                withdraw(s, jobs + pushed, n - pushed);
                rc = pushed
                         ? (int)fwc_error_set(err, FWC_ERUNTIME,
                                              "the Dispatcher closed while %zu of %zu deliveries "
                                              "were being queued",
                                              n - pushed, n)
                         : -2;
            }
        }
    }
    for (size_t i = 0; i < n; i++) fwc_buf_free(&snaps[i]);
    if (snaps != &one) free(snaps);
    if (rc == -1) return 1;
    if (rc == -2) return 2;
    return rc ? -1 : 0;
}
