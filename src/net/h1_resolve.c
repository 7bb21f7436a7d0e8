/* h1_resolve.c — host name lookups for the native HTTP client, off the worker thread.
 *
 * getaddrinfo() blocks (seconds, when DNS is down), and a worker must never stall every
 * other delivery behind one lookup.  So each lookup runs on a short-lived detached thread
 * that writes the worker's eventfd when it is done; the worker collects the answer on its
 * next loop.  Answers are cached for 60 s, libcurl's default; failures are not cached
 * (libcurl does not either): the requests that waited for a failed lookup fail, the next
 * request asks again.
 *
 * A lookup is shared by its thread and the resolver (two references), so neither
 * outlives the memory of the other: a worker that stops while a lookup runs just drops
 * its reference, and the thread writes to its own duplicate of the eventfd. */
#include "net/h1.h"
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define CACHE_SECONDS 60.0
#define MAX_ENTRIES   256

struct FwcH1Lookup {
    atomic_int refs;
    atomic_int done;
    int wakefd;
    char host[256], port[8];
    int gai; /* getaddrinfo's result */
    FwcH1Addr *addrs;
    size_t n;
};

typedef struct Entry {
    char host[256], port[8];
    FwcH1Addr *addrs;
    size_t n;
    double expires;      /* monotonic */
    FwcH1Lookup *lookup; /* under way, or NULL */
    char error[320];     /* the last lookup's failure while it is being reported */
    struct Entry *next;
} Entry;

struct FwcH1Resolver {
    int wakefd;
    Entry *entries;
    size_t nentries, pending;
    int polling; /* in fwc_h1_resolver_poll: entries must stay put */
};

static void lookup_decref(FwcH1Lookup *l)
{
    if (atomic_fetch_sub(&l->refs, 1) != 1) return;
    free(l->addrs);
    free(l);
}

static void *lookup_main(void *arg)
{
    FwcH1Lookup *l = arg;
    pthread_setname_np(pthread_self(), "fwc-resolve");
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    l->gai = getaddrinfo(l->host, l->port, &hints, &res);
    if (l->gai == 0) {
        size_t n = 0;
        for (struct addrinfo *a = res; a; a = a->ai_next) n++;
        l->addrs = calloc(n ? n : 1, sizeof *l->addrs);
        if (!l->addrs) l->gai = EAI_MEMORY;
        for (struct addrinfo *a = res; a && l->addrs; a = a->ai_next) {
            if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                a->ai_addrlen > sizeof(struct sockaddr_storage))
                continue;
            FwcH1Addr *d = &l->addrs[l->n++];
            d->family = a->ai_family;
            d->len = a->ai_addrlen;
            memcpy(&d->sa, a->ai_addr, a->ai_addrlen);
        }
        if (l->addrs && !l->n) l->gai = EAI_NONAME;
        freeaddrinfo(res);
    }
    atomic_store(&l->done, 1);
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof one);
    (void)w;
    close(l->wakefd);
    lookup_decref(l);
    return NULL;
}

FwcH1Resolver *fwc_h1_resolver_new(int wakefd)
{
    FwcH1Resolver *r = calloc(1, sizeof *r);
    if (r) r->wakefd = wakefd;
    return r;
}

static void entry_free(Entry *e)
{
    if (e->lookup) lookup_decref(e->lookup);
    free(e->addrs);
    free(e);
}

void fwc_h1_resolver_free(FwcH1Resolver *r)
{
    if (!r) return;
    for (Entry *e = r->entries, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(r);
}

static Entry *find(FwcH1Resolver *r, const char *host, const char *port)
{
    for (Entry *e = r->entries; e; e = e->next)
        if (strcmp(e->host, host) == 0 && strcmp(e->port, port) == 0) return e;
    return NULL;
}

/* drops expired answers that nobody waits for, when the cache is full */
static void prune(FwcH1Resolver *r, double now)
{
    for (Entry **pe = &r->entries; *pe;) {
        Entry *e = *pe;
        if (!e->lookup && e->expires <= now) {
            *pe = e->next;
            entry_free(e);
            r->nentries--;
        } else pe = &e->next;
    }
}

static int start_lookup(FwcH1Resolver *r, Entry *e)
{
    FwcH1Lookup *l = calloc(1, sizeof *l);
    if (!l) return -1;
    memcpy(l->host, e->host, sizeof l->host);
    memcpy(l->port, e->port, sizeof l->port);
    atomic_init(&l->refs, 2);
    l->wakefd = dup(r->wakefd);
    if (l->wakefd < 0) {
        free(l);
        return -1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* the worker blocks every signal; the thread inherits that */
    int rc = pthread_create(&(pthread_t){ 0 }, &attr, lookup_main, l);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        close(l->wakefd);
        free(l);
        return -1;
    }
    e->lookup = l;
    r->pending++;
    return 0;
}

int fwc_h1_resolve(FwcH1Resolver *r, const char *host, const char *port, const FwcH1Addr **addrs,
                   size_t *n)
{
    double now = fwc_mono_now();
    Entry *e = find(r, host, port);
    if (e && e->lookup) return 0;
    /* a failure is answered only to the requests that waited for it (error is set while
     * fwc_h1_resolver_poll reports it); an answer, until it expires */
    if (e && (e->error[0] || (e->n && now < e->expires))) {
        *addrs = e->addrs;
        *n = e->n;
        return 1;
    }
    if (!e) {
        if (r->nentries >= MAX_ENTRIES && !r->polling) prune(r, now);
        if (!(e = calloc(1, sizeof *e))) return -1;
        snprintf(e->host, sizeof e->host, "%s", host);
        snprintf(e->port, sizeof e->port, "%s", port);
        e->next = r->entries;
        r->entries = e;
        r->nentries++;
    }
    e->error[0] = 0;
    return start_lookup(r, e) < 0 ? -1 : 0;
}

const char *fwc_h1_resolve_error(FwcH1Resolver *r, const char *host, const char *port)
{
    Entry *e = find(r, host, port);
    return e && e->error[0] ? e->error : NULL;
}

void fwc_h1_resolver_poll(FwcH1Resolver *r,
                          void (*done)(void *arg, const char *host, const char *port), void *arg)
{
    if (!r->pending) return;
    double now = fwc_mono_now();
    r->polling = 1;
    for (Entry *e = r->entries; e; e = e->next) {
        FwcH1Lookup *l = e->lookup;
        if (!l || !atomic_load(&l->done)) continue;
        e->lookup = NULL;
        r->pending--;
        free(e->addrs);
        e->addrs = NULL;
        e->n = 0;
        if (l->gai == 0) {
            e->addrs = l->addrs;
            e->n = l->n;
            l->addrs = NULL;
            e->expires = now + CACHE_SECONDS;
            e->error[0] = 0;
        } else {
            /* libcurl's wording, so that both transports report the same */
            snprintf(e->error, sizeof e->error, "Could not resolve host: %s", e->host);
        }
        lookup_decref(l);
        done(arg, e->host, e->port);
        e->error[0] = 0;
    }
    r->polling = 0;
}
