/* registry.c — every engine of the process, for fork() and interpreter exit.
 *
 * Fork: pthread_atfork handlers take every engine lock around fork(); in the child the
 * engines are marked dead (their threads do not exist there) and never freed nor used
 * for delivery: a Dispatcher's next enqueue in the child starts a fresh engine.
 * Exit: fwc_engine_next_open hands the open engines out one by one to be closed. */
#include "engine/engine.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static FwcEngine *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

void fwc_engine_init_sync(FwcEngine *e)
{
    /* adaptive: a caller of enqueue() spins briefly on a lock the worker holds for a few
     * microseconds instead of sleeping in the kernel at once */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&e->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->changed, &ca);
    pthread_cond_init(&e->cb_cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void before_fork(void)
{
    pthread_mutex_lock(&registry_lock);
    for (FwcEngine *e = registry; e; e = e->reg_next) pthread_mutex_lock(&e->lock);
}

static void after_fork_parent(void)
{
    for (FwcEngine *e = registry; e; e = e->reg_next) pthread_mutex_unlock(&e->lock);
    pthread_mutex_unlock(&registry_lock);
}

/* The child has none of the engine threads: every engine is dead here.  Its state stays
 * readable (Delivery views of the parent's jobs) but nothing of it is delivered. */
static void after_fork_child(void)
{
    FwcEngine *e = registry;
    while (e) {
        FwcEngine *next = e->reg_next;
        fwc_engine_init_sync(e);
        e->dead = 1;
        e->reg_prev = e->reg_next = NULL;
        e = next;
    }
    registry = NULL;
    pthread_mutex_init(&registry_lock, NULL);
}

static void atfork_install(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void fwc_registry_add(FwcEngine *e)
{
    pthread_once(&atfork_once, atfork_install);
    pthread_mutex_lock(&registry_lock);
    e->reg_next = registry;
    if (registry) registry->reg_prev = e;
    registry = e;
    pthread_mutex_unlock(&registry_lock);
}

void fwc_registry_remove(FwcEngine *e)
{
    pthread_mutex_lock(&registry_lock);
    if (e->reg_prev) e->reg_prev->reg_next = e->reg_next;
    else if (registry == e) registry = e->reg_next;
    if (e->reg_next) e->reg_next->reg_prev = e->reg_prev;
    e->reg_prev = e->reg_next = NULL;
    pthread_mutex_unlock(&registry_lock);
}

/* ---------- engine and job lifetime ---------- */

FwcEngine *fwc_engine_next_open(void)
{
    FwcEngine *e = NULL;
    pthread_mutex_lock(&registry_lock);
    for (FwcEngine *x = registry; x; x = x->reg_next) {
        pthread_mutex_lock(&x->lock);
        int open = !x->closed && !x->dead;
        pthread_mutex_unlock(&x->lock);
        if (open) {
            e = x;
            fwc_engine_incref(e);
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return e;
}
