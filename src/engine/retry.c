/* retry.c — the verdict on one attempt: a 2xx delivers; 410 Gone, an SSRF refusal and
 * the last allowed attempt exhaust; anything else schedules the next attempt after the
 * webhook's retry_schedule step, scaled by 1 ± retry_jitter and raised to Retry-After
 * (seconds or an HTTP date, capped at the longest step) on 429 and 503. */
#include "engine/engine.h"
#include <strings.h>
#include <time.h>

static double rng_uniform(uint64_t *s) /* xorshift64*, [0, 1) */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* Seconds the receiver asked for in Retry-After (delta or HTTP-date), or -1. */
static double retry_after(const FwcBuf *headers)
{
    const char *p = headers->data, *end = p ? p + headers->len : NULL;
    double found = -1;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
            char v[64];
            const char *s = p + 12;
            while (s < eol && (*s == ' ' || *s == '\t')) s++;
            size_t n = (size_t)(eol - s);
            if (n >= sizeof v) n = sizeof v - 1;
            memcpy(v, s, n);
            v[n] = 0;
            while (n && (v[n - 1] == '\r' || v[n - 1] == ' ' || v[n - 1] == '\t')) v[--n] = 0;
            char *e;
            long secs = strtol(v, &e, 10);
            if (n && *e == 0 && secs >= 0) found = (double)secs;
            else {
                struct tm tm;
                memset(&tm, 0, sizeof tm);
                const char *rest = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
                if (rest && !*rest) {
                    double d = (double)timegm(&tm) - fwc_wall_now();
                    found = d > 0 ? d : 0;
                }
            }
        }
        p = eol + 1;
    }
    return found;
}

void fwc_retry_decide(uint64_t *rng, const FwcHookSpec *s, FwcOutcome *o, double *delay)
{
    FwcResult *r = &o->res;
    *delay = 0;
    if (r->kind == FWC_NET_OK && r->status >= 200 && r->status < 300 && !r->error[0]) {
        o->status = FWC_DS_DELIVERED;
        return;
    }
    if (r->error[0]) o->error = r->error; /* the outcome owns r: no copy */
    else if (r->status == 410) {
        o->status = FWC_DS_EXHAUSTED;
        fwc_outcome_error(o, "HTTP 410 Gone: the receiver wants no more deliveries (not retried)");
        return;
    } else fwc_outcome_error(o, "HTTP %ld", r->status);
    if (r->kind == FWC_NET_SSRF) {
        o->status = FWC_DS_EXHAUSTED;
        return;
    }
    if (o->attempt > s->max_retries) {
        o->status = FWC_DS_EXHAUSTED;
        return;
    }
    size_t n = s->nretry_schedule;
    double step =
        s->retry_schedule[(size_t)(o->attempt - 1) < n ? (size_t)(o->attempt - 1) : n - 1];
    double longest = 0;
    for (size_t i = 0; i < n; i++)
        if (s->retry_schedule[i] > longest) longest = s->retry_schedule[i];
    step *= 1.0 + s->retry_jitter * (2.0 * rng_uniform(rng) - 1.0);
    if (step < 0) step = 0;
    if (r->status == 429 || r->status == 503) {
        double ra = retry_after(&r->headers);
        if (ra > longest) ra = longest;
        if (ra > step) step = ra;
    }
    o->status = FWC_DS_FAILED;
    *delay = step;
}
