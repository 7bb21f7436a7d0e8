/* msgid.c — message ids: "msg_" + 24 base62 characters (the creation time in microseconds,
 * then 89 random bits), the Standard Webhooks id format; dispatch()'s webhook-id and every
 * Dispatcher delivery id.
 *
 * The random bytes come from a pool of CSPRNG bytes refilled 4 KiB at a time (enqueue()
 * must not make a system call per id), taken under a mutex, and emptied in a forked child
 * so that parent and child never hand out the same ids. */
#include "core/core.h"
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static unsigned char pool[4096];
static size_t pool_left;

/* the lock is held across fork(), so a child never inherits it locked mid-draw */
static void before_fork(void) { pthread_mutex_lock(&pool_lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&pool_lock); }
static void after_fork_child(void)
{
    OPENSSL_cleanse(pool, sizeof pool);
    pool_left = 0;
    pthread_mutex_unlock(&pool_lock);
}

static void pool_atfork(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Only if RAND_bytes fails: ids must be unique, not secret, so time + pid + a counter
 * mixed through splitmix64 is an acceptable last resort. */
static void fallback_random(unsigned char *p, size_t n)
{
    static atomic_ullong counter;
    struct timespec t;
    uint64_t s;
    clock_gettime(CLOCK_REALTIME, &t);
    s = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
    s ^= (uint64_t)getpid() << 32;
    s ^= atomic_fetch_add(&counter, 1) * 0xD1B54A32D192ED03ull;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = splitmix64(&s);
        for (size_t j = 0; j < 8 && i + j < n; j++) p[i + j] = (unsigned char)(r >> (8 * j));
    }
}

/* one random byte from the pool (lock held) */
static unsigned char pool_byte(void)
{
    if (!pool_left) {
        if (RAND_bytes(pool, (int)sizeof pool) != 1) {
            ERR_clear_error();
            fallback_random(pool, sizeof pool);
        }
        pool_left = sizeof pool;
    }
    unsigned char b = pool[--pool_left];
    pool[pool_left] = 0;
    return b;
}

void fwc_new_msg_id(char out[32])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    pthread_once(&pool_once, pool_atfork);
    memcpy(out, "msg_", 4);
    /* 9 characters of microseconds since 1970, then 15 random: ids sort by creation
     * time, so a store's index of them grows at its end (one page a commit) */
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t us = (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
    for (int pos = 8; pos >= 0; pos--, us /= 62) out[4 + pos] = alphabet[us % 62];
    pthread_mutex_lock(&pool_lock);
    for (int pos = 9; pos < 24;) {
        unsigned char b = pool_byte();
        if (b >= 248) continue; /* 248 = 4 * 62: every character equally likely */
        out[4 + pos++] = alphabet[b % 62];
    }
    pthread_mutex_unlock(&pool_lock);
    out[28] = '\0';
}
