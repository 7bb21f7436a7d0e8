/* store_sqlite.c — the SQLite backend of the store: opening (WAL, the schema and its
 * version, migrations), and every SQL statement the store runs.  Each function takes the
 * store's db_lock: one connection per store, used by the enqueuing threads (group commit)
 * and the store thread in turn.  Errors are FWC_ESTORE "<path>: <SQLite's words>".
 *
 * Statuses are stored as Delivery.status shows them ("Queued", "Delivered", ...), so that
 * the file reads well in the sqlite3 shell too. */
#include "store/store.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#define SCHEMA_VERSION 1
#define FORMAT         "frappe_webhook_c outbox"

/* MIGRATIONS[v] takes a database from version v to v + 1 (version 0: empty).  Every index
 * costs every enqueue a page write: fwc_delivery has two (id, and the pending rows). */
static const char *const MIGRATIONS[SCHEMA_VERSION] = {
    "CREATE TABLE fwc_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO fwc_meta VALUES ('format', '" FORMAT "');"
    "CREATE TABLE fwc_delivery("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " webhook TEXT NOT NULL,"
    " reference_doctype TEXT, reference_document TEXT,"
    " status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0," /* within the current round */
    " due REAL NOT NULL,"                   /* may be sent from (Unix time) */
    " owner TEXT,"                          /* the process holding it (fwc_owner) */
    " created REAL NOT NULL, updated REAL NOT NULL,"
    " error TEXT,"
    " waiting TEXT, recheck REAL);" /* its webhook could not be resolved */
    /* what is pending, by holder and time: a claim reads the free ones (owner NULL) and
     * those of a dead holder, never the rows a live process holds */
    "CREATE INDEX fwc_delivery_pending ON fwc_delivery(owner, due) "
    "WHERE status IN ('Queued', 'Failed');"
    /* one lease per process, renewed in one row however many deliveries it holds */
    "CREATE TABLE fwc_owner(owner TEXT PRIMARY KEY, lease_until REAL NOT NULL);"
    /* apart, so that the updates of a delivery never rewrite its (large) snapshot */
    "CREATE TABLE fwc_snapshot(delivery INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE fwc_attempt("
    " delivery INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " time REAL NOT NULL,"
    " status TEXT NOT NULL,"
    " response_status INTEGER,"
    " url TEXT, response_headers TEXT, response_body BLOB,"
    " error TEXT, elapsed REAL);"
    "CREATE INDEX fwc_attempt_delivery ON fwc_attempt(delivery);"
    "CREATE TRIGGER fwc_delivery_gone AFTER DELETE ON fwc_delivery BEGIN"
    " DELETE FROM fwc_snapshot WHERE delivery = old.seq;"
    " DELETE FROM fwc_attempt WHERE delivery = old.seq; END;",
};

static int fail(FwcStore *s, FwcError *err, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    const char *msg = sqlite3_errmsg(s->db);
    if ((code & 0xff) == SQLITE_NOMEM) return fwc_error_set(err, FWC_ENOMEM, "out of memory");
    return fwc_error_set(err, FWC_ESTORE, "%s: %s (%s)", s->path, msg, what);
}

/* Runs sql (no rows wanted); FWC_OK or an error naming what. */
static int exec(FwcStore *s, const char *sql, FwcError *err, const char *what)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? FWC_OK : fail(s, err, what);
}

/* The first column of the first row of sql as an int (0 when no row); -1 with err. */
static int query_int(FwcStore *s, const char *sql, long long *out, FwcError *err)
{
    sqlite3_stmt *st;
    *out = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, err, sql);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FWC_OK : fail(s, err, sql);
}

static int prepare(FwcStore *s, sqlite3_stmt **st, const char *sql, FwcError *err)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? FWC_OK
               : fail(s, err, "preparing a statement");
}

/* Brings the schema to SCHEMA_VERSION in one transaction, or says why it cannot. */
static int migrate(FwcStore *s, FwcError *err)
{
    if (exec(s, "BEGIN IMMEDIATE", err, "opening")) return err->code;
    long long version, tables, ours;
    int rc = query_int(s, "PRAGMA user_version", &version, err);
    if (!rc) rc = query_int(s, "SELECT count(*) FROM sqlite_master", &tables, err);
    if (!rc && version == 0 && tables > 0)
        rc = fwc_error_set(err, FWC_EVALUE,
                           "%s: not a frappe_webhook_c outbox (it has other tables)", s->path);
    if (!rc && version > 0) {
        rc = query_int(s,
                       "SELECT count(*) FROM sqlite_master WHERE name = 'fwc_meta' AND "
                       "type = 'table'",
                       &ours, err);
        if (!rc && ours)
            rc = query_int(
                s, "SELECT count(*) FROM fwc_meta WHERE key = 'format' AND value = '" FORMAT "'",
                &ours, err);
        if (!rc && !ours)
            rc = fwc_error_set(err, FWC_EVALUE, "%s: not a frappe_webhook_c outbox", s->path);
        if (!rc && version > SCHEMA_VERSION)
            rc = fwc_error_set(err, FWC_EVALUE,
                               "%s: the outbox has schema version %lld; this frappe_webhook_c "
                               "reads up to version %d (upgrade frappe_webhook_c)",
                               s->path, version, SCHEMA_VERSION);
    }
    for (long long v = version; !rc && v < SCHEMA_VERSION; v++) {
        rc = exec(s, MIGRATIONS[v], err, "creating the schema");
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", v + 1);
        if (!rc) rc = exec(s, sql, err, "setting the schema version");
    }
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return exec(s, "COMMIT", err, "creating the schema");
}

/* SQL fwc_dead(owner): 1 when owner ("host:pid:nonce") is a process of this host that no
 * longer exists, so its leases need not run out before its deliveries are taken over.  A
 * reused pid only looks alive: the lease then decides, as for another host. */
static void sql_dead(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *owner = (const char *)sqlite3_value_text(argv[0]);
    FwcStore *s = sqlite3_user_data(ctx);
    int dead = 0;
    const char *colon = owner ? strchr(owner, ':') : NULL;
    size_t hlen = strcspn(s->owner, ":");
    if (colon && (size_t)(colon - owner) == hlen && !strncmp(owner, s->owner, hlen)) {
        long pid = strtol(colon + 1, NULL, 10);
        dead = pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
    }
    sqlite3_result_int(ctx, dead);
}

/* WAL mode (persistent in the file).  Switching needs the file to itself for a moment,
 * and SQLite does not wait for that: processes opening a new store together retry here
 * for up to busy_timeout. */
static int to_wal(FwcStore *s, FwcError *err)
{
    double until = fwc_mono_now() + s->opt.busy_timeout;
    for (;;) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
            return fail(s, err, "switching to WAL");
        int rc = sqlite3_step(st);
        const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        int wal = mode && !strcmp(mode, "wal");
        sqlite3_finalize(st);
        if (wal) return FWC_OK;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED && rc != SQLITE_ROW) ||
            fwc_mono_now() >= until)
            return mode ? (int)fwc_error_set(err, FWC_ESTORE,
                                             "%s: could not switch to WAL (%s mode)", s->path, mode)
                        : fail(s, err, "switching to WAL");
        usleep(5000);
    }
}

int fwc_db_open(FwcStore *s, FwcError *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (!s->opt.must_exist) flags |= SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        if (!s->db) return fwc_error_set(err, FWC_ENOMEM, "out of memory");
        return fail(s, err, "opening");
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_create_function(s->db, "fwc_dead", 1, SQLITE_UTF8, s, sql_dead, NULL, NULL);
    sqlite3_busy_timeout(s->db, (int)(s->opt.busy_timeout * 1000));
    long long v;
    /* the first read: a file that is not a database says so here */
    if (query_int(s, "PRAGMA user_version", &v, err)) {
        if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_NOTADB) err->code = FWC_EVALUE;
        return err->code;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA synchronous = %s",
             s->opt.synchronous_full ? "FULL" : "NORMAL");
    if (to_wal(s, err) || exec(s, sql, err, "setting synchronous") || migrate(s, err))
        return err->code;
    if (prepare(s, &s->st_begin, "BEGIN IMMEDIATE", err) ||
        prepare(s, &s->st_commit, "COMMIT", err) || prepare(s, &s->st_rollback, "ROLLBACK", err) ||
        prepare(s, &s->st_insert,
                "INSERT INTO fwc_delivery(id, webhook, reference_doctype, reference_document, "
                "status, attempts, due, owner, created, updated) "
                "VALUES (?1, ?2, ?3, ?4, 'Queued', 0, ?6, ?7, ?6, ?6)",
                err) ||
        prepare(s, &s->st_snapshot, "INSERT INTO fwc_snapshot(delivery, data) VALUES (?1, ?2)",
                err) ||
        prepare(s, &s->st_load, "SELECT data FROM fwc_snapshot WHERE delivery = ?1", err) ||
        prepare(s, &s->st_attempt,
                "INSERT INTO fwc_attempt(delivery, attempt, time, status, response_status, "
                "url, response_headers, response_body, error, elapsed) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                err) ||
        prepare(s, &s->st_outcome,
                "UPDATE fwc_delivery SET status = ?2, attempts = ?3, due = ?4, error = ?5, "
                "updated = ?6, owner = CASE WHEN ?7 THEN NULL ELSE owner END "
                "WHERE seq = ?1 AND owner = ?8",
                err))
        return err->code;
    return FWC_OK;
}

static int on_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
    FwcStore *s = arg;
    atomic_store_explicit(&s->wal_frames, frames, memory_order_relaxed);
    if (frames >= FWC_STORE_CHECKPOINT) pthread_cond_signal(&s->wake); /* a hint: it polls */
    return SQLITE_OK;
}

int fwc_db_checkpointer(FwcStore *s, FwcError *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    /* a first read makes the new connection see the WAL (else it checkpoints nothing) */
    if (sqlite3_open_v2(s->path, &s->ckpt, flags, NULL) != SQLITE_OK ||
        sqlite3_exec(s->ckpt, "SELECT count(*) FROM fwc_meta", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = fwc_error_set(err, FWC_ESTORE, "%s: %s (opening)", s->path,
                               s->ckpt ? sqlite3_errmsg(s->ckpt) : "out of memory");
        sqlite3_close_v2(s->ckpt);
        s->ckpt = NULL;
        return rc;
    }
    pthread_mutex_lock(&s->db_lock);
    sqlite3_wal_autocheckpoint(s->db, 0);
    sqlite3_wal_hook(s->db, on_wal, s);
    pthread_mutex_unlock(&s->db_lock);
    return FWC_OK;
}

void fwc_db_checkpoint(FwcStore *s)
{
    if (!s->ckpt ||
        atomic_load_explicit(&s->wal_frames, memory_order_relaxed) < FWC_STORE_CHECKPOINT)
        return;
    /* passive: copies what no reader needs and never waits; first the bulk while
     * enqueues go on, then the few frames they added, with our writer paused, so that
     * the whole WAL is copied and the next commit starts it over (else it only grows) */
    sqlite3_wal_checkpoint_v2(s->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&s->db_lock);
    sqlite3_wal_checkpoint_v2(s->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_unlock(&s->db_lock);
    atomic_store_explicit(&s->wal_frames, 0, memory_order_relaxed);
}

void fwc_db_close(FwcStore *s)
{
    sqlite3_stmt *sts[] = { s->st_insert,  s->st_snapshot, s->st_load,   s->st_attempt,
                            s->st_outcome, s->st_begin,    s->st_commit, s->st_rollback };
    for (size_t i = 0; i < sizeof sts / sizeof *sts; i++) sqlite3_finalize(sts[i]);
    s->st_insert = s->st_snapshot = s->st_load = s->st_attempt = s->st_outcome = NULL;
    s->st_begin = s->st_commit = s->st_rollback = NULL;
    if (s->ckpt) sqlite3_close_v2(s->ckpt);
    s->ckpt = NULL;
    if (s->db) sqlite3_close_v2(s->db);
    s->db = NULL;
}

/* ---------- transactions ---------- */

/* Takes db_lock; -1 (unlocked, err set) when the store was closed. */
static int lock_db(FwcStore *s, FwcError *err)
{
    pthread_mutex_lock(&s->db_lock);
    if (s->db) return 0;
    pthread_mutex_unlock(&s->db_lock);
    fwc_error_set(err, FWC_ERUNTIME, "the store %s is closed", s->path);
    return -1;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int begin(FwcStore *s, FwcError *err)
{
    return step_done(s->st_begin) ? fail(s, err, "starting a transaction") : FWC_OK;
}

/* Commits; on failure rolls back and reports.  rc: what the transaction's body returned. */
static int finish(FwcStore *s, int rc, FwcError *err, const char *what)
{
    if (!rc && step_done(s->st_commit)) rc = fail(s, err, what);
    if (rc && !sqlite3_get_autocommit(s->db)) step_done(s->st_rollback);
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *t)
{
    if (t) sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

/* The rows of every enqueue in batch (inside a transaction). */
static int put_rows(FwcStore *s, FwcIntake *batch, FwcError *err)
{
    int rc = FWC_OK;
    for (FwcIntake *in = batch; !rc && in; in = in->next) {
        for (size_t i = 0; !rc && i < in->n; i++) {
            FwcJob *j = in->jobs[i];
            sqlite3_stmt *st = s->st_insert;
            sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, j->spec->name, -1, SQLITE_STATIC);
            bind_text(st, 3, j->doctype);
            bind_text(st, 4, j->docname);
            sqlite3_bind_double(st, 6, in->now);
            sqlite3_bind_text(st, 7, s->owner, -1, SQLITE_STATIC);
            if (step_done(st)) rc = fail(s, err, "storing a delivery");
            sqlite3_clear_bindings(st);
            if (rc) break;
            j->store_seq = sqlite3_last_insert_rowid(s->db);
            st = s->st_snapshot;
            sqlite3_bind_int64(st, 1, j->store_seq);
            sqlite3_bind_blob(st, 2, in->snaps[i].data, (int)in->snaps[i].len, SQLITE_STATIC);
            if (step_done(st)) rc = fail(s, err, "storing a delivery");
            sqlite3_clear_bindings(st);
        }
    }
    return rc;
}

/* An attempt row and the delivery's new state for each item (inside a transaction). */
static int put_outcomes(FwcStore *s, FwcJournal *items, FwcError *err)
{
    int rc = FWC_OK;
    double now = fwc_wall_now();
    for (FwcJournal *it = items; !rc && it; it = it->next) {
        FwcJob *j = it->job;
        FwcOutcome *o = it->out;
        const char *status = fwc_delivery_status_name(o->status);
        sqlite3_stmt *st = s->st_attempt;
        sqlite3_bind_int64(st, 1, j->store_seq);
        sqlite3_bind_int(st, 2, o->attempt);
        sqlite3_bind_double(st, 3, now);
        sqlite3_bind_text(st, 4, status, -1, SQLITE_STATIC);
        if (o->res.status) sqlite3_bind_int64(st, 5, o->res.status);
        bind_text(st, 6, o->built ? (o->res.url ? o->res.url : o->req.url) : NULL);
        if (o->res.status) {
            sqlite3_bind_text(st, 7, o->res.headers.data ? o->res.headers.data : "",
                              (int)o->res.headers.len, SQLITE_STATIC);
            sqlite3_bind_blob(st, 8, o->res.body.data ? o->res.body.data : "", (int)o->res.body.len,
                              SQLITE_STATIC);
        }
        bind_text(st, 9, o->error);
        if (o->built) sqlite3_bind_double(st, 10, o->res.elapsed);
        if (step_done(st)) rc = fail(s, err, "journaling an attempt");
        sqlite3_clear_bindings(st);
        if (rc) break;
        int final = o->status == FWC_DS_DELIVERED || o->status == FWC_DS_EXHAUSTED;
        st = s->st_outcome;
        sqlite3_bind_int64(st, 1, j->store_seq);
        sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, o->attempt);
        sqlite3_bind_double(st, 4, o->status == FWC_DS_FAILED ? o->next_retry : now);
        bind_text(st, 5, o->error);
        sqlite3_bind_double(st, 6, now);
        sqlite3_bind_int(st, 7, final);
        sqlite3_bind_text(st, 8, s->owner, -1, SQLITE_STATIC);
        if (step_done(st)) rc = fail(s, err, "journaling an outcome");
        sqlite3_clear_bindings(st);
    }
    return rc;
}

int fwc_db_insert(FwcStore *s, FwcIntake *batch, FwcJournal *journal, FwcError *err)
{
    if (lock_db(s, err)) return err->code;
    int rc = begin(s, err);
    if (!rc) rc = put_rows(s, batch, err);
    if (!rc && journal) rc = put_outcomes(s, journal, err);
    rc = finish(s, rc, err, "storing deliveries");
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int fwc_db_journal(FwcStore *s, FwcJournal *items, FwcError *err)
{
    if (lock_db(s, err)) return err->code;
    int rc = begin(s, err);
    if (!rc) rc = put_outcomes(s, items, err);
    rc = finish(s, rc, err, "journaling outcomes");
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

/* ---------- statements run now and then (prepared each time) ---------- */

/* Runs one write statement with the binder's parameters in its own transaction; *changes
 * (if given) counts the rows it changed. */
typedef void (*Binder)(sqlite3_stmt *st, const void *arg);

static int write1(FwcStore *s, const char *sql, Binder bind, const void *arg, long long *changes,
                  FwcError *err, const char *what)
{
    if (lock_db(s, err)) return err->code;
    sqlite3_stmt *st;
    int rc = FWC_OK;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) rc = fail(s, err, what);
    else {
        bind(st, arg);
        if (sqlite3_step(st) != SQLITE_DONE) rc = fail(s, err, what);
        else if (changes) *changes = sqlite3_changes64(s->db);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

typedef struct {
    FwcStore *s;
    double t;
    const char *text, *text2;
} Args;

static void bind_renew(sqlite3_stmt *st, const void *p)
{
    const Args *a = p;
    sqlite3_bind_double(st, 1, a->t);
    sqlite3_bind_text(st, 2, a->s->owner, -1, SQLITE_STATIC);
}

int fwc_db_renew(FwcStore *s, double now, int *lost, FwcError *err)
{
    Args a = { s, now + s->opt.lease, NULL, NULL };
    long long changed = 0;
    int rc = write1(s, "UPDATE fwc_owner SET lease_until = ?1 WHERE owner = ?2", bind_renew, &a,
                    &changed, err, "renewing the lease");
    /* gone: another process took us for dead (we stalled past the lease) and released
     * what we held then; the caller starts over (fwc_store_thread) */
    *lost = !rc && !changed;
    return rc;
}

static void bind_owner(sqlite3_stmt *st, const void *p)
{
    sqlite3_bind_text(st, 1, ((const Args *)p)->s->owner, -1, SQLITE_STATIC);
}

int fwc_db_register_owner(FwcStore *s, FwcError *err)
{
    Args a = { s, fwc_wall_now() + s->opt.lease, NULL, NULL };
    return write1(s, "INSERT OR REPLACE INTO fwc_owner(lease_until, owner) VALUES (?1, ?2)",
                  bind_renew, &a, NULL, err, "taking a lease");
}

int fwc_db_release_all(FwcStore *s, FwcError *err)
{
    Args a = { s, 0, NULL, NULL };
    int rc = write1(s,
                    "UPDATE fwc_delivery SET owner = NULL WHERE owner = ?1 AND "
                    "status IN ('Queued', 'Failed')",
                    bind_owner, &a, NULL, err, "releasing deliveries");
    if (!rc)
        rc = write1(s, "DELETE FROM fwc_owner WHERE owner = ?1", bind_owner, &a, NULL, err,
                    "releasing the lease");
    return rc;
}

static void bind_release(sqlite3_stmt *st, const void *p)
{
    const Args *a = p;
    sqlite3_bind_text(st, 1, a->text, -1, SQLITE_STATIC);
    bind_text(st, 2, a->text2);
    sqlite3_bind_double(st, 3, a->t);
    sqlite3_bind_text(st, 4, a->s->owner, -1, SQLITE_STATIC);
}

int fwc_db_release(FwcStore *s, const char *id, const char *waiting, double recheck, FwcError *err)
{
    Args a = { s, recheck, id, waiting };
    return write1(s,
                  "UPDATE fwc_delivery SET owner = NULL, waiting = ?2, recheck = ?3 "
                  "WHERE id = ?1 AND owner = ?4",
                  bind_release, &a, NULL, err, "releasing a delivery");
}

static void bind_text1(sqlite3_stmt *st, const void *p)
{
    sqlite3_bind_text(st, 1, ((const Args *)p)->text, -1, SQLITE_STATIC);
}

int fwc_db_recheck(FwcStore *s, const char *name, FwcError *err)
{
    Args a = { s, 0, name, NULL };
    return write1(s,
                  "UPDATE fwc_delivery SET recheck = NULL WHERE webhook = ?1 AND "
                  "waiting IS NOT NULL AND status IN ('Queued', 'Failed')",
                  bind_text1, &a, NULL, err, "marking deliveries to resolve");
}

static void bind_delete(sqlite3_stmt *st, const void *p)
{
    const Args *a = p;
    sqlite3_bind_text(st, 1, a->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->s->owner, -1, SQLITE_STATIC);
}

int fwc_db_delete(FwcStore *s, const char *id, FwcError *err)
{
    Args a = { s, 0, id, NULL };
    return write1(s, "DELETE FROM fwc_delivery WHERE id = ?1 AND owner = ?2", bind_delete, &a, NULL,
                  err, "withdrawing a delivery");
}

static void bind_purge(sqlite3_stmt *st, const void *p)
{
    sqlite3_bind_double(st, 1, ((const Args *)p)->t);
}

int fwc_db_purge(FwcStore *s, double before, long long *removed, FwcError *err)
{
    Args a = { s, before, NULL, NULL };
    *removed = 0;
    /* their snapshots and attempts go with them (trigger fwc_delivery_gone) */
    return write1(s,
                  "DELETE FROM fwc_delivery WHERE status IN ('Delivered', 'Exhausted') AND "
                  "updated < ?1",
                  bind_purge, &a, removed, err, "purging deliveries");
}

/* ---------- claims ---------- */

static char *column_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void copy_id(char out[32], sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, 32, "%s", t ? (const char *)t : "");
}

/* Fills c from a row (seq, id, webhook, doctype, docname, attempts) and its snapshot;
 * -1 OOM (or a row without snapshot: c->snap NULL). */
static int claimed_from(FwcStore *s, FwcClaimed *c, sqlite3_stmt *st)
{
    memset(c, 0, sizeof *c);
    c->seq = sqlite3_column_int64(st, 0);
    copy_id(c->id, st, 1);
    c->webhook = column_dup(st, 2);
    c->doctype = column_dup(st, 3);
    c->docname = column_dup(st, 4);
    c->attempts = sqlite3_column_int(st, 5);
    sqlite3_stmt *ld = s->st_load;
    sqlite3_bind_int64(ld, 1, c->seq);
    if (sqlite3_step(ld) == SQLITE_ROW) {
        c->snap_len = (size_t)sqlite3_column_bytes(ld, 0);
        c->snap = malloc(c->snap_len ? c->snap_len : 1);
        if (c->snap && c->snap_len) memcpy(c->snap, sqlite3_column_blob(ld, 0), c->snap_len);
    }
    sqlite3_reset(ld);
    return c->webhook && c->snap ? 0 : -1;
}

void fwc_claimed_clear(FwcClaimed *c)
{
    free(c->webhook);
    free(c->doctype);
    free(c->docname);
    free(c->snap);
    memset(c, 0, sizeof *c);
}

void fwc_claimed_free(FwcClaimed *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) fwc_claimed_clear(&c[i]);
    free(c);
}

/* Frees the deliveries of holders whose lease ran out or who are dead processes of this
 * host (inside a transaction). */
static int release_dead(FwcStore *s, double now, FwcError *err)
{
    sqlite3_stmt *dead, *rel, *del;
    int rc = FWC_OK;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT owner FROM fwc_owner WHERE owner <> ?1 AND "
                           "(lease_until < ?2 OR fwc_dead(owner))",
                           -1, &dead, NULL) != SQLITE_OK)
        return fail(s, err, "finding dead holders");
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE fwc_delivery SET owner = NULL WHERE owner = ?1 AND "
                           "status IN ('Queued', 'Failed')",
                           -1, &rel, NULL) != SQLITE_OK) {
        sqlite3_finalize(dead);
        return fail(s, err, "taking over deliveries");
    }
    if (sqlite3_prepare_v2(s->db, "DELETE FROM fwc_owner WHERE owner = ?1", -1, &del, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(dead);
        sqlite3_finalize(rel);
        return fail(s, err, "taking over deliveries");
    }
    sqlite3_bind_text(dead, 1, s->owner, -1, SQLITE_STATIC);
    sqlite3_bind_double(dead, 2, now);
    int r;
    while (!rc && (r = sqlite3_step(dead)) == SQLITE_ROW) {
        const unsigned char *owner = sqlite3_column_text(dead, 0);
        sqlite3_bind_text(rel, 1, (const char *)owner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(del, 1, (const char *)owner, -1, SQLITE_TRANSIENT);
        if (step_done(rel) || step_done(del)) rc = fail(s, err, "taking over deliveries");
    }
    if (!rc && r != SQLITE_DONE) rc = fail(s, err, "finding dead holders");
    sqlite3_finalize(dead);
    sqlite3_finalize(rel);
    sqlite3_finalize(del);
    return rc;
}

int fwc_db_claim(FwcStore *s, double now, long limit, FwcClaimed **out, size_t *n, FwcError *err)
{
    *out = NULL;
    *n = 0;
    FwcClaimed *rows = calloc((size_t)limit, sizeof *rows);
    if (!rows) return fwc_error_set(err, FWC_ENOMEM, "out of memory");
    if (lock_db(s, err)) {
        free(rows);
        return err->code;
    }
    sqlite3_stmt *st = NULL;
    int rc = begin(s, err);
    if (!rc) rc = release_dead(s, now, err);
    if (!rc &&
        sqlite3_prepare_v2(
            s->db,
            "UPDATE fwc_delivery SET owner = ?1, waiting = NULL, recheck = NULL "
            "WHERE seq IN (SELECT seq FROM fwc_delivery WHERE status IN ('Queued', 'Failed') "
            "AND owner IS NULL AND due <= ?2 AND (recheck IS NULL OR recheck <= ?2) "
            "ORDER BY due LIMIT ?3) "
            "RETURNING seq, id, webhook, reference_doctype, reference_document, attempts",
            -1, &st, NULL) != SQLITE_OK)
        rc = fail(s, err, "claiming deliveries");
    if (!rc) {
        sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, now);
        sqlite3_bind_int64(st, 3, limit);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < (size_t)limit)
            if (claimed_from(s, &rows[(*n)++], st) < 0) {
                rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
                break;
            }
        if (!rc && r != SQLITE_DONE && r != SQLITE_ROW) rc = fail(s, err, "claiming deliveries");
    }
    sqlite3_finalize(st);
    rc = finish(s, rc, err, "claiming deliveries");
    pthread_mutex_unlock(&s->db_lock);
    if (rc) {
        fwc_claimed_free(rows, *n); /* rolled back: nothing was claimed */
        *n = 0;
        return rc;
    }
    *out = rows;
    return FWC_OK;
}

int fwc_db_requeue(FwcStore *s, const char *id, int claim, FwcClaimed *out, FwcError *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (lock_db(s, err)) return err->code;
    double now = fwc_wall_now();
    int rc = begin(s, err);
    sqlite3_stmt *st = NULL;
    if (!rc && sqlite3_prepare_v2(s->db,
                                  "SELECT seq, id, webhook, reference_doctype, reference_document, "
                                  "attempts, owner, (SELECT lease_until FROM fwc_owner o WHERE "
                                  "o.owner = d.owner), status FROM fwc_delivery d WHERE id = ?1",
                                  -1, &st, NULL) != SQLITE_OK)
        rc = fail(s, err, "reading a delivery");
    if (!rc) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            rc = fwc_error_set(err, FWC_EVALUE, "no delivery %s in %s", id, s->path);
        else if (r != SQLITE_ROW) rc = fail(s, err, "reading a delivery");
        else {
            const char *owner = (const char *)sqlite3_column_text(st, 6);
            const char *status = (const char *)sqlite3_column_text(st, 8);
            int live = owner && sqlite3_column_double(st, 7) >= now;
            int pending = status && (!strcmp(status, "Queued") || !strcmp(status, "Failed"));
            if (live && pending)
                rc = fwc_error_set(err, FWC_EVALUE,
                                   "delivery %s is %s and held by %s%s: it will be sent without "
                                   "a replay",
                                   id, status, owner,
                                   strcmp(owner, s->owner) ? "" : " (this process)");
            else if (claim && claimed_from(s, out, st) < 0)
                rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
            else if (claim) out->attempts = 0; /* a new round */
        }
        sqlite3_finalize(st);
    }
    if (!rc) {
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE fwc_delivery SET status = 'Queued', attempts = 0, due = ?2, "
                               "updated = ?2, error = NULL, waiting = NULL, recheck = NULL, "
                               "owner = ?3 WHERE id = ?1",
                               -1, &st, NULL) != SQLITE_OK)
            rc = fail(s, err, "requeuing a delivery");
        else {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_double(st, 2, now);
            if (claim) {
                sqlite3_bind_text(st, 3, s->owner, -1, SQLITE_STATIC);
            }
            if (sqlite3_step(st) != SQLITE_DONE) rc = fail(s, err, "requeuing a delivery");
            sqlite3_finalize(st);
        }
    }
    rc = finish(s, rc, err, "requeuing a delivery");
    pthread_mutex_unlock(&s->db_lock);
    if (rc && claim) fwc_claimed_clear(out);
    return rc;
}

/* ---------- the log ---------- */

static FwcDeliveryStatus status_of(const unsigned char *t)
{
    if (!t) return FWC_DS_QUEUED;
    if (!strcmp((const char *)t, "Delivered")) return FWC_DS_DELIVERED;
    if (!strcmp((const char *)t, "Failed")) return FWC_DS_FAILED;
    if (!strcmp((const char *)t, "Exhausted")) return FWC_DS_EXHAUSTED;
    return FWC_DS_QUEUED;
}

/* "queued" / "DELIVERED" ... as stored ("Delivered"), or NULL when not a status */
static const char *status_word(const char *t)
{
    static const char *const words[] = { "Queued", "Delivered", "Failed", "Exhausted" };
    for (size_t i = 0; i < 4; i++)
        if (!strcasecmp(t, words[i])) return words[i];
    return NULL;
}

void fwc_log_rows_free(FwcLogRow *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        FwcLogRow *r = &rows[i];
        free(r->webhook);
        free(r->doctype);
        free(r->docname);
        free(r->error);
        free(r->owner);
        free(r->waiting);
    }
    free(rows);
}

void fwc_attempt_rows_free(FwcAttemptRow *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].url);
        free(rows[i].headers);
        free(rows[i].body);
        free(rows[i].error);
    }
    free(rows);
}

/* Grows *rows (of `size` bytes each) to hold one more; -1 OOM. */
static int grow(void **rows, size_t n, size_t *cap, size_t size)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*rows, nc * size);
    if (!p) return -1;
    memset((char *)p + *cap * size, 0, (nc - *cap) * size);
    *rows = p;
    *cap = nc;
    return 0;
}

int fwc_db_deliveries(FwcStore *s, const FwcLogQuery *q, FwcLogRow **out, size_t *n, FwcError *err)
{
    *out = NULL;
    *n = 0;
    const char *status = NULL;
    if (q->status && !(status = status_word(q->status)))
        return fwc_error_set(err, FWC_EVALUE,
                             "status must be Queued, Delivered, Failed or Exhausted, not %.40s",
                             q->status);
    if (lock_db(s, err)) return err->code;
    sqlite3_stmt *st;
    int rc = FWC_OK;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT id, webhook, reference_doctype, reference_document, status, attempts, due, "
            "created, updated, error, owner, (SELECT lease_until FROM fwc_owner o WHERE "
            "o.owner = d.owner), waiting FROM fwc_delivery d "
            "WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR status = ?2) AND "
            "(?3 IS NULL OR webhook = ?3) AND (?4 IS NULL OR reference_document = ?4) AND "
            "(?5 IS NULL OR created >= ?5) ORDER BY rowid DESC LIMIT ?6",
            -1, &st, NULL) != SQLITE_OK) {
        rc = fail(s, err, "reading the log");
        goto done;
    }
    bind_text(st, 1, q->id);
    bind_text(st, 2, status);
    bind_text(st, 3, q->webhook);
    bind_text(st, 4, q->docname);
    if (q->since > 0) sqlite3_bind_double(st, 5, q->since);
    sqlite3_bind_int64(st, 6, q->limit);
    size_t cap = 0;
    FwcLogRow *rows = NULL;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow((void **)&rows, *n, &cap, sizeof *rows) < 0) {
            rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
            break;
        }
        FwcLogRow *row = &rows[(*n)++];
        copy_id(row->id, st, 0);
        row->webhook = column_dup(st, 1);
        row->doctype = column_dup(st, 2);
        row->docname = column_dup(st, 3);
        row->status = status_of(sqlite3_column_text(st, 4));
        row->attempts = sqlite3_column_int(st, 5);
        row->next_retry = row->status == FWC_DS_FAILED ? sqlite3_column_double(st, 6) : 0;
        row->created = sqlite3_column_double(st, 7);
        row->updated = sqlite3_column_double(st, 8);
        row->error = column_dup(st, 9);
        if (sqlite3_column_double(st, 11) >= fwc_wall_now()) row->owner = column_dup(st, 10);
        row->waiting = column_dup(st, 12);
    }
    if (!rc && r != SQLITE_DONE) rc = fail(s, err, "reading the log");
    sqlite3_finalize(st);
    if (rc) fwc_log_rows_free(rows, *n), *n = 0;
    else *out = rows;
done:
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

static char *blob_dup(sqlite3_stmt *st, int i, size_t *len)
{
    *len = (size_t)sqlite3_column_bytes(st, i);
    const void *b = sqlite3_column_blob(st, i);
    if (!b) return NULL;
    char *p = malloc(*len + 1);
    if (p) {
        memcpy(p, b, *len);
        p[*len] = '\0';
    }
    return p;
}

int fwc_db_attempts(FwcStore *s, const char *id, FwcAttemptRow **out, size_t *n, FwcError *err)
{
    *out = NULL;
    *n = 0;
    if (lock_db(s, err)) return err->code;
    sqlite3_stmt *st;
    int rc = FWC_OK;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT attempt, time, status, response_status, url, response_headers, "
                           "response_body, error, elapsed FROM fwc_attempt WHERE delivery = "
                           "(SELECT seq FROM fwc_delivery WHERE id = ?1) "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = fail(s, err, "reading attempts");
        goto done;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    size_t cap = 0;
    FwcAttemptRow *rows = NULL;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow((void **)&rows, *n, &cap, sizeof *rows) < 0) {
            rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
            break;
        }
        FwcAttemptRow *a = &rows[(*n)++];
        a->attempt = sqlite3_column_int(st, 0);
        a->time = sqlite3_column_double(st, 1);
        a->status = status_of(sqlite3_column_text(st, 2));
        a->response_status = (long)sqlite3_column_int64(st, 3);
        a->url = column_dup(st, 4);
        a->headers = blob_dup(st, 5, &a->headers_len);
        a->body = blob_dup(st, 6, &a->body_len);
        a->error = column_dup(st, 7);
        a->elapsed = sqlite3_column_double(st, 8);
    }
    if (!rc && r != SQLITE_DONE) rc = fail(s, err, "reading attempts");
    sqlite3_finalize(st);
    if (rc) fwc_attempt_rows_free(rows, *n), *n = 0;
    else *out = rows;
done:
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int fwc_db_counts(FwcStore *s, double now, FwcStoreCounts *c, FwcError *err)
{
    memset(c, 0, sizeof *c);
    if (lock_db(s, err)) return err->code;
    sqlite3_stmt *st;
    int rc = FWC_OK;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT status, count(*), count(waiting), "
            "sum(owner IN (SELECT owner FROM fwc_owner WHERE lease_until >= ?1)) FROM fwc_delivery "
            "GROUP BY status",
            -1, &st, NULL) != SQLITE_OK) {
        rc = fail(s, err, "counting deliveries");
        goto done;
    }
    sqlite3_bind_double(st, 1, now);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        unsigned long long k = (unsigned long long)sqlite3_column_int64(st, 1);
        switch (status_of(sqlite3_column_text(st, 0))) {
        case FWC_DS_QUEUED: c->queued += k; break;
        case FWC_DS_DELIVERED: c->delivered += k; break;
        case FWC_DS_FAILED: c->failed += k; break;
        case FWC_DS_EXHAUSTED: c->exhausted += k; break;
        }
        c->waiting += (unsigned long long)sqlite3_column_int64(st, 2);
        c->leased += (unsigned long long)sqlite3_column_int64(st, 3);
    }
    if (r != SQLITE_DONE) rc = fail(s, err, "counting deliveries");
    sqlite3_finalize(st);
done:
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}
