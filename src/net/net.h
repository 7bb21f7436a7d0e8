/* net.h — the transports, without the GIL:
 *
 *   ssrf.c         which addresses a webhook may connect to (both transports ask it)
 *   http.c         libcurl: dispatch() on the calling thread's handle, and the transfers
 *                  a delivery worker drives on its multi handle
 *   result.c       the transport result (FwcResult) both transports fill
 *   h1*.c          the native HTTP/1.1 client a worker uses for plain http:// (h1.h) */
#ifndef FWC_NET_H
#define FWC_NET_H

#include "request/request.h"

/* ---------- HTTP transport (http.c): libcurl, no GIL, no PyObject ----------
 * fwc_http_send() sends one request on the calling thread's own handle, which keeps
 * connections alive between calls; a delivery worker keeps transfers on its pooled
 * handles (fwc_http_transfer_new / fwc_http_rearm) and drives them on its multi
 * handle, then fwc_http_complete() with the CURLcode. */

#define FWC_DEFAULT_MAX_RESPONSE 65536

typedef enum {
    FWC_NET_OK = 0,  /* a response arrived (any status) */
    FWC_NET_REFUSED, /* connection refused / could not connect */
    FWC_NET_TIMEOUT,
    FWC_NET_TLS,      /* certificate verification or handshake */
    FWC_NET_SSRF,     /* the address is not allowed (never retried) */
    FWC_NET_REDIRECT, /* a redirect was refused or there were too many */
    FWC_NET_DNS,
    FWC_NET_RESET, /* reset / closed without a response */
    FWC_NET_OTHER,
} FwcNetKind;

typedef struct {
    long status; /* HTTP status of the final response; 0 when none */
    FwcNetKind kind;
    int truncated;   /* the body was longer than max_response_bytes */
    double elapsed;  /* seconds, whole transfer */
    FwcBuf headers;  /* final response's header lines, "Name: value\r\n" each */
    FwcBuf body;     /* at most max_response_bytes */
    char *url;       /* effective URL after redirects (malloc'd); NULL: the request's */
    char error[512]; /* "" when kind == FWC_NET_OK and the status is not a refused redirect */
} FwcResult;

typedef struct FwcTransfer FwcTransfer; /* opaque; lives in http.c */

int fwc_http_global_init(void); /* curl_global_init once; -1 on failure (module init) */
/* Fills the result from the perform's CURLcode; the result is moved out to `out`. */
void fwc_http_complete(FwcTransfer *t, int curl_code, FwcResult *out);
/* A transfer that stays with its easy handle across requests (the Dispatcher's handle
 * pool): fwc_http_transfer_new(easy) once (NULL on OOM); before each request
 * fwc_http_rearm(t, spec, req), which sets only the per-request options when spec is the
 * previous request's (and the URL only when it changed): 0 ok, 1 ok but the handle was
 * reset (curl_easy_reset: the caller's own options are gone), -1 out of memory; then
 * perform and fwc_http_complete as above; fwc_http_transfer_free(t) at the end (the easy
 * handle is the caller's). */
FwcTransfer *fwc_http_transfer_new(void *easy);
int fwc_http_rearm(FwcTransfer *t, const FwcHookSpec *spec, const FwcBuilt *req);
/* The SSRF-checked socket opener that fwc_http_rearm installs
 * (CURLOPT_OPENSOCKETFUNCTION with t), for a caller that wraps it. */
int fwc_http_open_socket(FwcTransfer *t, int purpose, void *curl_sockaddr);
void fwc_http_transfer_free(FwcTransfer *t);
/* Synchronous send on this thread's handle.  FWC_ENOMEM only; network failures are in out. */
FwcStatus fwc_http_send(const FwcHookSpec *spec, const FwcBuilt *req, FwcResult *out,
                        FwcError *err);
void fwc_result_free(FwcResult *r);
/* A number of seconds as the error texts write it: "5.0", "0.25" (http.c). */
void fwc_seconds_text(double s, char *out, size_t n);

/* ---------- SSRF policy (ssrf.c) ---------- */

/* SSRF classification: the reason an address is refused ("loopback address", ...) or
 * NULL for a public address.  addr is 4 or 16 bytes. */
const char *fwc_addr_class(int family, const uint8_t *addr);
/* 0 when spec allows connecting to the address (text form), else -1 with msg filled. */
int fwc_addr_check(const FwcHookSpec *spec, int family, const uint8_t *addr, char *msg,
                   size_t msglen);

#endif
