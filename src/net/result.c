/* result.c — the transport result both transports fill (FwcResult), and the way error
 * texts write seconds. */
#include "net/net.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void fwc_result_free(FwcResult *r)
{
    fwc_buf_free(&r->headers);
    fwc_buf_free(&r->body);
    free(r->url);
    r->url = NULL;
}

void fwc_seconds_text(double s, char *out, size_t n)
{
    if (s == floor(s) && s < 1e15) snprintf(out, n, "%.1f", s);
    else snprintf(out, n, "%g", s);
}
