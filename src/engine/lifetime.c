/* lifetime.c — the refcounted things of the engine and how each is freed: the engine
 * (its hosts, pending events, locks), a delivery (FwcJob) and its attempts' outcomes
 * (FwcOutcome); plus the latest outcome read under the engine lock and an outcome's
 * texts.  A job holds its engine, so an engine is freed only after its last job. */
#include "engine/engine.h"
#include <stdio.h>
#include <stdlib.h>

void fwc_engine_free(FwcEngine *e)
{
    fwc_registry_remove(e);
    for (int i = 0; i < FWC_HOST_BUCKETS; i++) {
        FwcHost *h = e->buckets[i];
        while (h) {
            FwcHost *n = h->hnext;
            fwc_host_free(h);
            h = n;
        }
    }
    FwcEvent *ev = e->cb_head;
    while (ev) {
        FwcEvent *n = ev->next;
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

void fwc_engine_decref(FwcEngine *e)
{
    if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1) return;
    if (e->dead) return; /* the parent's engine, in a child: left alone */
    fwc_engine_free(e);
}

void fwc_job_incref(FwcJob *j) { atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed); }

void fwc_job_decref(FwcJob *j)
{
    if (!j || atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1) return;
    fwc_outcome_decref(j->outcome);
    if (j->snap) fwc_snapshot_decref(j->snap);
    fwc_spec_decref(j->spec);
    fwc_engine_decref(j->eng);
    free(j); /* host, doctype and docname live in the same block */
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

void fwc_outcome_decref(FwcOutcome *o)
{
    if (!o || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1) return;
    if (o->built) fwc_built_release(&o->req);
    fwc_result_free(&o->res);
    if (o->error_owned) free(o->error);
    free(o);
}

/* malloc + memset rather than calloc: glibc's calloc bypasses the per-thread cache */
FwcOutcome *fwc_outcome_new(void)
{
    FwcOutcome *o = malloc(sizeof *o);
    if (o) {
        memset(o, 0, sizeof *o);
        atomic_init(&o->refs, 1);
    }
    return o;
}

/* o->error = the formatted text (malloc'd; a fixed text when out of memory) */
void fwc_outcome_error(FwcOutcome *o, const char *fmt, ...)
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

const char *fwc_delivery_status_name(FwcDeliveryStatus s)
{
    switch (s) {
    case FWC_DS_DELIVERED: return "Delivered";
    case FWC_DS_FAILED: return "Failed";
    case FWC_DS_EXHAUSTED: return "Exhausted";
    default: return "Queued";
    }
}
