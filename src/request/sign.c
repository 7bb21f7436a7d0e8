/* sign.c — HMAC-SHA256 webhook signatures (Frappe, Standard Webhooks v1, GitHub) and
 * their verification.
 *
 * The request builder calls them with the GIL released; py/signing.c is the module's
 * sign() and verify(); the fuzz targets (tests/c/fuzz) call them directly. */
#include "request/request.h"

#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#else
#include <openssl/hmac.h>
#endif

#define MAC_LEN     32 /* SHA-256 digest */
#define BLOCK_LEN   64 /* SHA-256 block; HMAC hashes longer keys down to MAC_LEN */
#define B64_MAC_LEN 44 /* base64 of MAC_LEN bytes, padded */

#define WHSEC     "whsec_"
#define WHSEC_LEN 6

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---------- encodings ---------- */

/* Standard, padded base64 of n bytes into out (4 * ceil(n / 3) chars + NUL). */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = B64[v >> 18];
        *out++ = B64[v >> 12 & 63];
        *out++ = B64[v >> 6 & 63];
        *out++ = B64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = B64[v >> 18];
        *out++ = B64[v >> 12 & 63];
        *out++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict standard-alphabet base64 decoder: padding is optional but, when present, must
 * complete the last quantum; anything else (whitespace, URL-safe chars) is an error.
 * out needs n / 4 * 3 + 2 bytes.  Returns 0, or -1 for invalid input. */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    size_t data = n, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    while (data > 0 && n - data < 2 && in[data - 1] == '=') data--;
    if (data % 4 == 1 || (data != n && n % 4 != 0)) return -1;
    for (size_t i = 0; i < data; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *outlen = o;
    return 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *out++ = digits[in[i] >> 4];
        *out++ = digits[in[i] & 15];
    }
    *out = '\0';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20; /* GitHub sends lowercase; uppercase hex is the same digest */
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* ---------- HMAC-SHA256 ---------- */

typedef struct {
    const void *p;
    size_t n;
} Part;

static FwcStatus openssl_error(FwcError *err, const char *what)
{
    char msg[256] = "no detail";
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, msg, sizeof msg);
    /* leave nothing behind for the next OpenSSL user on this thread (e.g. the ssl module) */
    ERR_clear_error();
    return fwc_error_set(err, FWC_EVALUE, "OpenSSL %s failed: %s", what, msg);
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static EVP_MD *sha256_md;
static pthread_key_t pads_key;
static int pads_ok;

/* A thread's SHA-256 states after the first block of HMAC's inner and outer pad, for the
 * last key it signed with.  HMAC(k, m) = H(k^opad || H(k^ipad || m)): with the pads
 * hashed once per key, a signature costs two context copies and the message's own
 * blocks, instead of a MAC context set up (and its digest fetched) every time. */
typedef struct {
    unsigned char key[FWC_SIG_KEY_MAX];
    size_t keylen;
    EVP_MD_CTX *inner, *outer, *work;
} HmacPads;

static void pads_free(void *p)
{
    HmacPads *c = p;
    if (!c) return;
    EVP_MD_CTX_free(c->inner);
    EVP_MD_CTX_free(c->outer);
    EVP_MD_CTX_free(c->work);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

/* Fetched once for the process: a fetch per signature would take the provider store's
 * lock every time. */
static void hmac_fetch(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pads_ok = sha256_md && pthread_key_create(&pads_key, pads_free) == 0;
    ERR_clear_error();
}

/* This thread's pads for key, (re)computed when the key changed; NULL if unavailable. */
static HmacPads *pads_for(const unsigned char *key, size_t keylen)
{
    if (!pads_ok || keylen > BLOCK_LEN) return NULL;
    HmacPads *c = pthread_getspecific(pads_key);
    if (!c) {
        if (!(c = calloc(1, sizeof *c))) return NULL;
        c->inner = EVP_MD_CTX_new();
        c->outer = EVP_MD_CTX_new();
        c->work = EVP_MD_CTX_new();
        if (!c->inner || !c->outer || !c->work || pthread_setspecific(pads_key, c) != 0) {
            pads_free(c);
            return NULL;
        }
    } else if (c->keylen == keylen && CRYPTO_memcmp(c->key, key, keylen) == 0) {
        return c;
    }
    unsigned char ipad[BLOCK_LEN], opad[BLOCK_LEN];
    for (size_t i = 0; i < BLOCK_LEN; i++) {
        unsigned char k = i < keylen ? key[i] : 0;
        ipad[i] = (unsigned char)(k ^ 0x36);
        opad[i] = (unsigned char)(k ^ 0x5c);
    }
    int ok = EVP_DigestInit_ex(c->inner, sha256_md, NULL) &&
             EVP_DigestUpdate(c->inner, ipad, BLOCK_LEN) &&
             EVP_DigestInit_ex(c->outer, sha256_md, NULL) &&
             EVP_DigestUpdate(c->outer, opad, BLOCK_LEN);
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
    if (!ok) {
        c->keylen = 0;
        ERR_clear_error();
        return NULL;
    }
    memcpy(c->key, key, keylen);
    c->keylen = keylen;
    return c;
}
#endif

/* HMAC-SHA256 over the concatenation of parts, streamed so that a large body is never
 * copied.  keylen must be > 0. */
static FwcStatus hmac_parts(const unsigned char *key, size_t keylen, const Part *parts, int nparts,
                            unsigned char mac[MAC_LEN], FwcError *err)
{
    FwcStatus rc;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MAC_CTX *ctx = NULL;
    size_t maclen = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    pthread_once(&hmac_once, hmac_fetch);
    HmacPads *pads = pads_for(key, keylen);
    if (pads) {
        unsigned char inner[MAC_LEN];
        unsigned int n = 0;
        int ok = EVP_MD_CTX_copy_ex(pads->work, pads->inner);
        for (int i = 0; ok && i < nparts; i++)
            if (parts[i].n) ok = EVP_DigestUpdate(pads->work, parts[i].p, parts[i].n);
        ok = ok && EVP_DigestFinal_ex(pads->work, inner, &n) && n == MAC_LEN &&
             EVP_MD_CTX_copy_ex(pads->work, pads->outer) &&
             EVP_DigestUpdate(pads->work, inner, MAC_LEN) &&
             EVP_DigestFinal_ex(pads->work, mac, &n) && n == MAC_LEN;
        OPENSSL_cleanse(inner, sizeof inner);
        if (ok) return FWC_OK;
        ERR_clear_error(); /* fall through to the MAC API below */
    }
    if (!hmac_alg) {
        rc = openssl_error(err, "EVP_MAC_fetch(HMAC)");
        goto error;
    }
    if (!(ctx = EVP_MAC_CTX_new(hmac_alg))) {
        rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
        goto error;
    }
    if (!EVP_MAC_init(ctx, key, keylen, params)) {
        rc = openssl_error(err, "HMAC init");
        goto error;
    }
    for (int i = 0; i < nparts; i++) {
        if (parts[i].n && !EVP_MAC_update(ctx, parts[i].p, parts[i].n)) {
            rc = openssl_error(err, "HMAC update");
            goto error;
        }
    }
    if (!EVP_MAC_final(ctx, mac, &maclen, MAC_LEN) || maclen != MAC_LEN) {
        rc = openssl_error(err, "HMAC final");
        goto error;
    }
    EVP_MAC_CTX_free(ctx);
    return FWC_OK;
error:
    EVP_MAC_CTX_free(ctx);
    return rc;
#else
    /* OpenSSL 1.1: HMAC_CTX is the supported (not yet deprecated) streaming API. */
    HMAC_CTX *ctx = HMAC_CTX_new();
    unsigned int maclen = 0;

    if (!ctx) {
        rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
        goto error;
    }
    if (!HMAC_Init_ex(ctx, key, (int)keylen, EVP_sha256(), NULL)) {
        rc = openssl_error(err, "HMAC init");
        goto error;
    }
    for (int i = 0; i < nparts; i++) {
        if (parts[i].n && !HMAC_Update(ctx, parts[i].p, parts[i].n)) {
            rc = openssl_error(err, "HMAC update");
            goto error;
        }
    }
    if (!HMAC_Final(ctx, mac, &maclen) || maclen != MAC_LEN) {
        rc = openssl_error(err, "HMAC final");
        goto error;
    }
    HMAC_CTX_free(ctx);
    return FWC_OK;
error:
    HMAC_CTX_free(ctx);
    return rc;
#endif
}

/* ---------- GIL-free signer ---------- */

static int has_whsec_prefix(const char *s, size_t n)
{
    return n >= WHSEC_LEN && memcmp(s, WHSEC, WHSEC_LEN) == 0;
}

/* On entry *keylen is the capacity of key, on success the key's length.  A key longer
 * than the SHA-256 block is replaced by its digest, exactly as HMAC itself would do, so
 * FWC_SIG_KEY_MAX (64) bytes always suffice and long secrets cost no allocation later. */
FwcStatus fwc_sign_key(FwcSigScheme scheme, const char *secret, size_t secret_len,
                       unsigned char *key, size_t *keylen, FwcError *err)
{
    const unsigned char *raw = (const unsigned char *)secret;
    size_t rawlen = secret_len, need, cap = 0;
    unsigned char stackbuf[256], *decoded = NULL;
    FwcStatus rc;

    if (scheme != FWC_SIG_FRAPPE && scheme != FWC_SIG_STANDARD && scheme != FWC_SIG_GITHUB)
        return fwc_error_set(err, FWC_EVALUE, "unknown signature scheme %d", (int)scheme);
    if (secret_len == 0) return fwc_error_set(err, FWC_EVALUE, "secret must not be empty");

    if (scheme == FWC_SIG_STANDARD && has_whsec_prefix(secret, secret_len)) {
        size_t n = secret_len - WHSEC_LEN;
        cap = n / 4 * 3 + 2;
        decoded = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
        if (!decoded) {
            rc = fwc_error_set(err, FWC_ENOMEM, "out of memory");
            goto error;
        }
        if (b64_decode(secret + WHSEC_LEN, n, decoded, &rawlen) < 0) {
            rc = fwc_error_set(err, FWC_EVALUE,
                               "secret: the part after 'whsec_' is not valid base64");
            goto error;
        }
        if (rawlen == 0) {
            rc = fwc_error_set(err, FWC_EVALUE, "secret: 'whsec_' secret has an empty key");
            goto error;
        }
        raw = decoded;
    }

    need = rawlen > BLOCK_LEN ? MAC_LEN : rawlen;
    if (*keylen < need) {
        rc = fwc_error_set(err, FWC_EVALUE, "key buffer too small (%zu < %zu)", *keylen, need);
        goto error;
    }
    if (rawlen > BLOCK_LEN) {
        unsigned int mdlen = 0;
        if (!EVP_Digest(raw, rawlen, key, &mdlen, EVP_sha256(), NULL) || mdlen != MAC_LEN) {
            rc = openssl_error(err, "SHA-256 of the key");
            goto error;
        }
    } else {
        memcpy(key, raw, rawlen);
    }
    *keylen = need;
    rc = FWC_OK;
error:
    if (decoded) {
        OPENSSL_cleanse(decoded, cap);
        if (decoded != stackbuf) free(decoded);
    }
    return rc;
}

/* A message id goes into a header and into the signed content: printable ASCII only, no
 * spaces (receivers strip them), short enough for FwcSigHeader. */
int fwc_sign_msg_id_valid(const char *id, size_t n)
{
    if (n == 0 || n > FWC_SIG_MSG_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f) return 0;
    return 1;
}

/* msg_id NULL means a fresh id; timestamp < 0 means now (both "standard" only). */
int fwc_sign(FwcSigScheme scheme, const char *secret, size_t secret_len, const char *body,
             size_t body_len, const char *msg_id, long long timestamp, FwcSigHeader out[3],
             FwcError *err)
{
    unsigned char key[FWC_SIG_KEY_MAX], mac[MAC_LEN];
    size_t keylen = sizeof key;
    char fresh_id[32], ts[24];
    int n = -1;

    if (fwc_sign_key(scheme, secret, secret_len, key, &keylen, err) != FWC_OK) goto error;

    if (scheme == FWC_SIG_STANDARD) {
        size_t idlen;
        int tslen;
        if (!msg_id) {
            fwc_new_msg_id(fresh_id);
            msg_id = fresh_id;
        }
        idlen = strlen(msg_id);
        if (!fwc_sign_msg_id_valid(msg_id, idlen)) {
            fwc_error_set(err, FWC_EVALUE,
                          "msg_id must be 1 to %d printable ASCII characters without spaces",
                          FWC_SIG_MSG_ID_MAX);
            goto error;
        }
        if (timestamp < 0) timestamp = (long long)fwc_wall_now();
        tslen = snprintf(ts, sizeof ts, "%lld", timestamp);
        Part parts[] = {
            { msg_id, idlen }, { ".", 1 }, { ts, (size_t)tslen }, { ".", 1 }, { body, body_len }
        };
        if (hmac_parts(key, keylen, parts, 5, mac, err) != FWC_OK) goto error;
        out[0].name = "webhook-id";
        memcpy(out[0].value, msg_id, idlen + 1);
        out[1].name = "webhook-timestamp";
        memcpy(out[1].value, ts, (size_t)tslen + 1);
        out[2].name = "webhook-signature";
        memcpy(out[2].value, "v1,", 3);
        b64_encode(mac, MAC_LEN, out[2].value + 3);
        n = 3;
    } else {
        Part part = { body, body_len };
        if (hmac_parts(key, keylen, &part, 1, mac, err) != FWC_OK) goto error;
        if (scheme == FWC_SIG_FRAPPE) {
            out[0].name = "X-Frappe-Webhook-Signature";
            b64_encode(mac, MAC_LEN, out[0].value);
        } else {
            out[0].name = "X-Hub-Signature-256";
            memcpy(out[0].value, "sha256=", 7);
            hex_encode(mac, MAC_LEN, out[0].value + 7);
        }
        n = 1;
    }
error:
    OPENSSL_cleanse(key, sizeof key);
    return n;
}

/* ---------- GIL-free verifier ---------- */

/* Without the optional whitespace HTTP allows around a header value. */
static void strip_ows(const char **p, size_t *n)
{
    const char *s = *p;
    size_t len = *n;
    while (len > 0 && (*s == ' ' || *s == '\t')) s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    *p = s;
    *n = len;
}

/* Digits only, as the reference libraries' int() would accept after stripping. */
static int parse_timestamp(const char *p, size_t n, long long *out)
{
    long long v = 0;
    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        int d = p[i] - '0';
        if (d < 0 || d > 9 || v > (LLONG_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Any space-separated "v1,<base64>" entry equal to expected; other versions are ignored.
 * Every entry is compared, so timing says nothing about which one matched. */
static int match_v1(const char *p, size_t n, const char expected[B64_MAC_LEN])
{
    int ok = 0;
    size_t i = 0;
    while (i < n) {
        size_t start;
        while (i < n && p[i] == ' ') i++;
        start = i;
        while (i < n && p[i] != ' ') i++;
        if (i - start == 3 + B64_MAC_LEN && memcmp(p + start, "v1,", 3) == 0)
            ok |= CRYPTO_memcmp(p + start + 3, expected, B64_MAC_LEN) == 0;
    }
    return ok;
}

static int match_github(const char *p, size_t n, const unsigned char mac[MAC_LEN])
{
    unsigned char given[MAC_LEN];
    if (n != 7 + 2 * MAC_LEN || memcmp(p, "sha256=", 7) != 0) return 0;
    p += 7;
    for (int i = 0; i < MAC_LEN; i++) {
        int hi = hex_value((unsigned char)p[2 * i]), lo = hex_value((unsigned char)p[2 * i + 1]);
        if (hi < 0 || lo < 0) return 0;
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    return CRYPTO_memcmp(given, mac, MAC_LEN) == 0;
}

FwcStatus fwc_verify(FwcSigScheme scheme, const unsigned char *key, size_t keylen, const char *body,
                     size_t body_len, const char *sig, size_t sig_len, const char *id,
                     size_t id_len, const char *tsval, size_t ts_len, long long tolerance,
                     long long now, int *ok, FwcError *err)
{
    unsigned char mac[MAC_LEN];
    char expected[B64_MAC_LEN + 1], ts[24];
    long long timestamp = 0;
    Part parts[5];
    int nparts;
    FwcStatus rc;

    *ok = 0;
    strip_ows(&sig, &sig_len);
    if (scheme == FWC_SIG_STANDARD) {
        strip_ows(&id, &id_len);
        strip_ows(&tsval, &ts_len);
        if (parse_timestamp(tsval, ts_len, &timestamp) < 0) return FWC_OK;
        /* both sides are >= 0, so neither difference can overflow */
        if (now < 0 || (now > timestamp ? now - timestamp : timestamp - now) > tolerance)
            return FWC_OK;
        /* sign over the canonical number, as the reference libraries re-format it */
        ts_len = (size_t)snprintf(ts, sizeof ts, "%lld", timestamp);
        parts[0] = (Part){ id, id_len };
        parts[1] = (Part){ ".", 1 };
        parts[2] = (Part){ ts, ts_len };
        parts[3] = (Part){ ".", 1 };
        parts[4] = (Part){ body, body_len };
        nparts = 5;
    } else {
        parts[0] = (Part){ body, body_len };
        nparts = 1;
    }
    if ((rc = hmac_parts(key, keylen, parts, nparts, mac, err)) != FWC_OK) return rc;

    if (scheme == FWC_SIG_GITHUB) {
        *ok = match_github(sig, sig_len, mac);
    } else {
        b64_encode(mac, MAC_LEN, expected);
        if (scheme == FWC_SIG_STANDARD) *ok = match_v1(sig, sig_len, expected);
        else *ok = sig_len == B64_MAC_LEN && CRYPTO_memcmp(sig, expected, B64_MAC_LEN) == 0;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    return FWC_OK;
}
