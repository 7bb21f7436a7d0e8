/* queue.c — where jobs wait, all under the engine lock: per-host FIFOs
 * ("scheme://host:port") and the ring of hosts that may start a transfer (queued jobs and
 * fewer than max_per_host in flight), served round-robin, with the last free slots kept
 * for hosts with nothing in flight (fwc_queue_pop), so that slow receivers never starve
 * the others; the retry min-heap on due time; the list of live (not final) jobs
 * that close() and flush() report. */
#include "engine/engine.h"

void fwc_host_free(FwcHost *h)
{
    free(h->key);
    free(h);
}

void fwc_live_add(FwcEngine *e, FwcJob *j)
{
    j->lprev = e->live.lprev;
    j->lnext = &e->live;
    e->live.lprev->lnext = j;
    e->live.lprev = j;
    e->nlive++;
}

void fwc_live_remove(FwcEngine *e, FwcJob *j)
{
    j->lprev->lnext = j->lnext;
    j->lnext->lprev = j->lprev;
    j->lprev = j->lnext = NULL;
    e->nlive--;
}

static unsigned str_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* NULL when out of memory */
static FwcHost *host_get(FwcEngine *e, const char *key)
{
    unsigned h = str_hash(key);
    FwcHost **b = &e->buckets[h % FWC_HOST_BUCKETS];
    for (FwcHost *x = *b; x; x = x->hnext)
        if (x->hash == h && strcmp(x->key, key) == 0) return x;
    FwcHost *x = calloc(1, sizeof *x);
    if (!x || !(x->key = strdup(key))) {
        free(x);
        return NULL;
    }
    x->hash = h;
    x->hnext = *b;
    *b = x;
    return x;
}

static void ring_unlink(FwcEngine *e, FwcHost *h)
{
    if (!h->runnable) return;
    if (h->rnext == h) e->run_head = NULL;
    else {
        h->rprev->rnext = h->rnext;
        h->rnext->rprev = h->rprev;
        if (e->run_head == h) e->run_head = h->rnext;
    }
    h->runnable = 0;
}

static void ring_append(FwcEngine *e, FwcHost *h)
{
    if (h->runnable) return;
    if (!e->run_head) {
        h->rprev = h->rnext = h;
        e->run_head = h;
    } else {
        FwcHost *head = e->run_head;
        h->rnext = head;
        h->rprev = head->rprev;
        head->rprev->rnext = h;
        head->rprev = h;
    }
    h->runnable = 1;
}

/* Puts h in or out of the ring as its state says; frees it when idle. */
void fwc_host_update(FwcEngine *e, FwcHost *h)
{
    if (h->nq && h->inflight < (size_t)e->max_per_host) ring_append(e, h);
    else ring_unlink(e, h);
    if (!h->nq && !h->inflight) {
        FwcHost **b = &e->buckets[h->hash % FWC_HOST_BUCKETS];
        while (*b != h) b = &(*b)->hnext;
        *b = h->hnext;
        fwc_host_free(h);
    }
}

/* Queues j at its host's tail.  -1 when out of memory. */
int fwc_host_push(FwcEngine *e, FwcJob *j)
{
    FwcHost *h = host_get(e, j->host);
    if (!h) return -1;
    j->qnext = NULL;
    if (h->qtail) h->qtail->qnext = j;
    else h->qhead = j;
    h->qtail = j;
    h->nq++;
    j->hq = h;
    j->state = FWC_JOB_QUEUED;
    e->nqueued++;
    fwc_host_update(e, h);
    return 0;
}

/* The next job to start (round-robin over runnable hosts), or NULL.
 *
 * Isolation across hosts: the last e->reserve free slots go only to a host with nothing in
 * flight.  A host's second and later transfers start while more than `reserve` slots are
 * free, so such transfers never hold more than capacity - reserve slots together; when
 * every slot is busy, at least `reserve` of them are first transfers, one per host (a
 * host has at most one: its second is not a first while the first runs).  So a host
 * with work and nothing in flight finds a free slot whenever fewer than `reserve` other
 * hosts have a transfer in flight -- however long those take (README, Dispatcher). */
FwcJob *fwc_queue_pop(FwcEngine *e)
{
    FwcHost *h = e->run_head;
    if (!h) return NULL;
    if (e->hold_after > 0 && fwc_mono_now() > e->hold_after) return NULL; /* lease unsure */
    if (e->ninflight + e->reserve >= e->capacity) {
        FwcHost *first = h;
        while (h->inflight) {
            h = h->rnext;
            if (h == first) return NULL;
        }
    }
    FwcJob *j = h->qhead;
    h->qhead = j->qnext;
    /* a queued job went cold long ago: fetch the next one while this one is started */
    if (h->qhead) __builtin_prefetch(h->qhead);
    if (!h->qhead) h->qtail = NULL;
    j->qnext = NULL;
    h->nq--;
    h->inflight++;
    e->nqueued--;
    e->run_head = h->rnext; /* the next host goes first next time */
    fwc_host_update(e, h);
    return j;
}

static void heap_set(FwcEngine *e, size_t i, FwcJob *j)
{
    e->heap[i] = j;
    j->heap_idx = i;
}

int fwc_heap_push(FwcEngine *e, FwcJob *j)
{
    if (e->heap_len == e->heap_cap) {
        size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
        FwcJob **p = realloc(e->heap, cap * sizeof *p);
        if (!p) return -1;
        e->heap = p;
        e->heap_cap = cap;
    }
    size_t i = e->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (e->heap[parent]->due <= j->due) break;
        heap_set(e, i, e->heap[parent]);
        i = parent;
    }
    heap_set(e, i, j);
    return 0;
}

static FwcJob *heap_pop(FwcEngine *e)
{
    FwcJob *top = e->heap[0], *last = e->heap[--e->heap_len];
    size_t i = 0, n = e->heap_len;
    if (n) {
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && e->heap[c + 1]->due < e->heap[c]->due) c++;
            if (last->due <= e->heap[c]->due) break;
            heap_set(e, i, e->heap[c]);
            i = c;
        }
        heap_set(e, i, last);
    }
    return top;
}

/* Moves retries that are due back to their host queues. */
void fwc_queue_promote_due(FwcEngine *e, double now)
{
    while (e->heap_len && e->heap[0]->due <= now) {
        FwcJob *j = heap_pop(e);
        e->nscheduled--;
        if (fwc_host_push(e, j) < 0) {
            /* out of memory: try again a second later */
            j->due = now + 1.0;
            if (fwc_heap_push(e, j) == 0) {
                e->nscheduled++;
                j->state = FWC_JOB_SCHEDULED;
            }
            break;
        }
    }
}
