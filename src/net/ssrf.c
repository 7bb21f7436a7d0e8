/* ssrf.c — the SSRF policy: which addresses a webhook may connect to.  Private, loopback,
 * link-local (cloud metadata), multicast and reserved ranges are refused unless the webhook
 * allows private networks or lists the address's network in allowed_networks.  Both
 * transports ask it for every address they connect to (after DNS, so a name cannot
 * smuggle a private address past it). */
#include "net/net.h"
#include <arpa/inet.h>
#include <stdio.h>

typedef struct {
    uint8_t addr[4];
    uint8_t prefix;
    const char *why;
} V4Range;

static const V4Range V4_RANGES[] = {
    { { 0, 0, 0, 0 }, 8, "unspecified address" },
    { { 10, 0, 0, 0 }, 8, "private address" },
    { { 100, 64, 0, 0 }, 10, "carrier-grade NAT address" },
    { { 127, 0, 0, 0 }, 8, "loopback address" },
    { { 169, 254, 0, 0 }, 16, "link-local address" },
    { { 172, 16, 0, 0 }, 12, "private address" },
    { { 192, 0, 0, 0 }, 24, "reserved address" },
    { { 192, 0, 2, 0 }, 24, "documentation address" },
    { { 192, 88, 99, 0 }, 24, "reserved address" },
    { { 192, 168, 0, 0 }, 16, "private address" },
    { { 198, 18, 0, 0 }, 15, "benchmark address" },
    { { 198, 51, 100, 0 }, 24, "documentation address" },
    { { 203, 0, 113, 0 }, 24, "documentation address" },
    { { 224, 0, 0, 0 }, 4, "multicast address" },
    { { 240, 0, 0, 0 }, 4, "reserved address" },
};

/* what an IPv6 range means; EMBED_* classify the IPv4 address inside */
enum { V6_WHY, V6_EMBED_LAST32, V6_EMBED_6TO4 };

typedef struct {
    uint8_t addr[16];
    uint8_t prefix;
    int kind;
    const char *why;
} V6Range;

static const V6Range V6_RANGES[] = {
    { { 0 }, 128, V6_WHY, "unspecified address" },
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, V6_WHY, "loopback address" },
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96, V6_EMBED_LAST32, "IPv4-mapped" },
    { { 0, 0x64, 0xff, 0x9b }, 96, V6_EMBED_LAST32, "NAT64" },
    { { 0, 0x64, 0xff, 0x9b, 0, 1 }, 48, V6_WHY, "private address" },
    { { 0 }, 8, V6_WHY, "reserved address" },           /* IPv4-compatible and other ::/8 forms */
    { { 0x01, 0x00 }, 64, V6_WHY, "reserved address" }, /* discard-only */
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, V6_WHY, "documentation address" },
    { { 0x20, 0x01 }, 23, V6_WHY, "reserved address" }, /* IETF special purpose, Teredo */
    { { 0x20, 0x02 }, 16, V6_EMBED_6TO4, "6to4" },
    { { 0x3f, 0xff }, 20, V6_WHY, "documentation address" },
    { { 0xfc }, 7, V6_WHY, "private address" }, /* unique local */
    { { 0xfe, 0x80 }, 10, V6_WHY, "link-local address" },
    { { 0xfe, 0xc0 }, 10, V6_WHY, "private address" }, /* site-local (deprecated) */
    { { 0xff }, 8, V6_WHY, "multicast address" },
};

static int prefix_match(const uint8_t *a, const uint8_t *net, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

const char *fwc_addr_class(int family, const uint8_t *addr)
{
    if (family == 4) {
        for (size_t i = 0; i < sizeof V4_RANGES / sizeof *V4_RANGES; i++)
            if (prefix_match(addr, V4_RANGES[i].addr, V4_RANGES[i].prefix)) return V4_RANGES[i].why;
        return NULL;
    }
    for (size_t i = 0; i < sizeof V6_RANGES / sizeof *V6_RANGES; i++) {
        const V6Range *r = &V6_RANGES[i];
        if (!prefix_match(addr, r->addr, r->prefix)) continue;
        if (r->kind == V6_EMBED_LAST32) return fwc_addr_class(4, addr + 12);
        if (r->kind == V6_EMBED_6TO4) return fwc_addr_class(4, addr + 2);
        return r->why;
    }
    if ((addr[0] & 0xe0) != 0x20) return "reserved address"; /* outside 2000::/3 */
    return NULL;
}

static int net_match(const FwcNetwork *n, int family, const uint8_t *addr)
{
    return n->family == family && prefix_match(addr, n->addr, n->prefix);
}

static int is_v4_mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    return memcmp(a, prefix, 12) == 0;
}

int fwc_addr_check(const FwcHookSpec *spec, int family, const uint8_t *addr, char *msg,
                   size_t msglen)
{
    const char *why = fwc_addr_class(family, addr);
    if (!why || spec->allow_private_networks) return 0;
    int mapped = family == 6 && is_v4_mapped(addr);
    for (size_t i = 0; i < spec->nallowed_networks; i++) {
        const FwcNetwork *n = &spec->allowed_networks[i];
        if (net_match(n, family, addr) || (mapped && net_match(n, 4, addr + 12))) return 0;
    }
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, text, sizeof text)) strcpy(text, "?");
    int metadata = (family == 4 && memcmp(addr, "\xa9\xfe\xa9\xfe", 4) == 0) ||
                   (mapped && memcmp(addr + 12, "\xa9\xfe\xa9\xfe", 4) == 0);
    snprintf(msg, msglen, "refused to connect to %s: %s%s%s (allow_private_networks=True to allow)",
             text, why, metadata ? ", the cloud metadata endpoint" : "",
             mapped ? " (IPv4-mapped IPv6)" : "");
    return -1;
}
