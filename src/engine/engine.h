/* engine.h — the background delivery engine (below the Python layer, which shows it as
 * Dispatcher and Delivery: py/dispatcher.c, py/delivery.c, py/results.c):
 *
 *   engine.c      creation, intake, waits, close, the on_result thread's events
 *   queue.c       per-host FIFOs, the runnable ring, the retry heap, the live-job list
 *   worker.c      a worker thread: epoll + curl multi loop, pooled transfers, the native
 *                 HTTP/1.1 client (net/h1.h) for plain http://, publishing
 *   retry.c       an attempt's verdict: delivered, retry (when) or exhausted
 *   lifetime.c    refcounts of engines, jobs and outcomes, and how each is freed
 *   registry.c    every engine of the process, for fork() and interpreter exit
 *   job.c         making a job: its per-host key, one allocation with its texts
 *
 * A delivery is an FwcJob: what to send (spec + snapshot, both refcounted) and, once an
 * attempt was made, its published FwcOutcome.  Worker threads own a job while it is in
 * flight; everything mutable in a job and in the engine is
 * guarded by the engine's one mutex.  An outcome is immutable once published, so Python
 * reads it after taking a reference under the lock, without holding the lock.
 *
 * Lock order: the GIL (if held) before the engine lock; nothing that may run Python code
 * (allocation of Python objects included) happens while the engine lock is held. */
#ifndef FWC_ENGINE_H
#define FWC_ENGINE_H

#include "net/net.h"
#include <curl/curl.h>
#include <pthread.h>

typedef enum {
    FWC_DS_QUEUED = 0, /* no attempt finished yet */
    FWC_DS_DELIVERED,
    FWC_DS_FAILED,    /* the last attempt failed; a retry is scheduled */
    FWC_DS_EXHAUSTED, /* no more attempts: retries used up, 410, refused, unbuildable */
} FwcDeliveryStatus;

/* where a job is (engine-private, under the lock) */
typedef enum {
    FWC_JOB_QUEUED,
    FWC_JOB_INFLIGHT,
    FWC_JOB_SCHEDULED,
    FWC_JOB_FINAL,
    FWC_JOB_STOPPED
} FwcJobState;

/* One attempt's outcome; immutable once published. */
typedef struct {
    atomic_int refs;
    FwcDeliveryStatus status;
    int attempt;       /* 1-based */
    double next_retry; /* Unix time of the next attempt; 0 when none */
    int built;         /* req holds the request that was sent */
    FwcBuilt req;
    FwcResult res; /* status 0 when no response arrived */
    char *error;   /* why the attempt failed; NULL when delivered.  Points
                                 * into res.error, or is malloc'd when error_owned */
    int error_owned;
} FwcOutcome;

typedef struct FwcEngine FwcEngine;
typedef struct FwcHost FwcHost;
typedef struct FwcWorker FwcWorker;

typedef struct FwcJob {
    atomic_int refs;
    FwcEngine *eng;          /* strong: getters lock eng->lock */
    FwcHookSpec *spec;       /* strong */
    FwcSnapshot *snap;       /* strong until the job is final */
    char id[32];             /* Standard Webhooks message id, stable across retries */
    char *doctype, *docname; /* in the job's block; NULL when the document had none */
    char *host;              /* in the job's block: "scheme://host:port" (per-host limit key) */
    int64_t store_seq;       /* its row in the store (store/), 0 when not stored */
    /* engine-private, under eng->lock */
    struct FwcJob *lprev, *lnext; /* the engine's list of live (not final) jobs */
    struct FwcJob *qnext;         /* FIFO link in its host's queue */
    FwcHost *hq;                  /* its host while queued or in flight */
    size_t heap_idx;              /* position in the retry heap while scheduled */
    FwcJobState state;
    int interrupted; /* close() aborted its attempt in flight: the receiver
                                     * may have received it (Delivery.interrupted) */
    double due;      /* monotonic time of the next attempt while scheduled */
    int attempts;
    FwcOutcome *outcome; /* latest published outcome (one reference), or NULL */
    /* with the GIL only */
    void *view; /* opaque here: the Python layer's Delivery object
                                     * showing this job (borrowed), or NULL */
} FwcJob;

/* ---------- the engine (engine.c, queue.c, worker.c) ---------- */

#define FWC_HOST_BUCKETS 256

/* an outcome waiting for the on_result thread */
typedef struct FwcEvent {
    FwcJob *job; /* one reference */
    struct FwcEvent *next;
} FwcEvent;

/* one receiver ("scheme://host:port"): its queue and what it has in flight */
struct FwcHost {
    char *key;
    unsigned hash;
    FwcHost *hnext;        /* hash chain */
    FwcJob *qhead, *qtail; /* queued jobs, FIFO */
    size_t nq, inflight;
    FwcHost *rprev, *rnext; /* in the runnable ring */
    int runnable;
};

/* one worker thread (worker.c) */
struct FwcWorker {
    FwcEngine *eng;
    int index;
    pthread_t thread;
    int started;
    CURLM *multi;
    CURLSH *share;
    int epfd, evfd;            /* epoll set of curl's sockets + the wake-up eventfd */
    double timer;              /* curl's timer (monotonic seconds), -1 when none */
    int sleeping;              /* under eng->lock: about to wait in epoll_wait */
    size_t ninflight, cap;     /* under eng->lock */
    struct FwcFlight *flights; /* worker-private: in the multi handle */
    struct FwcFlight **pool;   /* idle flights (options of their last webhook still set) */
    size_t npool;
    struct FwcH1 *h1; /* the native HTTP/1.1 client (h1.h) */
    uint8_t *fds;     /* FD_* per socket, nfds entries */
    size_t nfds;
    uint64_t rng;
};

/* Told of every published outcome (under the engine lock, so it must only note it: the
 * store journals it from its own thread).  fn takes its own references. */
typedef struct {
    void (*fn)(void *ctx, FwcJob *j, FwcOutcome *o);
    void *ctx;
} FwcObserver;

/* the engine behind one Dispatcher; every field below `dead` is under `lock` */
struct FwcEngine {
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* progress: queue space, drained, callbacks taken */
    pthread_cond_t cb_cond; /* events for the callback thread */
    int dead;               /* inherited through fork(): never used nor freed */
    int closed, stopping;
    int nworkers;
    FwcWorker *workers;
    long max_per_host;
    size_t capacity; /* transfers in flight at most: the workers' shares summed */
    size_t reserve;  /* slots only a receiver with nothing in flight may take
                                 * (max_connections / 8, at most max_connections -
                                 * max_per_host): fwc_queue_pop */
    size_t max_queue;
    size_t nreserved; /* queue places promised to enqueues being stored (fwc_engine_reserve) */
    FwcObserver observer;
    double hold_after; /* monotonic time after which no attempt starts until the store
                        * renews its lease (fwc_engine_hold); 0: never */
    int waiters;       /* threads waiting on `changed` */
    int room_waiters;  /* of which enqueue(block=True) waiting for queue room */
    /* jobs */
    FwcJob live; /* sentinel of the live-job list */
    size_t nlive, nqueued, ninflight, nscheduled;
    FwcHost *buckets[FWC_HOST_BUCKETS];
    FwcHost *run_head; /* runnable ring */
    FwcJob **heap;
    size_t heap_len, heap_cap;
    /* callbacks */
    int want_callbacks;
    FwcEvent *cb_head, *cb_tail;
    int cb_running, cb_stop, cb_exited, cb_started;
    pthread_t cb_tid;
    /* counters */
    unsigned long long enqueued, delivered, failed_attempts, exhausted, attempts, conn_opened,
        conn_reused;
    unsigned long long native_attempts; /* attempts sent by the native HTTP/1.1 client */
    int native_http;                    /* plain-http requests may use the native client */
    /* registry of engines (for fork) */
    FwcEngine *reg_prev, *reg_next;
};

/* lifetime.c (refcounts; jobs and outcomes below) */
static inline void fwc_engine_incref(FwcEngine *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}
void fwc_engine_decref(FwcEngine *e);
void fwc_engine_free(FwcEngine *e); /* at refcount zero: unregisters and frees */

/* registry.c */
/* (Re)initialises the engine's lock and conditions (creation, and a forked child). */
void fwc_engine_init_sync(FwcEngine *e);
void fwc_registry_add(FwcEngine *e);
void fwc_registry_remove(FwcEngine *e);

/* engine.c */
/* A running engine with its worker threads; NULL with err set. */
FwcEngine *fwc_engine_new(int nworkers, long max_connections, long max_per_host, size_t max_queue,
                          int callbacks, int native_http, FwcError *err);
/* Stops intake, waits up to timeout for queued and in-flight work, stops the threads and
 * returns the jobs not delivered (new references, *n of them; malloc'd array).  Blocks:
 * call it without the GIL.  NULL with *n = 0 when none or OOM. */
FwcJob **fwc_engine_close(FwcEngine *e, double timeout, size_t *n);
/* Predicates for fwc_engine_wait (lock held). */
int fwc_engine_drained(FwcEngine *e);
int fwc_engine_has_room(FwcEngine *e);
/* Waits (lock held) until pred(e) or the deadline; timeout < 0 waits forever. */
int fwc_engine_wait(FwcEngine *e, int (*pred)(FwcEngine *), double timeout);
/* Puts j in e (lock held): 0 ok (the engine took a reference; *wake is a worker to wake
 * or NULL), 1 full, 2 closed, -1 out of memory.  `reserved`: j takes a place promised by
 * fwc_engine_reserve (it cannot be full). */
int fwc_engine_push(FwcEngine *e, FwcJob *j, int reserved, FwcWorker **wake);
/* Promises n queue places (lock held) to jobs that will be pushed after they are stored:
 * 0 ok, 1 full, 2 closed.  fwc_engine_unreserve gives back what was not pushed. */
int fwc_engine_reserve(FwcEngine *e, size_t n);
void fwc_engine_unreserve(FwcEngine *e, size_t n);
/* Live jobs in `state` (-1: all), new references; takes the lock. */
FwcJob **fwc_engine_live_jobs(FwcEngine *e, int state, size_t *n);
/* The store's lease (store/): no attempt starts after hold_after (monotonic; 0: no
 * limit) unless renewed; with `forget`, the lease was lost and every queued and scheduled
 * job is dropped (another process took them over).  Takes the lock; wakes the workers. */
void fwc_engine_hold(FwcEngine *e, double hold_after, int forget);
/* The on_result thread's next batch of events (a list the caller frees, each holding one
 * job reference), waiting until there is one; NULL once the engine is closed and every
 * event was taken.  Blocks: call it without the GIL. */
FwcEvent *fwc_engine_take_events(FwcEngine *e);
/* The on_result thread will take no more events. */
void fwc_engine_callbacks_done(FwcEngine *e);
/* An engine that is neither closed nor dead (new reference), or NULL: interpreter exit
 * closes them one by one. */
FwcEngine *fwc_engine_next_open(void);

/* queue.c (lock held) */
void fwc_live_add(FwcEngine *e, FwcJob *j);
void fwc_live_remove(FwcEngine *e, FwcJob *j);
void fwc_host_free(FwcHost *h);
void fwc_host_update(FwcEngine *e, FwcHost *h);
int fwc_host_push(FwcEngine *e, FwcJob *j);
FwcJob *fwc_queue_pop(FwcEngine *e);
int fwc_heap_push(FwcEngine *e, FwcJob *j);
void fwc_queue_promote_due(FwcEngine *e, double now);

/* worker.c */
/* Sets up w (multi handle, epoll set, eventfd); -1 when out of resources. */
int fwc_worker_init(FwcWorker *w, FwcEngine *e, int index, long per_worker, long max_per_host,
                    uint64_t seed);
void *fwc_worker_main(void *w);
void fwc_worker_wake(FwcWorker *w);
void fwc_worker_cleanup(FwcWorker *w);

/* retry.c: the verdict on an attempt whose request was sent (o->res filled): status,
 * error and the delay before the next attempt (no lock needed). */
void fwc_retry_decide(uint64_t *rng, const FwcHookSpec *s, FwcOutcome *o, double *delay);

/* ---------- jobs and outcomes (job.c, lifetime.c) ---------- */

/* "scheme://host:port" of a static URL (lower-cased), "dynamic:<serial>" for a template:
 * the key of the per-host limit. */
void fwc_job_host_key(const FwcHookSpec *s, char *out, size_t outlen);
/* A job (refs 1) of spec and snap (the job takes snap's reference), with id (NULL: a new
 * message id), its host key and the document's doctype/docname (NULL when none).  NULL
 * when out of memory. */
FwcJob *fwc_job_new(FwcEngine *e, FwcHookSpec *spec, FwcSnapshot *snap, const char *id,
                    const char *host, const char *doctype, size_t tlen, const char *docname,
                    size_t nlen);

void fwc_job_incref(FwcJob *j);
void fwc_job_decref(FwcJob *j);
void fwc_outcome_decref(FwcOutcome *o);
static inline void fwc_outcome_incref(FwcOutcome *o)
{
    atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}
FwcOutcome *fwc_outcome_new(void); /* NULL when out of memory */
/* o->error = the formatted text (malloc'd; a fixed text when out of memory) */
void fwc_outcome_error(FwcOutcome *o, const char *fmt, ...);
/* The latest outcome (new reference, or NULL) and the job's state, read under the lock. */
FwcOutcome *fwc_job_outcome(FwcJob *j, FwcJobState *state);
const char *fwc_delivery_status_name(FwcDeliveryStatus s);

#endif
