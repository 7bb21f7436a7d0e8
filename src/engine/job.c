/* job.c — making a delivery (FwcJob): its per-host key and one allocation holding the job
 * with its texts.  The Python layer makes jobs for enqueue(); the store makes them for
 * the deliveries it resumes, takes over or replays. */
#include "engine/engine.h"
#include <ctype.h>
#include <stdio.h>

void fwc_job_host_key(const FwcHookSpec *s, char *out, size_t outlen)
{
    if (s->is_dynamic_url) {
        snprintf(out, outlen, "dynamic:%lu", s->serial);
        return;
    }
    const char *url = s->request_url;
    FwcUrlParts up;
    if (!fwc_url_split(url, &up)) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    const char *auth = up.host;
    size_t alen = up.host_len;
    const char *bracket = memchr(auth, ']', alen);
    const char *from = bracket ? bracket : auth;
    const char *portsep = memchr(from, ':', alen - (size_t)(from - auth));
    int https = up.scheme_len == 5;
    int k = snprintf(out, outlen, "%.*s://%.*s%s", (int)up.scheme_len, url, (int)alen, auth,
                     portsep ? ""
                     : https ? ":443"
                             : ":80");
    for (int i = 0; i < k && (size_t)i < outlen; i++) out[i] = (char)tolower((unsigned char)out[i]);
}

static char *put(char **p, const char *s, size_t n)
{
    char *at = *p;
    memcpy(at, s, n);
    at[n] = '\0';
    *p += n + 1;
    return at;
}

FwcJob *fwc_job_new(FwcEngine *e, FwcHookSpec *spec, FwcSnapshot *snap, const char *id,
                    const char *host, const char *doctype, size_t tlen, const char *docname,
                    size_t nlen)
{
    size_t hlen = strlen(host);
    size_t size = sizeof(FwcJob) + hlen + 1 + (doctype ? tlen + 1 : 0) + (docname ? nlen + 1 : 0);
    FwcJob *j = malloc(size);
    if (!j) return NULL;
    memset(j, 0, sizeof *j);
    atomic_init(&j->refs, 1);
    char *p = (char *)(j + 1);
    j->host = put(&p, host, hlen);
    if (doctype) j->doctype = put(&p, doctype, tlen);
    if (docname) j->docname = put(&p, docname, nlen);
    fwc_engine_incref(e);
    j->eng = e;
    fwc_spec_incref(spec);
    j->spec = spec;
    j->snap = snap;
    if (id) snprintf(j->id, sizeof j->id, "%s", id);
    else fwc_new_msg_id(j->id);
    return j;
}
