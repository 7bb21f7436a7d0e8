/* sign.c — HMAC-SHA256 webhook signatures (Frappe, Standard Webhooks v1, GitHub) and
 * their verification.
 *
 * fwc_sign_key / fwc_sign / fwc_verify / fwc_new_msg_id run without the GIL and touch no
 * PyObject: the request builder calls them with the GIL released, and the fuzz targets
 * (tests/c/fuzz) call them without Python.  fwc_py_sign / fwc_py_verify are the module's
 * sign() and verify(); they hold the GIL except around the HMAC of a large body. */
#include "fwc.h"

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

#define MAC_LEN 32             /* SHA-256 digest */
#define BLOCK_LEN 64           /* SHA-256 block; HMAC hashes longer keys down to MAC_LEN */
#define KEY_MAX BLOCK_LEN      /* hence a key buffer this big always suffices */
#define B64_MAC_LEN 44         /* base64 of MAC_LEN bytes, padded */
#define BIG_BODY (64 * 1024)   /* below this, releasing the GIL costs more than it saves */
#define MSG_ID_MAX 127         /* sizeof FwcSigHeader.value - 1 */

#define WHSEC "whsec_"
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
    c |= 0x20;  /* GitHub sends lowercase; uppercase hex is the same digest */
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
    unsigned char key[KEY_MAX];
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
    int ok = EVP_DigestInit_ex(c->inner, sha256_md, NULL) && EVP_DigestUpdate(c->inner, ipad, BLOCK_LEN) &&
             EVP_DigestInit_ex(c->outer, sha256_md, NULL) && EVP_DigestUpdate(c->outer, opad, BLOCK_LEN);
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
static FwcStatus hmac_parts(const unsigned char *key, size_t keylen, const Part *parts,
                            int nparts, unsigned char mac[MAC_LEN], FwcError *err)
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
             EVP_MD_CTX_copy_ex(pads->work, pads->outer) && EVP_DigestUpdate(pads->work, inner, MAC_LEN) &&
             EVP_DigestFinal_ex(pads->work, mac, &n) && n == MAC_LEN;
        OPENSSL_cleanse(inner, sizeof inner);
        if (ok) return FWC_OK;
        ERR_clear_error();   /* fall through to the MAC API below */
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
 * KEY_MAX (64) bytes always suffice and long secrets cost no allocation later. */
FwcStatus fwc_sign_key(FwcSigScheme scheme, const char *secret, size_t secret_len,
                       unsigned char *key, size_t *keylen, FwcError *err)
{
    const unsigned char *raw = (const unsigned char *)secret;
    size_t rawlen = secret_len, need, cap = 0;
    unsigned char stackbuf[256], *decoded = NULL;
    FwcStatus rc;

    if (scheme != FWC_SIG_FRAPPE && scheme != FWC_SIG_STANDARD && scheme != FWC_SIG_GITHUB)
        return fwc_error_set(err, FWC_EVALUE, "unknown signature scheme %d", (int)scheme);
    if (secret_len == 0)
        return fwc_error_set(err, FWC_EVALUE, "secret must not be empty");

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
static int valid_msg_id(const char *id, size_t n)
{
    if (n == 0 || n > MSG_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f) return 0;
    return 1;
}

/* Unix time as time.time() sees it: glibc's time() reads the coarse clock, which can lag
 * a second boundary by a tick and disagree with Python callers. */
static long long now_seconds(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_REALTIME, &t) != 0) return (long long)time(NULL);
    return (long long)t.tv_sec;
}

/* msg_id NULL means a fresh id; timestamp < 0 means now (both "standard" only). */
int fwc_sign(FwcSigScheme scheme, const char *secret, size_t secret_len,
             const char *body, size_t body_len, const char *msg_id, long long timestamp,
             FwcSigHeader out[3], FwcError *err)
{
    unsigned char key[KEY_MAX], mac[MAC_LEN];
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
        if (!valid_msg_id(msg_id, idlen)) {
            fwc_error_set(err, FWC_EVALUE,
                          "msg_id must be 1 to %d printable ASCII characters without spaces",
                          MSG_ID_MAX);
            goto error;
        }
        if (timestamp < 0) timestamp = now_seconds();
        tslen = snprintf(ts, sizeof ts, "%lld", timestamp);
        Part parts[] = {{msg_id, idlen}, {".", 1}, {ts, (size_t)tslen}, {".", 1}, {body, body_len}};
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
        Part part = {body, body_len};
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

FwcStatus fwc_verify(FwcSigScheme scheme, const unsigned char *key, size_t keylen,
                     const char *body, size_t body_len, const char *sig, size_t sig_len,
                     const char *id, size_t id_len, const char *tsval, size_t ts_len,
                     long long tolerance, long long now, int *ok, FwcError *err)
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
        if (now < 0 || (now > timestamp ? now - timestamp : timestamp - now) > tolerance) return FWC_OK;
        /* sign over the canonical number, as the reference libraries re-format it */
        ts_len = (size_t)snprintf(ts, sizeof ts, "%lld", timestamp);
        parts[0] = (Part){id, id_len};
        parts[1] = (Part){".", 1};
        parts[2] = (Part){ts, ts_len};
        parts[3] = (Part){".", 1};
        parts[4] = (Part){body, body_len};
        nparts = 5;
    } else {
        parts[0] = (Part){body, body_len};
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

/* ---------- message ids ---------- */

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

void fwc_new_msg_id(char out[32])
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[48];
    size_t have = 0;
    int pos = 0;

    memcpy(out, "msg_", 4);
    while (pos < 24) {
        unsigned char b;
        if (have == 0) {
            if (RAND_bytes(rnd, (int)sizeof rnd) != 1) {
                ERR_clear_error();
                fallback_random(rnd, sizeof rnd);
            }
            have = sizeof rnd;
        }
        b = rnd[--have];
        /* 248 = 4 * 62: rejecting 248..255 keeps all 62 characters equally likely */
        if (b >= 248) continue;
        out[4 + pos++] = alphabet[b % 62];
    }
    out[28] = '\0';
    OPENSSL_cleanse(rnd, sizeof rnd);
}

/* ---------- Python-facing helpers (GIL held) ---------- */

/* Bytes of a str (UTF-8) or bytes-like argument, borrowed from `obj` or from `owned`. */
typedef struct {
    Py_buffer view;
    int has_view;
    PyObject *owned;    /* contiguous copy of a non-contiguous buffer */
    const char *p;
    size_t n;
} ArgBytes;

static void arg_bytes_release(ArgBytes *b)
{
    if (b->has_view) PyBuffer_Release(&b->view);
    b->has_view = 0;
    Py_CLEAR(b->owned);
}

static int arg_bytes(PyObject *obj, const char *what, ArgBytes *b)
{
    Py_ssize_t n;
    if (PyUnicode_Check(obj)) {
        if (!(b->p = PyUnicode_AsUTF8AndSize(obj, &n))) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError,
                             "%s: str cannot be encoded as UTF-8 (lone surrogate)", what);
            }
            return -1;
        }
        b->n = (size_t)n;
        return 0;
    }
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes-like, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_SIMPLE) == 0) {
        b->has_view = 1;
        b->p = b->view.buf;
        b->n = (size_t)b->view.len;
        return 0;
    }
    /* a non-contiguous memoryview refuses PyBUF_SIMPLE; bytes() makes it contiguous */
    if (!PyErr_ExceptionMatches(PyExc_BufferError)) return -1;
    PyErr_Clear();
    if (!(b->owned = PyBytes_FromObject(obj))) return -1;
    b->p = PyBytes_AS_STRING(b->owned);
    b->n = (size_t)PyBytes_GET_SIZE(b->owned);
    return 0;
}

static int arg_scheme(PyObject *obj, FwcSigScheme *out)
{
    if (!obj) return 0;     /* default "frappe" */
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "scheme must be str, not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyUnicode_CompareWithASCIIString(obj, "frappe") == 0) *out = FWC_SIG_FRAPPE;
    else if (PyUnicode_CompareWithASCIIString(obj, "standard") == 0) *out = FWC_SIG_STANDARD;
    else if (PyUnicode_CompareWithASCIIString(obj, "github") == 0) *out = FWC_SIG_GITHUB;
    else {
        PyErr_Format(PyExc_ValueError,
                     "unknown signature scheme %R (expected 'frappe', 'standard' or 'github')",
                     obj);
        return -1;
    }
    return 0;
}

/* A non-negative integer argument (anything with __index__, but not bool).  Values past
 * LLONG_MAX give `big` when it is >= 0, else ValueError. */
static int arg_nonneg_int(PyObject *obj, const char *what, long long big, long long *out)
{
    PyObject *idx;
    long long v;
    int overflow = 0;

    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be int, not %.100s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!(idx = PyNumber_Index(obj))) return -1;
    v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow > 0 && big >= 0) v = big;
    else if (overflow || v < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be a non-negative int that fits in 64 bits", what);
        return -1;
    }
    *out = v;
    return 0;
}

static PyObject *raise_status(const FwcError *err)
{
    switch (err->code) {
    case FWC_ENOMEM:
        return PyErr_NoMemory();
    case FWC_ETYPE:
        PyErr_SetString(PyExc_TypeError, err->message);
        return NULL;
    default:
        PyErr_SetString(PyExc_ValueError, err->message);
        return NULL;
    }
}

/* ---------- sign() ---------- */

PyObject *fwc_py_sign(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"secret", "body", "scheme", "msg_id", "timestamp", NULL};
    PyObject *secret_o, *body_o, *scheme_o = NULL, *msg_id_o = Py_None, *ts_o = Py_None;
    PyObject *result = NULL, *value = NULL;
    ArgBytes secret = {0}, body = {0};
    FwcSigScheme scheme = FWC_SIG_FRAPPE;
    FwcSigHeader hdr[3];
    FwcError err = {0};
    const char *msg_id = NULL;
    long long timestamp = -1;
    int n;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O$OO:sign", kwlist, &secret_o, &body_o,
                                     &scheme_o, &msg_id_o, &ts_o))
        return NULL;
    if (arg_scheme(scheme_o, &scheme) < 0) goto error;
    if (arg_bytes(secret_o, "secret", &secret) < 0) goto error;
    if (arg_bytes(body_o, "body", &body) < 0) goto error;
    /* msg_id and timestamp only matter for "standard", but a wrong type is always a bug */
    if (msg_id_o != Py_None) {
        Py_ssize_t len;
        if (!PyUnicode_Check(msg_id_o)) {
            PyErr_Format(PyExc_TypeError, "msg_id must be str or None, not %.100s",
                         Py_TYPE(msg_id_o)->tp_name);
            goto error;
        }
        /* checked here whatever the scheme, so a bad id fails the same way everywhere */
        if (!(msg_id = PyUnicode_AsUTF8AndSize(msg_id_o, &len))) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) goto error;
            PyErr_Clear();
        }
        if (!msg_id || !valid_msg_id(msg_id, (size_t)len)) {
            PyErr_Format(PyExc_ValueError,
                         "msg_id must be 1 to %d printable ASCII characters without spaces",
                         MSG_ID_MAX);
            goto error;
        }
    }
    if (ts_o != Py_None && arg_nonneg_int(ts_o, "timestamp", -1, &timestamp) < 0) goto error;

    if (body.n > BIG_BODY) {
        Py_BEGIN_ALLOW_THREADS
        n = fwc_sign(scheme, secret.p, secret.n, body.p, body.n, msg_id, timestamp, hdr, &err);
        Py_END_ALLOW_THREADS
    } else {
        n = fwc_sign(scheme, secret.p, secret.n, body.p, body.n, msg_id, timestamp, hdr, &err);
    }
    if (n < 0) {
        raise_status(&err);
        goto error;
    }

    if (!(result = PyDict_New())) goto error;
    for (int i = 0; i < n; i++) {
        if (!(value = PyUnicode_FromString(hdr[i].value))) goto error;
        if (PyDict_SetItemString(result, hdr[i].name, value) < 0) goto error;
        Py_CLEAR(value);
    }
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return result;
error:
    Py_XDECREF(value);
    Py_XDECREF(result);
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return NULL;
}

/* ---------- verify() ---------- */

/* Case-insensitive comparison of a header-name key (str or bytes) with an ASCII name. */
static int name_matches(PyObject *key, const char *name)
{
    size_t n = strlen(name);
    if (PyUnicode_Check(key)) {
        int kind = PyUnicode_KIND(key);
        const void *data = PyUnicode_DATA(key);
        if ((size_t)PyUnicode_GET_LENGTH(key) != n) return 0;
        for (size_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, (Py_ssize_t)i);
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
            if (c != (Py_UCS4)(unsigned char)name[i]) return 0;
        }
        return 1;
    }
    if (PyBytes_Check(key)) {
        const char *k = PyBytes_AS_STRING(key);
        if ((size_t)PyBytes_GET_SIZE(key) != n) return 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)k[i];
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
            if (c != (unsigned char)name[i]) return 0;
        }
        return 1;
    }
    return 0;
}

/* Records one (key, value) pair against the wanted names (lowercase). */
static void match_header(PyObject *key, PyObject *value, const char *const *names, int nnames,
                         PyObject **found, int *dup)
{
    for (int i = 0; i < nnames; i++) {
        if (!name_matches(key, names[i])) continue;
        /* two spellings of one header: which one was signed is anyone's guess */
        if (found[i]) *dup = 1;
        else {
            Py_INCREF(value);
            found[i] = value;
        }
        return;
    }
}

/* Looks up names case-insensitively in a Mapping (anything with items()).  found[i] gets
 * a new reference to the value, or stays NULL.  The references keep the values alive
 * while the GIL is released, whatever happens to the mapping meanwhile. */
static int find_headers(PyObject *headers, const char *const *names, int nnames,
                        PyObject **found, int *dup)
{
    PyObject *meth = NULL, *items = NULL, *seq = NULL;

    if (PyDict_Check(headers)) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        /* name_matches runs no Python code, so the dict cannot change under PyDict_Next */
        while (PyDict_Next(headers, &pos, &key, &value))
            match_header(key, value, names, nnames, found, dup);
        return 0;
    }
    if (!(meth = PyObject_GetAttrString(headers, "items"))) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "headers must be a mapping, not %.100s",
                         Py_TYPE(headers)->tp_name);
        }
        goto error;
    }
    if (!(items = PyObject_CallNoArgs(meth))) goto error;
    if (!(seq = PySequence_Fast(items, "headers.items() must return an iterable"))) goto error;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "headers.items() must yield (name, value) pairs");
            goto error;
        }
        match_header(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), names, nnames,
                     found, dup);
    }
    Py_DECREF(meth);
    Py_DECREF(items);
    Py_DECREF(seq);
    return 0;
error:
    Py_XDECREF(meth);
    Py_XDECREF(items);
    Py_XDECREF(seq);
    return -1;
}

/* Bytes of a header value (str as UTF-8, or bytes), as received: fwc_verify strips the
 * whitespace around it.  1 ok, 0 garbled (wrong type, lone surrogate), -1 exception. */
static int header_value(PyObject *v, const char **p, size_t *n)
{
    Py_ssize_t len;
    const char *s;
    if (PyUnicode_Check(v)) {
        if (!(s = PyUnicode_AsUTF8AndSize(v, &len))) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
            PyErr_Clear();
            return 0;
        }
    } else if (PyBytes_Check(v)) {
        s = PyBytes_AS_STRING(v);
        len = PyBytes_GET_SIZE(v);
    } else {
        return 0;
    }
    *p = s;
    *n = (size_t)len;
    return 1;
}

PyObject *fwc_py_verify(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"secret", "body", "headers", "scheme", "tolerance", NULL};
    static const char *const frappe_names[] = {"x-frappe-webhook-signature"};
    static const char *const github_names[] = {"x-hub-signature-256"};
    static const char *const standard_names[] = {"webhook-signature", "webhook-id",
                                                 "webhook-timestamp"};
    PyObject *secret_o, *body_o, *headers_o, *scheme_o = NULL, *tol_o = NULL;
    PyObject *found[3] = {NULL, NULL, NULL};
    ArgBytes secret = {0}, body = {0};
    FwcSigScheme scheme = FWC_SIG_FRAPPE;
    FwcError err = {0};
    FwcStatus rc;
    unsigned char key[KEY_MAX];
    size_t keylen = sizeof key;
    const char *const *names;
    const char *sig, *id = NULL, *tsval = NULL;
    size_t sig_len, id_len = 0, ts_len = 0;
    long long tolerance = 300;
    int nnames, dup = 0, ok = 0, r;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|O$O:verify", kwlist, &secret_o, &body_o,
                                     &headers_o, &scheme_o, &tol_o))
        return NULL;
    if (arg_scheme(scheme_o, &scheme) < 0) goto error;
    if (arg_bytes(secret_o, "secret", &secret) < 0) goto error;
    if (arg_bytes(body_o, "body", &body) < 0) goto error;
    if (tol_o && arg_nonneg_int(tol_o, "tolerance", LLONG_MAX, &tolerance) < 0) goto error;
    /* the key first: a bad secret is the caller's error whatever the headers say */
    if (fwc_sign_key(scheme, secret.p, secret.n, key, &keylen, &err) != FWC_OK) {
        raise_status(&err);
        goto error;
    }

    if (scheme == FWC_SIG_STANDARD) names = standard_names, nnames = 3;
    else if (scheme == FWC_SIG_GITHUB) names = github_names, nnames = 1;
    else names = frappe_names, nnames = 1;
    if (find_headers(headers_o, names, nnames, found, &dup) < 0) goto error;
    if (dup) goto done;
    for (int i = 0; i < nnames; i++)
        if (!found[i]) goto done;
    if ((r = header_value(found[0], &sig, &sig_len)) <= 0) goto check;
    if (scheme == FWC_SIG_STANDARD) {
        if ((r = header_value(found[1], &id, &id_len)) <= 0) goto check;
        if ((r = header_value(found[2], &tsval, &ts_len)) <= 0) goto check;
    }

    /* found[] holds references, so id/sig stay valid without the GIL */
    if (body.n > BIG_BODY) {
        Py_BEGIN_ALLOW_THREADS
        rc = fwc_verify(scheme, key, keylen, body.p, body.n, sig, sig_len, id, id_len, tsval, ts_len,
                        tolerance, now_seconds(), &ok, &err);
        Py_END_ALLOW_THREADS
    } else {
        rc = fwc_verify(scheme, key, keylen, body.p, body.n, sig, sig_len, id, id_len, tsval, ts_len,
                        tolerance, now_seconds(), &ok, &err);
    }
    if (rc != FWC_OK) {
        raise_status(&err);
        goto error;
    }
    goto done;

check:
    if (r < 0) goto error;
done:
    OPENSSL_cleanse(key, sizeof key);
    for (int i = 0; i < 3; i++) Py_XDECREF(found[i]);
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return PyBool_FromLong(ok);
error:
    OPENSSL_cleanse(key, sizeof key);
    for (int i = 0; i < 3; i++) Py_XDECREF(found[i]);
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return NULL;
}
