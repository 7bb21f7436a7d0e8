/* fuzz_verify.c — signature verification (sign.c: fwc_sign_key, fwc_verify, fwc_sign)
 * with hostile secrets and header values, for the Frappe, Standard Webhooks and GitHub
 * schemes.  Any input must give a clean verdict; and what fwc_sign produces for the
 * input's secret and body must verify, with whitespace around the header values or with
 * extra signatures around it (Standard Webhooks lists several).  No Python.
 *
 * Input: byte 0 picks the scheme, the tolerance and the padding; the rest is
 * "secret\nsignature\nid\ntimestamp\nbody" (missing fields are empty). */
#include "fuzz_common.h"

#define NOW 1767225600LL /* 2026-01-01: verdicts must not depend on the clock */

typedef struct {
    const char *p;
    size_t n;
} Field;

static int verify(FwcSigScheme scheme, const unsigned char *key, size_t keylen, Field body,
                  Field sig, Field id, Field ts, long long tolerance)
{
    int ok = -1;
    FwcError err = { 0 };
    FwcStatus st = fwc_verify(scheme, key, keylen, body.p, body.n, sig.p, sig.n, id.p, id.n, ts.p,
                              ts.n, tolerance, NOW, &ok, &err);
    FUZZ_CHECK(st == FWC_OK, "verify failed: %d %s", (int)st, err.message);
    FUZZ_CHECK(ok == 0 || ok == 1, "verdict %d", ok);
    return ok;
}

/* value with `pad` spaces/tabs on both sides, in a fresh exact-size allocation */
static char *padded(const char *v, size_t n, int pad, size_t *outlen)
{
    char *p = malloc(n + 2 * (size_t)pad + 1);
    if (!p) abort();
    for (int i = 0; i < pad; i++) p[i] = p[pad + n + i] = i & 1 ? '\t' : ' ';
    if (n) memcpy(p + pad, v, n);
    *outlen = n + 2 * (size_t)pad;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const FwcSigScheme schemes[] = { FWC_SIG_FRAPPE, FWC_SIG_STANDARD, FWC_SIG_GITHUB };
    static const long long tolerances[] = { 300, 0, 1, (long long)(~0ULL >> 1) };
    if (size < 1) return 0;
    FwcSigScheme scheme = schemes[data[0] % 3];
    long long tolerance = tolerances[(data[0] >> 2) & 3];
    int pad = (data[0] >> 4) & 3;
    int extra_sigs = (data[0] >> 6) & 1;

    char *text = fuzz_copy(data + 1, size - 1);
    Field f[5] = { { 0 } };
    size_t pos = 0, len = size - 1;
    for (int i = 0; i < 5; i++) {
        const char *nl = i < 4 ? memchr(text + pos, '\n', len - pos) : NULL;
        size_t end = nl ? (size_t)(nl - text) : len;
        f[i] = (Field){ text + pos, end - pos };
        pos = nl ? end + 1 : len;
    }
    Field secret = f[0], sig = f[1], id = f[2], ts = f[3], body = f[4];

    unsigned char key[64];
    size_t keylen = sizeof key;
    FwcError err = { 0 };
    FwcStatus st = fwc_sign_key(scheme, secret.p, secret.n, key, &keylen, &err);
    if (st != FWC_OK) {
        FUZZ_CHECK(st == FWC_EVALUE, "sign_key status %d", (int)st);
        FUZZ_CHECK(err.message[0], "a key error without a message");
        free(text);
        return 0;
    }
    FUZZ_CHECK(keylen >= 1 && keylen <= sizeof key, "key length %zu", keylen);

    /* hostile header values: any verdict, but a clean one */
    verify(scheme, key, keylen, body, sig, id, ts, tolerance);

    /* what we sign verifies; the id is the input's when it is a valid one */
    char idbuf[128];
    size_t idn = id.n < sizeof idbuf - 1 ? id.n : sizeof idbuf - 1;
    memcpy(idbuf, id.p, idn);
    idbuf[idn] = 0;
    FwcSigHeader hdr[3];
    int n = fwc_sign(scheme, secret.p, secret.n, body.p, body.n, idbuf, NOW, hdr, &err);
    if (n < 0) {
        FUZZ_CHECK(scheme == FWC_SIG_STANDARD, "sign failed: %s", err.message);
        n = fwc_sign(scheme, secret.p, secret.n, body.p, body.n, "msg_fuzz", NOW, hdr, &err);
    }
    FUZZ_CHECK(n == (scheme == FWC_SIG_STANDARD ? 3 : 1), "sign gave %d headers: %s", n,
               err.message);
    Field good_sig = { hdr[n - 1].value, strlen(hdr[n - 1].value) };
    Field good_id = { 0 }, good_ts = { 0 };
    if (scheme == FWC_SIG_STANDARD) {
        good_id = (Field){ hdr[0].value, strlen(hdr[0].value) };
        good_ts = (Field){ hdr[1].value, strlen(hdr[1].value) };
    }
    size_t sn, in, tn;
    char *ps = padded(good_sig.p, good_sig.n, pad, &sn);
    char *pi = padded(good_id.p, good_id.n, pad, &in);
    char *pt = padded(good_ts.p, good_ts.n, pad, &tn);
    FUZZ_CHECK(verify(scheme, key, keylen, body, (Field){ ps, sn }, (Field){ pi, in },
                      (Field){ pt, tn }, tolerance),
               "a fresh signature does not verify (scheme %d, pad %d)", (int)scheme, pad);
    if (scheme == FWC_SIG_STANDARD && extra_sigs) {
        /* "v1,<junk> <ours> <the input's signature>": any listed v1 signature counts */
        size_t m = 9 + good_sig.n + 1 + sig.n;
        char *multi = malloc(m);
        if (!multi) abort();
        memcpy(multi, "v1,bogus ", 9);
        memcpy(multi + 9, good_sig.p, good_sig.n);
        multi[9 + good_sig.n] = ' ';
        if (sig.n) memcpy(multi + 10 + good_sig.n, sig.p, sig.n);
        FUZZ_CHECK(
            verify(scheme, key, keylen, body, (Field){ multi, m }, good_id, good_ts, tolerance),
            "a listed signature does not verify");
        free(multi);
    }
    /* one byte more of body: never the same signature */
    if (body.n > 0) {
        Field shorter = { body.p, body.n - 1 };
        FUZZ_CHECK(!verify(scheme, key, keylen, shorter, good_sig, good_id, good_ts, tolerance),
                   "a signature verifies for a different body");
    }
    free(ps);
    free(pi);
    free(pt);
    free(text);
    return 0;
}
