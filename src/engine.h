/* engine.h — the background delivery engine's internal types, shared by dispatcher.c
 * (the engine and the Dispatcher type) and delivery.c (the Delivery type).
 *
 * A delivery is an FwcJob: what to send (spec + snapshot, both refcounted) and, once an
 * attempt was made, its published FwcOutcome.  Worker threads own a job while it is in
 * flight and never touch a PyObject; everything mutable in a job and in the engine is
 * guarded by the engine's one mutex.  An outcome is immutable once published, so Python
 * reads it after taking a reference under the lock, without holding the lock.
 *
 * Lock order: the GIL (if held) before the engine lock; nothing that may run Python code
 * (allocation of Python objects included) happens while the engine lock is held. */
#ifndef FWC_ENGINE_H
#define FWC_ENGINE_H

#include "fwc.h"
#include <pthread.h>

typedef enum {
    FWC_DS_QUEUED = 0,      /* no attempt finished yet */
    FWC_DS_DELIVERED,
    FWC_DS_FAILED,          /* the last attempt failed; a retry is scheduled */
    FWC_DS_EXHAUSTED,       /* no more attempts: retries used up, 410, refused, unbuildable */
} FwcDeliveryStatus;

/* where a job is (engine-private, under the lock) */
typedef enum { J_QUEUED, J_INFLIGHT, J_SCHEDULED, J_FINAL, J_STOPPED } FwcJobState;

/* One attempt's outcome; immutable once published. */
typedef struct {
    atomic_int refs;
    FwcDeliveryStatus status;
    int attempt;                /* 1-based */
    double next_retry;          /* Unix time of the next attempt; 0 when none */
    int built;                  /* req holds the request that was sent */
    FwcBuilt req;
    FwcResult res;              /* status 0 when no response arrived */
    char *error;                /* why the attempt failed; NULL when delivered.  Points
                                 * into res.error, or is malloc'd when error_owned */
    int error_owned;
} FwcOutcome;

typedef struct FwcEngine FwcEngine;
typedef struct FwcHost FwcHost;

typedef struct FwcJob {
    atomic_int refs;
    FwcEngine *eng;             /* strong: getters lock eng->lock */
    FwcHookSpec *spec;          /* strong */
    FwcSnapshot *snap;          /* strong until the job is final */
    char id[32];                /* Standard Webhooks message id, stable across retries */
    char *doctype, *docname;    /* malloc'd; NULL when the document had none */
    char *host;                 /* malloc'd "scheme://host:port" (per-host limit key) */
    /* engine-private, under eng->lock */
    struct FwcJob *lprev, *lnext;   /* the engine's list of live (not final) jobs */
    struct FwcJob *qnext;           /* FIFO link in its host's queue */
    FwcHost *hq;                    /* its host while queued or in flight */
    size_t heap_idx;                /* position in the retry heap while scheduled */
    FwcJobState state;
    double due;                     /* monotonic time of the next attempt while scheduled */
    int attempts;
    FwcOutcome *outcome;            /* latest published outcome (one reference), or NULL */
    /* with the GIL only */
    PyObject *view;                 /* the Delivery showing this job (borrowed), or NULL */
} FwcJob;

/* ---------- jobs and outcomes (delivery.c / dispatcher.c; no GIL needed) ---------- */

void fwc_job_incref(FwcJob *j);
void fwc_job_decref(FwcJob *j);
void fwc_outcome_decref(FwcOutcome *o);
/* The latest outcome (new reference, or NULL) and the job's state, read under the lock. */
FwcOutcome *fwc_job_outcome(FwcJob *j, FwcJobState *state);
const char *fwc_delivery_status_name(FwcDeliveryStatus s);

/* ---------- the Delivery type (delivery.c, GIL held) ---------- */

/* The Delivery object showing job: the existing one when there is one, else a new one.
 * New reference; NULL + exception. */
PyObject *fwc_delivery_view(FwcModuleState *st, FwcJob *j);
/* The job a Delivery shows (borrowed), or NULL when obj is not a Delivery. */
FwcJob *fwc_delivery_job(FwcModuleState *st, PyObject *obj);

#endif
