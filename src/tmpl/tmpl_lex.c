/* tmpl_lex.c — template text -> segments, as Jinja's lexer splits it with the default
 * environment settings Frappe uses: `{{ }}`, `{% %}`, `{# #}`, whitespace control with
 * `-` (and `+`, accepted and ignored: lstrip_blocks is off), `{% raw %}`, newlines
 * normalised to "\n", one trailing newline dropped (keep_trailing_newline=False).
 * Tag ends are found the way Jinja's lexer finds them: outside string literals and
 * with brackets balanced.  No GIL. */
#include "tmpl/tmpl.h"

static int lex_fail(FwcError *err, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = FWC_EVALUE;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->line = line;
    err->col = 0;
    return -1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    int line, col; /* of s[pos] */
} Cursor;

static void advance_to(Cursor *c, size_t to)
{
    while (c->pos < to) {
        unsigned char ch = (unsigned char)c->s[c->pos++];
        if (ch == '\n') {
            c->line++;
            c->col = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c->col++;
        }
    }
}

typedef struct {
    TSeg *v;
    size_t n, cap;
} SegVec;

static int seg_push(FwcArena *a, SegVec *sv, int kind, size_t start, size_t end, int line, int col)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 32;
        TSeg *v = fwc_arena_alloc(a, sizeof *v * cap);
        if (!v) return -1;
        if (sv->n) memcpy(v, sv->v, sizeof *v * sv->n);
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = (TSeg){ kind, start, end, line, col };
    return 0;
}

/* End of a {{ }} / {% %} tag whose inside starts at i: the index of the closing "}}" or
 * "%}" (close = '}' or '%'), skipping strings and balanced brackets; (size_t)-1 if none. */
static size_t find_tag_end(const char *s, size_t len, size_t i, char close)
{
    int depth = 0;
    while (i < len) {
        char c = s[i];
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < len && s[j] != c) {
                if (s[j] == '\\' && j + 1 < len) j++;
                j++;
            }
            if (j >= len) return (size_t)-1;
            i = j + 1;
            continue;
        }
        if (depth == 0 && c == close && i + 1 < len && s[i + 1] == '}') return i;
        if (c == '(' || c == '[' || c == '{') depth++;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
        i++;
    }
    return (size_t)-1;
}

/* Is s[i..] "{%" [-+] ws* "endraw" ws* [-] "%}"?  Sets *end past it, *strip_before. */
static int match_endraw(const char *s, size_t len, size_t i, size_t *end, int *strip_before)
{
    if (i + 1 >= len || s[i] != '{' || s[i + 1] != '%') return 0;
    size_t j = i + 2;
    *strip_before = 0;
    if (j < len && (s[j] == '-' || s[j] == '+')) {
        *strip_before = s[j] == '-';
        j++;
    }
    while (j < len && is_ws(s[j])) j++;
    if (j + 6 > len || memcmp(s + j, "endraw", 6) != 0) return 0;
    j += 6;
    while (j < len && is_ws(s[j])) j++;
    if (j < len && s[j] == '-') j++;
    if (j + 1 >= len || s[j] != '%' || s[j + 1] != '}') return 0;
    *end = j + 2;
    return 1;
}

int fwc_tmpl_lex(FwcArena *arena, const char *src, size_t len, const char **text, size_t *text_len,
                 TSeg **segs, size_t *nsegs, FwcError *err)
{
    /* newlines -> "\n"; drop one trailing newline */
    char *t = fwc_arena_alloc(arena, len + 1);
    if (!t) return fwc_error_set(err, FWC_ENOMEM, "out of memory"), -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            t[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            t[n++] = src[i];
        }
    }
    if (n && t[n - 1] == '\n') n--;
    t[n] = '\0';
    *text = t;
    *text_len = n;

    SegVec sv = { 0 };
    Cursor c = { t, n, 0, 1, 1 };
    int lstrip_next = 0;
    for (;;) {
        size_t i = c.pos;
        while (i + 1 < n &&
               !(t[i] == '{' && (t[i + 1] == '{' || t[i + 1] == '%' || t[i + 1] == '#')))
            i++;
        if (i + 1 >= n) i = n;
        size_t ds = c.pos, de = i;
        if (i < n && i + 2 < n && t[i + 2] == '-')
            while (de > ds && is_ws(t[de - 1])) de--;
        if (lstrip_next)
            while (ds < de && is_ws(t[ds])) ds++;
        lstrip_next = 0;
        if (de > ds) {
            Cursor d = c;
            advance_to(&d, ds);
            if (seg_push(arena, &sv, TS_DATA, ds, de, d.line, d.col) < 0) goto nomem;
        }
        if (i >= n) break;
        advance_to(&c, i);
        int tag_line = c.line;
        char kind = t[i + 1];
        size_t in = i + 2;
        if (in < n && (t[in] == '-' || t[in] == '+')) in++;
        if (kind == '#') {
            size_t j = in;
            while (j + 1 < n && !(t[j] == '#' && t[j + 1] == '}')) j++;
            if (j + 1 >= n) return lex_fail(err, tag_line, "Missing end of comment tag");
            if (j > in && t[j - 1] == '-') lstrip_next = 1;
            advance_to(&c, j + 2);
            continue;
        }
        size_t e = find_tag_end(t, n, in, kind == '{' ? '}' : '%');
        if (e == (size_t)-1)
            return lex_fail(err, tag_line, "unexpected end of template, expected '%s'",
                            kind == '{' ? "end of print statement" : "end of statement block");
        size_t ie = e;
        if (ie > in && t[ie - 1] == '-') {
            ie--;
            lstrip_next = 1;
        }
        advance_to(&c, in);
        int line = c.line, col = c.col;
        /* {% raw %} ... {% endraw %} */
        if (kind == '%') {
            size_t a = in, b = ie;
            while (a < b && is_ws(t[a])) a++;
            while (b > a && is_ws(t[b - 1])) b--;
            if (b - a == 3 && memcmp(t + a, "raw", 3) == 0) {
                size_t rs = e + 2, j = rs, end = 0;
                int strip_before = 0;
                while (j < n && !match_endraw(t, n, j, &end, &strip_before)) j++;
                if (j >= n) return lex_fail(err, tag_line, "Missing end of raw directive");
                size_t re = j;
                if (lstrip_next)
                    while (rs < re && is_ws(t[rs])) rs++;
                if (strip_before)
                    while (re > rs && is_ws(t[re - 1])) re--;
                lstrip_next = t[end - 3] == '-';
                if (re > rs) {
                    Cursor d = c;
                    advance_to(&d, rs);
                    if (seg_push(arena, &sv, TS_DATA, rs, re, d.line, d.col) < 0) goto nomem;
                }
                advance_to(&c, end);
                continue;
            }
        }
        if (seg_push(arena, &sv, kind == '{' ? TS_VAR : TS_BLOCK, in, ie, line, col) < 0)
            goto nomem;
        advance_to(&c, e + 2);
    }
    *segs = sv.v;
    *nsegs = sv.n;
    return 0;
nomem:
    fwc_error_set(err, FWC_ENOMEM, "out of memory");
    return -1;
}
