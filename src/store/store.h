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
    int readonly_ok;      /* Outbox: open for reading and administration only */
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
 * and closes the database.  Blocks: call it without the GIL.  Frees s. */
void fwc_store_close(FwcStore *s);
/* A store inherited through fork(): forgotten without touching its connection. */
void fwc_store_abandon(FwcStore *s);
const char *fwc_store_path(const FwcStore *s);
const char *fwc_store_owner(const FwcStore *s);

/* webhooks by name (store_webhooks.c); the store takes a reference to spec */
int fwc_store_register(FwcStore *s, FwcHookSpec *spec); /* 0, -1 OOM */
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
int fwc_store_attempts(FwcStore *s, const char *id, FwcAttemptRow **rows, size_t *n,
                       FwcError *err);
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

#endif
