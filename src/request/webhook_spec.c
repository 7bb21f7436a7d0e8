/* webhook_spec.c — the compiled webhook's lifetime (refcount, serial) and the request
 * URL check Frappe makes, on the URL split every layer shares.  The spec is filled by py/webhook_kwargs.c. */
#include "request/request.h"
#include <openssl/crypto.h>
#include <stdlib.h>

int fwc_url_split(const char *url, FwcUrlParts *out)
{
    const char *sep = strstr(url, "://");
    if (!sep) return 0;
    out->scheme = url;
    out->scheme_len = (size_t)(sep - url);
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    out->rest = auth + alen;
    const char *at = memchr(auth, '@', alen);
    out->userinfo = at ? auth : NULL;
    out->userinfo_len = at ? (size_t)(at - auth) : 0;
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    out->host = auth;
    out->host_len = alen;
    return 1;
}

FwcStatus fwc_url_validate(const char *url, FwcError *err)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return fwc_error_set(
                err, FWC_EVALUE,
                "Check Request URL: it contains whitespace or a control character");
    FwcUrlParts u;
    if (!fwc_url_split(url, &u)) return fwc_error_set(err, FWC_EVALUE, "Check Request URL");
    size_t slen = u.scheme_len;
    if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
          (slen == 5 && strncasecmp(url, "https", 5) == 0)))
        return fwc_error_set(err, FWC_EVALUE,
                             "Request URL scheme must be http or https, not '%.*s'", (int)slen,
                             url);
    if (u.host_len == 0 || u.host[0] == ':')
        return fwc_error_set(err, FWC_EVALUE, "Check Request URL");
    return FWC_OK;
}

unsigned long fwc_spec_next_serial(void)
{
    static atomic_ulong serials;
    return atomic_fetch_add(&serials, 1) + 1;
}

void fwc_spec_incref(FwcHookSpec *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void fwc_spec_decref(FwcHookSpec *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    free(s->name);
    free(s->request_url);
    free(s->webhook_doctype);
    free(s->webhook_docevent);
    free(s->request_method);
    free(s->webhook_json);
    fwc_tmpl_free(s->json_tmpl);
    fwc_tmpl_free(s->url_tmpl);
    fwc_expr_free(s->condition);
    for (size_t i = 0; i < s->nfields; i++) {
        free(s->fields[i].fieldname);
        free(s->fields[i].key);
    }
    free(s->fields);
    for (size_t i = 0; i < s->nheaders; i++) {
        free(s->headers[i].name);
        free(s->headers[i].value);
    }
    free(s->headers);
    if (s->secret) {
        OPENSSL_cleanse(s->secret, s->secret_len);
        free(s->secret);
    }
    free(s->ca_file);
    free(s->client_cert);
    free(s->client_key);
    free(s->proxy);
    free(s->allowed_networks);
    free(s->retry_schedule);
    free(s);
}
