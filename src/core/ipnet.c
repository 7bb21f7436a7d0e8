/* ipnet.c — IP networks as allowed_networks writes them ("10.0.0.0/8", "fd00::/8", a bare
 * address): parsing with the reason for a refusal, and the canonical text. */
#include "core/core.h"
#include <arpa/inet.h>
#include <stdio.h>

int fwc_net_parse(const char *text, FwcNetwork *out, char *why, size_t whylen)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    memset(out, 0, sizeof *out);
    if (alen == 0 || alen >= sizeof addr) goto bad;
    memcpy(addr, text, alen);
    addr[alen] = 0;
    if (inet_pton(AF_INET, addr, out->addr) == 1) out->family = 4;
    else if (inet_pton(AF_INET6, addr, out->addr) == 1) out->family = 6;
    else goto bad;
    int max = out->family == 4 ? 32 : 128;
    int prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3) goto bad;
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') goto bad;
            prefix = prefix * 10 + (*p - '0');
        }
        if (prefix > max) {
            snprintf(why, whylen, "%s: the prefix length must be at most %d", text, max);
            return -1;
        }
    }
    out->prefix = (uint8_t)prefix;
    uint8_t masked[16];
    memset(masked, 0, sizeof masked);
    memcpy(masked, out->addr, (size_t)prefix / 8);
    if (prefix % 8)
        masked[prefix / 8] = (uint8_t)(out->addr[prefix / 8] & (0xff << (8 - prefix % 8)));
    if (memcmp(masked, out->addr, 16) != 0) {
        snprintf(why, whylen, "%s has host bits set", text);
        return -1;
    }
    return 0;
bad:
    snprintf(why, whylen, "%s is not an IP network (like '10.0.0.0/8' or 'fd00::/8')", text);
    return -1;
}

void fwc_net_format(const FwcNetwork *n, char *out, size_t outlen)
{
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(n->family == 4 ? AF_INET : AF_INET6, n->addr, text, sizeof text))
        strcpy(text, "?");
    snprintf(out, outlen, "%s/%d", text, n->prefix);
}
