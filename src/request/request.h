/* request.h — a compiled webhook (FwcHookSpec) and the request it makes of a document,
 * built without the GIL:
 *
 *   webhook_spec.c  the spec's lifetime, its serial, the URL split and the request URL check
 *   request.c       field map / template data, the JSON body, headers, dynamic URL
 *   sign.c          HMAC-SHA256 signatures (Frappe, Standard Webhooks, GitHub) and their
 *                   verification
 *
 * The spec is filled by the Python layer (py/webhook_kwargs.c) from Webhook(**kwargs) and
 * is immutable afterwards: worker threads share it read-only through its refcount. */
#ifndef FWC_REQUEST_H
#define FWC_REQUEST_H

#include "tmpl/tmpl.h"

/* ---------- signatures (no GIL) ---------- */

typedef enum {
    FWC_SIG_FRAPPE = 1,   /* X-Frappe-Webhook-Signature: base64(HMAC-SHA256(secret, body)) */
    FWC_SIG_STANDARD = 2, /* Standard Webhooks v1 */
    FWC_SIG_GITHUB = 4,   /* X-Hub-Signature-256: sha256=<hex> */
} FwcSigScheme;

#define FWC_SIG_ALL (FWC_SIG_FRAPPE | FWC_SIG_STANDARD | FWC_SIG_GITHUB)

/* One header produced by a signer; name is static, value NUL-terminated. */
typedef struct {
    const char *name;
    char value[128];
} FwcSigHeader;

#define FWC_SIG_KEY_MAX    64  /* bytes of an HMAC key: longer secrets are hashed down */
#define FWC_SIG_MSG_ID_MAX 127 /* bytes of a message id (FwcSigHeader.value - 1) */

/* A message id goes into a header and into the signed content: printable ASCII only, no
 * spaces (receivers strip them), at most FWC_SIG_MSG_ID_MAX bytes. */
int fwc_sign_msg_id_valid(const char *id, size_t n);

/* The key the HMAC uses for a secret and a scheme: for "standard" a whsec_ secret is
 * base64-decoded.  Writes at most *keylen bytes; returns FWC_EVALUE for bad base64. */
FwcStatus fwc_sign_key(FwcSigScheme scheme, const char *secret, size_t secret_len,
                       unsigned char *key, size_t *keylen, FwcError *err);

/* Headers for one scheme (frappe: 1, standard: 3, github: 1).  Returns the count, or -1
 * with err set.  msg_id/timestamp are used by "standard" only. */
int fwc_sign(FwcSigScheme scheme, const char *secret, size_t secret_len, const char *body,
             size_t body_len, const char *msg_id, long long timestamp, FwcSigHeader out[3],
             FwcError *err);

/* The check verify() makes, without the GIL: the header values as received (sig; for
 * "standard" also id and ts; whitespace around each is ignored), the key from
 * fwc_sign_key and `now` in Unix seconds.  *ok is 1 when a signature matches.  Returns
 * FWC_OK, or an OpenSSL failure with err set. */
FwcStatus fwc_verify(FwcSigScheme scheme, const unsigned char *key, size_t keylen, const char *body,
                     size_t body_len, const char *sig, size_t sig_len, const char *id,
                     size_t id_len, const char *ts, size_t ts_len, long long tolerance,
                     long long now, int *ok, FwcError *err);

/* ---------- a compiled webhook: immutable, shared read-only by threads ---------- */

typedef enum { FWC_STRUCT_NONE, FWC_STRUCT_FORM, FWC_STRUCT_JSON } FwcStructure;

typedef struct {
    char *fieldname, *key;
    size_t fieldname_len, key_len;
    uint32_t slot; /* the key's position in the body (a repeated key keeps its first) */
    int first;     /* the first row with this key */
} FwcFieldRow;

typedef struct {
    char *name, *value; /* NUL-terminated; validated: no CR, LF or NUL */
} FwcHeader;

typedef struct FwcHookSpec {
    atomic_int refs;
    char *name; /* "" when unnamed */
    char *request_url;
    char *webhook_doctype;  /* "" when unset */
    char *webhook_docevent; /* "" when unset */
    char *request_method;   /* POST PUT DELETE PATCH */
    FwcStructure structure;
    char *webhook_json;     /* template source or NULL */
    FwcTemplate *json_tmpl; /* webhook_json compiled; NULL when none (or a callable) */
    FwcTemplate *url_tmpl;  /* request_url compiled when is_dynamic_url */
    int json_escape;        /* values inside JSON string literals of the template are escaped */
    void *json_callable;    /* webhook_json as a Python callable (doc) -> data, opaque here:
                             * the Webhook object owns it; py/ calls it at snapshot time */
    FwcFieldRow *fields;
    size_t nfields;
    size_t nfield_keys; /* distinct keys of the field rows: the body's size */
    FwcHeader *headers; /* custom headers after Frappe's dict semantics */
    size_t nheaders;
    char *secret; /* NULL when security is off */
    size_t secret_len;
    int signatures; /* FwcSigScheme bits; 0 when security is off */
    int enabled, is_dynamic_url;
    FwcJsonStyle json_style;
    FwcExpr *condition;     /* compiled condition, NULL when none (or a callable) */
    int condition_callable; /* condition is a Python callable (kept by the Webhook object) */
    double timeout;
    int max_retries;
    double *retry_schedule; /* seconds between attempts (>= 1 step; the last repeats) */
    size_t nretry_schedule;
    double retry_jitter; /* fraction of a step, 0..1 */
    /* transport (http.c) */
    unsigned long serial; /* unique per spec, so a thread's handle can keep its options */
    int follow_redirects; /* 0: redirects are returned, not followed */
    int verify_tls;
    char *ca_file, *client_cert, *client_key, *proxy; /* NULL when unset */
    int allow_private_networks;
    FwcNetwork *allowed_networks;
    size_t nallowed_networks;
    size_t max_response_bytes;
} FwcHookSpec;

/* The authority split of scheme://[userinfo@]host[:port][/path?query#fragment]: pointers
 * into the URL, not NUL-terminated.  The scheme is what precedes the first "://", the
 * authority runs from there to the first '/', '?' or '#' (or the end), its userinfo is
 * what precedes its first '@'. */
typedef struct {
    const char *scheme;
    size_t scheme_len;
    const char *userinfo; /* NULL when the authority has no '@' */
    size_t userinfo_len;
    const char *host; /* host[:port]: the authority after the userinfo (may be empty) */
    size_t host_len;
    const char *rest; /* path, query and fragment: what follows the authority */
} FwcUrlParts;

/* 1 with *out filled, or 0 when the URL has no "://" (webhook_spec.c). */
int fwc_url_split(const char *url, FwcUrlParts *out);
/* http(s)://host... as Frappe's urlparse(url).netloc check plus a scheme check. */
FwcStatus fwc_url_validate(const char *url, FwcError *err);
void fwc_spec_incref(FwcHookSpec *s);
void fwc_spec_decref(FwcHookSpec *s);     /* frees at zero; any thread */
unsigned long fwc_spec_next_serial(void); /* a new FwcHookSpec.serial */

/* ---------- a built request: what would go on the wire ---------- */

typedef struct {
    char *name, *value;
} FwcHeaderPair;

typedef struct {
    FwcArena arena;    /* owns data nodes, header strings, url */
    FwcSnapshot *snap; /* data may point into it; one reference held */
    FwcValue data;     /* what Frappe calls data */
    FwcBuf body;       /* exact body bytes */
    const char *url;
    const char *method;
    FwcHeaderPair *headers;
    size_t nheaders;
} FwcBuilt;

/* Builds the request for one document without the GIL.  msg_id/timestamp are used by
 * the Standard Webhooks signature.  On error, `out` is released and err is set. */
FwcStatus fwc_request_build(const FwcHookSpec *spec, FwcSnapshot *snap, const char *msg_id,
                            long long timestamp, FwcBuilt *out, FwcError *err);
void fwc_built_release(FwcBuilt *b); /* no GIL needed */

#endif
