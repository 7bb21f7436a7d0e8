/* store.h — durable deliveries: the outbox (below the Python layer, above the engine).
 *
 *   store_codec.c     a snapshot <-> compact bytes (what the store keeps of a document)
 *   store_sqlite.c    the SQLite backend: schema and its version, every SQL statement
 *   store_webhooks.c  webhooks by name (a stored delivery names its webhook; no secret
 *                     is ever stored) and the names waiting for the Python resolver
 *   store_intake.c    enqueue: group commit (one transaction for every enqueue that
 *                     arrives while the previous one commits), then into the engine
 *   store_thread.c    the store's thread: journals each attempt's outcome, renews the
 *                     leases of what this process holds, claims due deliveries (its own
 *                     and those of dead processes), purges what is past retention
 *   store.c           open / close, and the log: deliveries, attempts, replay, purge
 *
 * A delivery row is owned by one process at a time (owner + lease_until): the process
 * that enqueued it, or the one that claimed it when it fell due without a live owner.
 * Rows are written without the GIL, from the enqueuing thread (intake) or the store
 * thread; one mutex per store serialises the use of its SQLite connection.
 *
 * Lock order: the GIL, then the engine lock, then the store's locks (`lock` before
 * `db_lock` is never needed: neither is held while taking the other). */
#ifndef FWC_STORE_H
#define FWC_STORE_H

#include "engine/engine.h"
#include <sqlite3.h>

/* ---------- the snapshot codec (store_codec.c) ----------
 * A self-describing, versioned binary form of a value tree (NULL, BOOL, INT, BIGINT,
 * FLOAT, STR, LIST, DICT); decoding validates everything (it reads a file). */

/* Appends the encoding of root to out; 0 ok, -1 out of memory (or a type a snapshot
 * never holds). */
int fwc_snapshot_encode(const FwcValue *root, FwcBuf *out);
/* A new snapshot (refs 1) of the encoded bytes; NULL with err set: FWC_ENOMEM, or
 * FWC_EVALUE "corrupt snapshot: <why>" for anything malformed. */
FwcSnapshot *fwc_snapshot_decode(const void *data, size_t len, FwcError *err);

/* ---------- rows ---------- */

/* A delivery as the log shows it (strings malloc'd; NULL when absent). */
typedef struct {
    char id[32];
    char *webhook, *doctype, *docname;
    FwcDeliveryStatus status;
    int attempts;
    double next_retry; /* Unix time; 0 when none */
    double created, updated;
    char *error;   /* the last attempt's error */
    char *owner;   /* the process holding it ("host:pid:nonce"), NULL when free */
    char *waiting; /* why it waits (its webhook cannot be resolved), or NULL */
} FwcLogRow;

/* One attempt (strings malloc'd; NULL when absent). */
typedef struct {
    int attempt; /* 1-based within its round (a replay starts a round) */
    double time; /* Unix time the outcome was recorded */
    FwcDeliveryStatus status;
    long response_status; /* 0 when no response */
    char *url;
    char *headers; /* "Name: value\r\n" lines */
    size_t headers_len;
    char *body;
    size_t body_len;
    char *error;
    double elapsed;
} FwcAttemptRow;

void fwc_log_rows_free(FwcLogRow *rows, size_t n);
void fwc_attempt_rows_free(FwcAttemptRow *rows, size_t n);

typedef struct {
    const char *id;      /* one delivery; NULL: any */
    const char *status;  /* "queued", "delivered", "failed", "exhausted", or NULL: any */
    const char *webhook; /* NULL: any */
    const char *docname; /* reference_document; NULL: any */
    double since;        /* created at or after (Unix time); 0: any */
    long limit;
} FwcLogQuery;

/* Counts by status, plus those waiting for their webhook and those leased now. */
typedef struct {
    unsigned long long queued, delivered, failed, exhausted, waiting, leased;
} FwcStoreCounts;

/* ---------- the store ---------- */

typedef struct FwcStore FwcStore;

typedef struct {
    const char *path;     /* a file path (sqlite:/// stripped by the caller) */
    int synchronous_full; /* PRAGMA synchronous=FULL (else NORMAL) */
    double lease;         /* seconds a claim lasts without renewal */
    double retention;     /* seconds delivered/exhausted rows are kept */
    double busy_timeout;  /* seconds a write waits for another process's lock */
    int must_exist;       /* Outbox: never create the file */
} FwcStoreOptions;

/* Opens (creating the file and schema if needed) and checks the schema version.  Errors
 * name the path: FWC_EVALUE for a file that is not an outbox or of an unknown version,
 * FWC_ERUNTIME for an I/O failure.  No thread is started: see fwc_store_attach. */
FwcStore *fwc_store_open(const FwcStoreOptions *opt, FwcError *err);
/* Starts the store thread for engine e (which gets an observer for its outcomes) and
 * claims what is due.  0 ok, -1 with err. */
int fwc_store_attach(FwcStore *s, FwcEngine *e, FwcError *err);
/* After the engine was closed: journals the last outcomes, releases every lease this
 * process holds (the deliveries stay stored, for the next process), stops the thread
 * and closes the database; then drops the caller's reference.  Blocks: call it without
 * the GIL. */
void fwc_store_close(FwcStore *s);
void fwc_store_incref(FwcStore *s);
void fwc_store_decref(FwcStore *s); /* frees at zero */
/* 1 once closing began (every operation below then fails). */
int fwc_store_closed(FwcStore *s);
/* A store inherited through fork(): forgotten without touching its connection. */
void fwc_store_abandon(FwcStore *s);
const char *fwc_store_path(const FwcStore *s);
const char *fwc_store_owner(const FwcStore *s);

/* Waits up to timeout seconds until every outcome published so far is written (flush()
 * then shows them in the log).  1 when it was, 0 on timeout.  Blocks: without the GIL. */
int fwc_store_sync(FwcStore *s, double timeout);

/* webhooks by name (store_webhooks.c); the store takes a reference to spec */
int fwc_store_register(FwcStore *s, FwcHookSpec *spec); /* 0, -1 OOM */
/* Whether a webhook of that name is registered. */
int fwc_store_knows(FwcStore *s, const char *name);
/* A resolver will be asked for unknown names (fwc_store_take_unresolved). */
void fwc_store_set_resolver(FwcStore *s, int on);
/* Names to resolve, waiting until there are some: a malloc'd array of malloc'd names, or
 * NULL once the store is closing.  Blocks: call it without the GIL. */
char **fwc_store_take_unresolved(FwcStore *s, size_t *n);
/* The resolver's answer for name: spec (registered) or NULL with why. */
void fwc_store_resolved(FwcStore *s, const char *name, FwcHookSpec *spec, const char *why);

/* intake (store_intake.c): one enqueue, or several in one transaction.  Each item is a
 * job made by fwc_job_new (its spec named).  Returns after the commit: 0 stored and pushed
 * into the engine (which took a reference), 1 the engine's queue is full (nothing stored),
 * 2 the engine is closed, -1 with err (nothing stored).  Blocks: call it without the
 * GIL. */
int fwc_store_enqueue(FwcStore *s, FwcJob **jobs, size_t n, FwcError *err);

/* the log (store.c) */
int fwc_store_deliveries(FwcStore *s, const FwcLogQuery *q, FwcLogRow **rows, size_t *n,
                         FwcError *err);
int fwc_store_attempts(FwcStore *s, const char *id, FwcAttemptRow **rows, size_t *n, FwcError *err);
int fwc_store_counts(FwcStore *s, FwcStoreCounts *c, FwcError *err);
/* Deletes delivered/exhausted deliveries (and their attempts) last updated before
 * `before` (Unix time); *removed counts them. */
int fwc_store_purge(FwcStore *s, double before, long long *removed, FwcError *err);
/* Marks a stored delivery to be sent again now, as a new round of attempts, by whichever
 * process claims it.  FWC_EVALUE when unknown or leased by a live process. */
int fwc_store_requeue(FwcStore *s, const char *id, FwcError *err);
/* Claims the stored delivery and pushes it into this process's engine now (a new round
 * of attempts: fresh timestamp and signature).  *out is the job (new reference). */
int fwc_store_replay(FwcStore *s, const char *id, FwcJob **out, FwcError *err);

/* ---------- inside the layer ---------- */

#define FWC_STORE_RECHECK    30.0 /* seconds before an unresolvable webhook is asked again */
#define FWC_STORE_POLL       0.5  /* seconds between looks for deliveries that fell due */
#define FWC_STORE_PURGE      3600 /* seconds between retention purges */
#define FWC_STORE_HOLD       0.8 /* of a lease: no attempt starts later than this after a renewal */
#define FWC_STORE_CHECKPOINT 1000   /* WAL frames that make the store thread checkpoint */
#define FWC_STORE_GATHER     0.0002 /* seconds a leader waits for enqueues on their way */

/* an attempt's outcome waiting to be journaled (store_thread.c) */
typedef struct FwcJournal {
    FwcJob *job;     /* one reference */
    FwcOutcome *out; /* one reference */
    struct FwcJournal *next;
} FwcJournal;

/* one enqueue's rows waiting for the group commit (store_intake.c) */
typedef struct FwcIntake {
    FwcJob **jobs;
    size_t n;
    FwcBuf *snaps; /* encoded snapshots, one per job */
    double now;
    int done, status; /* status: FWC_OK, or the batch's error */
    FwcError err;
    struct FwcIntake *next;
} FwcIntake;

/* a delivery the claim returned (store_sqlite.c) */
typedef struct {
    int64_t seq; /* the row */
    char id[32];
    char *webhook, *doctype, *docname; /* malloc'd */
    void *snap;
    size_t snap_len;
    int attempts;
} FwcClaimed;

typedef struct {
    char *name;
    FwcHookSpec *spec; /* NULL: the resolver could not find it (why, until when) */
    char *why;
    double until;
} FwcNamedHook;

struct FwcStore {
    atomic_int refs; /* the Python object, and the resolver thread's handle */
    char *path;
    char owner[96]; /* "host:pid:nonce" */
    FwcStoreOptions opt;
    pid_t pid;
    /* the connection: db_lock serialises every use */
    pthread_mutex_t db_lock;
    sqlite3 *db;
    sqlite3 *ckpt;         /* the store thread's own connection, for checkpoints only */
    atomic_int wal_frames; /* frames in the WAL after the last commit (its wal_hook) */
    sqlite3_stmt *st_insert, *st_snapshot, *st_load, *st_attempt, *st_outcome, *st_begin,
        *st_commit, *st_rollback;
    /* everything below is under `lock` */
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* the store thread: journal, claims, stop */
    pthread_cond_t intake;    /* group commit: a batch committed */
    pthread_cond_t arrived;   /* group commit: an enqueue joined the pending list */
    pthread_cond_t journaled; /* the journal was written (fwc_store_sync) */
    pthread_cond_t resolver;  /* names for the resolver, or closing */
    FwcEngine *eng;           /* strong, once attached */
    FwcIntake *pending, **pending_tail;
    size_t npending;   /* enqueues in `pending` */
    size_t last_group; /* enqueues the last transaction held */
    int committing, gathering;
    FwcJournal *journal, **journal_tail;
    int journaling; /* batches of the journal being written (store thread, intake leader) */
    int claim_now;  /* look for due deliveries at once (a webhook was registered) */
    int stopping, thread_started;
    pthread_t thread;
    FwcNamedHook *hooks;
    size_t nhooks, hooks_cap;
    int resolver_on;
    char **unresolved; /* names asked of the resolver, not yet answered */
    size_t nunresolved, unresolved_cap;
    char **asked; /* names given to the resolver and not answered yet */
    size_t nasked, asked_cap;
    char **recheck; /* names just registered: their waiting deliveries may go (thread) */
    size_t nrecheck, recheck_cap;
    unsigned long long store_errors;       /* writes of the store thread that failed */
    unsigned long long commits, committed; /* intake transactions, and deliveries in them */
    char last_error[256];
};

/* store_sqlite.c: each takes db_lock; errors are FWC_ESTORE "<path>: <why>" */
int fwc_db_open(FwcStore *s, FwcError *err);
void fwc_db_close(FwcStore *s);
/* Takes WAL checkpoints off the committing threads: the store thread runs them on a
 * connection of its own (fwc_db_checkpoint), while enqueues go on committing. */
int fwc_db_checkpointer(FwcStore *s, FwcError *err);
/* A passive checkpoint when the WAL has grown past FWC_STORE_CHECKPOINT frames. */
void fwc_db_checkpoint(FwcStore *s);
/* The rows of batch, and the outcomes of journal (may be NULL) with them: one commit. */
int fwc_db_insert(FwcStore *s, FwcIntake *batch, FwcJournal *journal, FwcError *err);
int fwc_db_journal(FwcStore *s, FwcJournal *items, FwcError *err);
/* This process's lease (one row of fwc_owner): taken at attach, renewed every lease/3. */
int fwc_db_register_owner(FwcStore *s, FwcError *err);
/* *lost: the lease had been taken over (we stalled past it); nothing is renewed. */
int fwc_db_renew(FwcStore *s, double now, int *lost, FwcError *err);
int fwc_db_release_all(FwcStore *s, FwcError *err);
int fwc_db_claim(FwcStore *s, double now, long limit, FwcClaimed **out, size_t *n, FwcError *err);
void fwc_claimed_free(FwcClaimed *c, size_t n);
void fwc_claimed_clear(FwcClaimed *c); /* frees what one holds */
/* Gives a claimed delivery back: waiting = why (NULL: none), claimable again at recheck. */
int fwc_db_release(FwcStore *s, const char *id, const char *waiting, double recheck, FwcError *err);
/* Deliveries waiting for webhook `name` may be claimed at once. */
int fwc_db_recheck(FwcStore *s, const char *name, FwcError *err);
int fwc_db_delete(FwcStore *s, const char *id, FwcError *err);
int fwc_db_deliveries(FwcStore *s, const FwcLogQuery *q, FwcLogRow **rows, size_t *n,
                      FwcError *err);
int fwc_db_attempts(FwcStore *s, const char *id, FwcAttemptRow **rows, size_t *n, FwcError *err);
int fwc_db_counts(FwcStore *s, double now, FwcStoreCounts *c, FwcError *err);
int fwc_db_purge(FwcStore *s, double before, long long *removed, FwcError *err);
/* Requeue (owner NULL) or, for replay, claim for this process (owner = s->owner and *out
 * the delivery); FWC_EVALUE when unknown or held by another process. */
int fwc_db_requeue(FwcStore *s, const char *id, int claim, FwcClaimed *out, FwcError *err);

/* store_webhooks.c (under `lock`) */
FwcHookSpec *fwc_store_lookup(FwcStore *s, const char *name); /* borrowed, or NULL */
/* Asks the resolver for name (once until answered): 1 asked (or being asked), 0 when
 * it cannot be (no resolver, or it failed to find it less than FWC_STORE_RECHECK ago: *why
 * says why). */
int fwc_store_ask(FwcStore *s, const char *name, const char **why);
void fwc_store_hooks_free(FwcStore *s);

/* store_thread.c */
void fwc_store_observe(void *ctx, FwcJob *j, FwcOutcome *o); /* the engine's observer */
/* After a journal batch was written (ok) or not: frees it, or puts it back for the store
 * thread to retry; wakes fwc_store_sync's waiters.  Lock held. */
void fwc_journal_done(FwcStore *s, FwcJournal *batch, int ok);
void *fwc_store_main(void *s);
/* A job for a claimed delivery pushed into the engine: 0 pushed, 1 no webhook (the caller
 * releases it), -1 with err (the caller releases it). */
int fwc_store_push_claimed(FwcStore *s, FwcClaimed *c, FwcJob **out, FwcError *err);

#endif
