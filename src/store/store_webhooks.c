/* store_webhooks.c — the webhooks a store may send, by name.  A stored delivery keeps
 * only its webhook's name (never its secret); the process that sends it finds the
 * Webhook here: registered (Dispatcher(webhooks=...), register(), every enqueue) or
 * answered by the Python resolver (Dispatcher(resolve=...)), which takes the names
 * asked here from its own thread (py/outbox.c). */
#include "store/store.h"

static int push_name(char ***arr, size_t *n, size_t *cap, const char *name)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **p = realloc(*arr, nc * sizeof *p);
        if (!p) return -1;
        *arr = p;
        *cap = nc;
    }
    char *copy = strdup(name);
    if (!copy) return -1;
    (*arr)[(*n)++] = copy;
    return 0;
}

/* Removes name from arr; 1 when it was there. */
static int drop_name(char **arr, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(arr[i], name)) {
            free(arr[i]);
            arr[i] = arr[--*n];
            return 1;
        }
    return 0;
}

static FwcNamedHook *entry(FwcStore *s, const char *name)
{
    for (size_t i = 0; i < s->nhooks; i++)
        if (!strcmp(s->hooks[i].name, name)) return &s->hooks[i];
    return NULL;
}

FwcHookSpec *fwc_store_lookup(FwcStore *s, const char *name)
{
    FwcNamedHook *h = entry(s, name);
    return h ? h->spec : NULL;
}

int fwc_store_knows(FwcStore *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    int known = fwc_store_lookup(s, name) != NULL;
    pthread_mutex_unlock(&s->lock);
    return known;
}

/* An entry for name (spec NULL if new), under the lock; NULL on OOM. */
static FwcNamedHook *add(FwcStore *s, const char *name)
{
    FwcNamedHook *h = entry(s, name);
    if (h) return h;
    if (s->nhooks == s->hooks_cap) {
        size_t nc = s->hooks_cap ? s->hooks_cap * 2 : 8;
        FwcNamedHook *p = realloc(s->hooks, nc * sizeof *p);
        if (!p) return NULL;
        s->hooks = p;
        s->hooks_cap = nc;
    }
    char *copy = strdup(name);
    if (!copy) return NULL;
    h = &s->hooks[s->nhooks++];
    *h = (FwcNamedHook){ copy, NULL, NULL, 0 };
    return h;
}

int fwc_store_register(FwcStore *s, FwcHookSpec *spec)
{
    pthread_mutex_lock(&s->lock);
    FwcNamedHook *h = add(s, spec->name);
    int known = h && h->spec, rc = h ? 0 : -1;
    if (h && h->spec != spec) {
        fwc_spec_incref(spec);
        fwc_spec_decref(h->spec);
        h->spec = spec;
        free(h->why);
        h->why = NULL;
    }
    if (h && !known) {
        /* deliveries that waited for it may go now */
        drop_name(s->asked, &s->nasked, spec->name);
        s->claim_now = 1;
        if (!push_name(&s->recheck, &s->nrecheck, &s->recheck_cap, spec->name))
            pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void fwc_store_set_resolver(FwcStore *s, int on)
{
    pthread_mutex_lock(&s->lock);
    s->resolver_on = on;
    pthread_mutex_unlock(&s->lock);
}

int fwc_store_ask(FwcStore *s, const char *name, const char **why)
{
    FwcNamedHook *h = entry(s, name);
    *why = NULL;
    if (h && h->why && fwc_wall_now() < h->until) {
        *why = h->why;
        return 0;
    }
    if (!s->resolver_on) return 0;
    for (size_t i = 0; i < s->nasked; i++)
        if (!strcmp(s->asked[i], name)) return 1;
    if (push_name(&s->asked, &s->nasked, &s->asked_cap, name) < 0) return 0;
    if (push_name(&s->unresolved, &s->nunresolved, &s->unresolved_cap, name) < 0) {
        drop_name(s->asked, &s->nasked, name);
        return 0;
    }
    pthread_cond_signal(&s->resolver);
    return 1;
}

char **fwc_store_take_unresolved(FwcStore *s, size_t *n)
{
    pthread_mutex_lock(&s->lock);
    while (!s->nunresolved && !s->stopping) pthread_cond_wait(&s->resolver, &s->lock);
    char **names = NULL;
    *n = 0;
    if (!s->stopping) {
        names = s->unresolved;
        *n = s->nunresolved;
        s->unresolved = NULL;
        s->nunresolved = s->unresolved_cap = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return names;
}

void fwc_store_resolved(FwcStore *s, const char *name, FwcHookSpec *spec, const char *why)
{
    if (spec) {
        fwc_store_register(s, spec);
        return;
    }
    pthread_mutex_lock(&s->lock);
    /* asked again after FWC_STORE_RECHECK, when the deliveries are claimed again */
    drop_name(s->asked, &s->nasked, name);
    FwcNamedHook *h = add(s, name);
    char *copy = strdup(why ? why : "the resolver found no such webhook");
    if (h && !h->spec && copy) {
        free(h->why);
        h->why = copy;
        h->until = fwc_wall_now() + FWC_STORE_RECHECK;
    } else free(copy);
    pthread_mutex_unlock(&s->lock);
}

void fwc_store_hooks_free(FwcStore *s)
{
    for (size_t i = 0; i < s->nhooks; i++) {
        free(s->hooks[i].name);
        free(s->hooks[i].why);
        if (s->hooks[i].spec) fwc_spec_decref(s->hooks[i].spec);
    }
    free(s->hooks);
    for (size_t i = 0; i < s->nunresolved; i++) free(s->unresolved[i]);
    free(s->unresolved);
    for (size_t i = 0; i < s->nasked; i++) free(s->asked[i]);
    free(s->asked);
    for (size_t i = 0; i < s->nrecheck; i++) free(s->recheck[i]);
    free(s->recheck);
    s->hooks = NULL;
    s->unresolved = s->asked = s->recheck = NULL;
    s->nhooks = s->nunresolved = s->nasked = s->nrecheck = 0;
}
