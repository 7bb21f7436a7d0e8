/* tmpl_format.c — printf-style formatting, `fmt % args`, as Python's str.__mod__
 * (PyUnicode_Format, Objects/unicodeobject.c) computes it: the `format` filter (Jinja's
 * do_format: str(value) % (kwargs or args)) and the template's `%` operator on a str.
 * Conversions s r a d i u o x X e E f F g G c and %%, flags - + space # 0, width and
 * precision as digits or `*`, mapping keys %(name)s, the length modifiers h l L ignored;
 * Python's output, and its exception types and texts.  The result is bounded by the
 * expression engine's string bound: past it, the rest is still checked (so Python's
 * errors come first, in Python's order) but not built, and the result is a MemoryError.
 * No GIL. */
#include "tmpl/tmpl.h"
#include <math.h>
#include <stdio.h>

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

enum { F_LJUST = 1, F_SIGN = 2, F_BLANK = 4, F_ALT = 8, F_ZERO = 16 };

typedef struct {
    ExprCtx *ctx;
    const char *s; /* the format string */
    size_t n, pos; /* pos: next byte to read */
    int eof;       /* a read ran past the end (CPython's fmtcnt < 0) */
    FwcValue args; /* current arguments: a tuple, or one value (arglen < 0) */
    int64_t arglen, argidx;
    const FwcValue *dict; /* the mapping for %(key)s, or NULL */
    FwcBuf out;
    int over; /* the result exceeds the string bound: no more output is built */
} Fmt;

typedef struct {
    int ch; /* the conversion character (a byte; >= 0x80: a UTF-8 lead byte) */
    int flags;
    int64_t width, prec; /* -1: not given */
    int sign;            /* numeric conversion: sign and zero fill apply */
} Spec;

static int rd(Fmt *f, int *ch)
{
    if (f->pos < f->n) {
        *ch = (unsigned char)f->s[f->pos++];
        return 1;
    }
    f->eof = 1;
    return 0;
}

static int next_arg(Fmt *f, FwcValue *out)
{
    ExprCtx *ctx = f->ctx;
    if (f->argidx < f->arglen) {
        int64_t i = f->argidx++;
        *out = f->arglen < 0 ? f->args : f->args.u.items[i];
        return 0;
    }
    return FAIL("TypeError: not enough arguments for format string");
}

static int is_mapping(const FwcValue *v)
{
    /* PyMapping_Check and not a tuple or str: what has __getitem__ */
    return v->type == FWC_T_DICT || v->type == FWC_T_LIST || v->type == FWC_T_RANGE ||
           v->type == TMPL_T_UNDEF;
}

/* mapping[key] for %(key)s */
static int lookup(Fmt *f, const char *key, size_t n, FwcValue *out)
{
    ExprCtx *ctx = f->ctx;
    const FwcValue *d = f->dict;
    if (d->type == TMPL_T_UNDEF) return fwc_tmpl_undefined_error(ctx, d);
    if (d->type != FWC_T_DICT)
        return FAIL("TypeError: %s indices must be integers or slices, not str",
                    fwc_tmpl_type_name(d));
    if (fwc_expr_charge(ctx, (uint64_t)d->len * 4) < 0) return -1; /* a linear scan of the keys */
    for (uint32_t i = d->len; i-- > 0;) {
        const FwcValue *k = &d->u.pairs[i].key;
        if (k->type == FWC_T_STR && k->len == n && (n == 0 || memcmp(k->u.s, key, n) == 0)) {
            *out = d->u.pairs[i].value;
            return 0;
        }
    }
    FwcBuf b = FWC_BUF_INIT;
    FwcValue kv = { .type = FWC_T_STR, .ascii = 0, .len = (uint32_t)n, .u.s = key };
    if (fwc_expr_repr_append(&b, &kv, 0) < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    int r = FAIL("KeyError: %.*s", (int)(b.len > 400 ? 400 : b.len), b.data ? b.data : "");
    fwc_buf_free(&b);
    return r;
}

/* an int argument of `*` */
static int star_arg(Fmt *f, int64_t *out, int is_prec)
{
    ExprCtx *ctx = f->ctx;
    FwcValue v;
    if (next_arg(f, &v) < 0) return -1;
    if (v.type == FWC_T_BIGINT)
        return FAIL(is_prec ? "OverflowError: Python int too large to convert to C int"
                            : "OverflowError: Python int too large to convert to C ssize_t");
    if (v.type != FWC_T_INT && v.type != FWC_T_BOOL) return FAIL("TypeError: * wants int");
    if (is_prec && (v.u.i > INT32_MAX || v.u.i < INT32_MIN))
        return FAIL("OverflowError: Python int too large to convert to C int");
    *out = v.u.i;
    return 0;
}

static int too_long(ExprCtx *ctx)
{
    return FAIL("MemoryError: string result too long (limit %u bytes)", FWC_EXPR_MAX_STR);
}

/* the result will not fit: stop building it (the caller goes on checking) */
static int overflow(Fmt *f)
{
    f->over = 1;
    fwc_buf_free(&f->out);
    return 0;
}

/* unicode_format_arg_parse: mapping key, flags, width, precision, length modifier */
static int parse_spec(Fmt *f, Spec *sp)
{
    ExprCtx *ctx = f->ctx;
    int ch = f->pos < f->n ? (unsigned char)f->s[f->pos] : 0;
    if (ch == '(') {
        if (!f->dict) return FAIL("TypeError: format requires a mapping");
        f->pos++;
        size_t keystart = f->pos;
        int pcount = 1;
        while (pcount > 0 && rd(f, &ch)) {
            if (ch == ')') pcount--;
            else if (ch == '(') pcount++;
        }
        if (f->eof || pcount > 0) return FAIL("ValueError: incomplete format key");
        if (lookup(f, f->s + keystart, f->pos - keystart - 1, &f->args) < 0) return -1;
        f->arglen = -1;
        f->argidx = -2;
    }
    while (rd(f, &ch)) {
        if (ch == '-') sp->flags |= F_LJUST;
        else if (ch == '+') sp->flags |= F_SIGN;
        else if (ch == ' ') sp->flags |= F_BLANK;
        else if (ch == '#') sp->flags |= F_ALT;
        else if (ch == '0') sp->flags |= F_ZERO;
        else break;
    }
    if (ch == '*') {
        if (star_arg(f, &sp->width, 0) < 0) return -1;
        if (sp->width < 0) {
            sp->flags |= F_LJUST;
            sp->width = sp->width == INT64_MIN ? INT64_MAX : -sp->width;
        }
        rd(f, &ch);
    } else if (ch >= '0' && ch <= '9') {
        sp->width = ch - '0';
        while (rd(f, &ch)) {
            if (ch < '0' || ch > '9') break;
            if (sp->width > (INT64_MAX - (ch - '0')) / 10) return FAIL("ValueError: width too big");
            sp->width = sp->width * 10 + (ch - '0');
        }
    }
    if (ch == '.') {
        sp->prec = 0;
        rd(f, &ch);
        if (ch == '*') {
            if (star_arg(f, &sp->prec, 1) < 0) return -1;
            if (sp->prec < 0) sp->prec = 0;
            rd(f, &ch);
        } else if (ch >= '0' && ch <= '9') {
            sp->prec = ch - '0';
            while (rd(f, &ch)) {
                if (ch < '0' || ch > '9') break;
                if (sp->prec > (INT32_MAX - (ch - '0')) / 10)
                    return FAIL("ValueError: precision too big");
                sp->prec = sp->prec * 10 + (ch - '0');
            }
        }
    }
    if (!f->eof && (ch == 'h' || ch == 'l' || ch == 'L')) rd(f, &ch);
    if (f->eof) return FAIL("ValueError: incomplete format");
    sp->ch = ch;
    return 0;
}

/* ---------- integers ---------- */

/* decimal digits (no sign) -> base 8 or 16 digits, by long division; appended */
static int dec_to_base(FwcBuf *b, const char *dec, size_t n, int base)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char *num = malloc(n ? n : 1);
    char *rev = malloc(n * 4 + 2);
    if (!num || !rev) {
        free(num);
        free(rev);
        return -1;
    }
    size_t len = 0, k = 0;
    for (size_t i = 0; i < n; i++) num[len++] = (unsigned char)(dec[i] - '0');
    size_t start = 0;
    while (start < len && num[start] == 0) start++;
    if (start == len) rev[k++] = '0';
    while (start < len) {
        unsigned rem = 0;
        for (size_t i = start; i < len; i++) {
            unsigned cur = rem * 10 + num[i];
            num[i] = (unsigned char)(cur / (unsigned)base);
            rem = cur % (unsigned)base;
        }
        rev[k++] = hex[rem];
        while (start < len && num[start] == 0) start++;
    }
    int rc = 0;
    while (k && rc == 0) rc = fwc_buf_putc(b, rev[--k]);
    free(num);
    free(rev);
    return rc;
}

/* _PyUnicode_FormatLong: sign, "0x"/"0o" with #, digits zero-extended to the precision */
static int format_int(Fmt *f, const Spec *sp, const FwcValue *v, FwcBuf *o)
{
    ExprCtx *ctx = f->ctx;
    int ch = sp->ch, base = ch == 'o' ? 8 : (ch == 'x' || ch == 'X') ? 16 : 10;
    int neg = 0;
    FwcBuf digits = FWC_BUF_INIT;
    int rc = 0;
    if (v->type == FWC_T_INT || v->type == FWC_T_BOOL) {
        uint64_t u = v->u.i < 0 ? (uint64_t)0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        neg = v->u.i < 0;
        char t[72];
        snprintf(t, sizeof t,
                 base == 8    ? "%llo"
                 : base == 16 ? "%llx"
                              : "%llu",
                 (unsigned long long)u);
        rc = tmpl_puts(&digits, t);
    } else if (v->type == FWC_T_BIGINT) {
        const char *d = v->u.s;
        size_t n = v->len;
        if (n && d[0] == '-') {
            neg = 1;
            d++;
            n--;
        }
        rc = base == 10 ? tmpl_append(&digits, d, n) : dec_to_base(&digits, d, n, base);
    } else if (v->type == FWC_T_FLOAT && base == 10) {
        /* int(x): truncation toward zero, exactly */
        double x = v->u.f;
        if (isnan(x)) return FAIL("ValueError: cannot convert float NaN to integer");
        if (isinf(x)) return FAIL("OverflowError: cannot convert float infinity to integer");
        double t = trunc(x);
        neg = t < 0;
        int len = snprintf(NULL, 0, "%.0f", fabs(t));
        char *p = fwc_expr_alloc(ctx, (size_t)len + 1);
        if (!p) return -1;
        snprintf(p, (size_t)len + 1, "%.0f", fabs(t));
        rc = tmpl_append(&digits, p, (size_t)len);
    } else if (v->type == TMPL_T_UNDEF && base == 10) {
        return fwc_tmpl_undefined_error(ctx, v); /* Undefined.__int__ raises */
    } else if (base == 10) {
        return FAIL("TypeError: %%%c format: a real number is required, not %s", ch,
                    fwc_tmpl_type_name(v));
    } else {
        return FAIL("TypeError: %%%c format: an integer is required, not %s", ch,
                    fwc_tmpl_type_name(v));
    }
    if (rc < 0) goto nomem;
    if (f->over || sp->prec > (int64_t)FWC_EXPR_MAX_STR) {
        fwc_buf_free(&digits);
        return overflow(f);
    }
    if (neg && (rc = fwc_buf_putc(o, '-')) < 0) goto nomem;
    if ((sp->flags & F_ALT) && base != 10 && (rc = tmpl_append(o, base == 8 ? "0o" : "0x", 2)) < 0)
        goto nomem;
    for (int64_t i = (int64_t)digits.len; i < sp->prec && rc == 0; i++) rc = fwc_buf_putc(o, '0');
    if (rc == 0) rc = tmpl_append(o, digits.data, digits.len);
    if (rc < 0) goto nomem;
    fwc_buf_free(&digits);
    if (ch == 'X')
        for (size_t i = 0; i < o->len; i++)
            if (o->data[i] >= 'a' && o->data[i] <= 'x') o->data[i] = (char)(o->data[i] - 'a' + 'A');
    return 0;
nomem:
    fwc_buf_free(&digits);
    return fwc_expr_nomem(ctx);
}

/* ---------- floats ---------- */

/* formatfloat: PyOS_double_to_string(x, type, prec, # -> alt) */
static int format_float(Fmt *f, const Spec *sp, const FwcValue *v, FwcBuf *o)
{
    ExprCtx *ctx = f->ctx;
    double x;
    switch (v->type) {
    case FWC_T_FLOAT:
    case FWC_T_INT:
    case FWC_T_BOOL:
    case FWC_T_BIGINT:
        if (fwc_expr_to_float(ctx, v, &x) < 0) return -1;
        break;
    case TMPL_T_UNDEF: return fwc_tmpl_undefined_error(ctx, v); /* Undefined.__float__ raises */
    default: return FAIL("TypeError: must be real number, not %s", fwc_tmpl_type_name(v));
    }
    int ch = sp->ch, upper = ch == 'E' || ch == 'F' || ch == 'G';
    int64_t prec = sp->prec < 0 ? 6 : sp->prec;
    if (!isfinite(x)) {
        /* Python: "inf", "-inf", "nan" (never "-nan"), upper-cased for E F G */
        const char *t = isnan(x) ? (upper ? "NAN" : "nan")
                        : x < 0  ? (upper ? "-INF" : "-inf")
                                 : (upper ? "INF" : "inf");
        return tmpl_puts(o, t) < 0 ? fwc_expr_nomem(ctx) : 0;
    }
    if (f->over || prec > (int64_t)FWC_EXPR_MAX_STR) return overflow(f);
    char cfmt[8];
    int k = 0;
    cfmt[k++] = '%';
    if (sp->flags & F_ALT) cfmt[k++] = '#';
    cfmt[k++] = '.';
    cfmt[k++] = '*';
    cfmt[k++] = (char)(ch == 'F' ? 'f' : ch);
    cfmt[k] = '\0';
    int len = snprintf(NULL, 0, cfmt, (int)prec, x);
    if (len < 0) return fwc_expr_nomem(ctx);
    if ((size_t)len > FWC_EXPR_MAX_STR) return overflow(f);
    char *p = fwc_expr_alloc(ctx, (size_t)len + 1);
    if (!p) return -1;
    snprintf(p, (size_t)len + 1, cfmt, (int)prec, x);
    return tmpl_append(o, p, (size_t)len) < 0 ? fwc_expr_nomem(ctx) : 0;
}

/* ---------- %c ---------- */

static int format_char(Fmt *f, const FwcValue *v, FwcBuf *o)
{
    ExprCtx *ctx = f->ctx;
    if (v->type == FWC_T_STR) {
        if (fwc_expr_utf8_len(v->u.s, v->len) != 1)
            return FAIL("TypeError: %%c requires int or char");
        return tmpl_append(o, v->u.s, v->len) < 0 ? fwc_expr_nomem(ctx) : 0;
    }
    if (v->type == FWC_T_BIGINT) return FAIL("OverflowError: %%c arg not in range(0x110000)");
    if (v->type != FWC_T_INT && v->type != FWC_T_BOOL)
        return FAIL("TypeError: %%c requires int or char");
    if (v->u.i < 0 || v->u.i > 0x10FFFF)
        return FAIL("OverflowError: %%c arg not in range(0x110000)");
    return fwc_buf_put_utf8(o, (uint32_t)v->u.i) < 0 ? fwc_expr_nomem(ctx) : 0;
}

/* ---------- %s %r %a ---------- */

/* ascii(): repr with non-ASCII code points as \xNN, \uNNNN, \UNNNNNNNN */
static int ascii_of(FwcBuf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (fwc_buf_putc(o, (char)c) < 0) return -1;
            i++;
            continue;
        }
        int k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        uint32_t cp = c & (k == 4 ? 0x07 : k == 3 ? 0x0F : 0x1F);
        for (int j = 1; j < k && i + (size_t)j < n; j++)
            cp = (cp << 6) | ((unsigned char)s[i + (size_t)j] & 0x3F);
        i += (size_t)k;
        char t[10];
        int w = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
        t[0] = '\\';
        t[1] = (char)(w == 2 ? 'x' : w == 4 ? 'u' : 'U');
        for (int j = 0; j < w; j++) t[2 + j] = hex[(cp >> (4 * (w - 1 - j))) & 15];
        if (tmpl_append(o, t, (size_t)w + 2) < 0) return -1;
    }
    return 0;
}

static int format_text(Fmt *f, const Spec *sp, const FwcValue *v, FwcBuf *o)
{
    ExprCtx *ctx = f->ctx;
    if (sp->ch == 's') return fwc_tmpl_str_append(ctx, o, v);
    if (sp->ch == 'r') return fwc_tmpl_repr_append(ctx, o, v);
    FwcBuf r = FWC_BUF_INIT;
    if (fwc_tmpl_repr_append(ctx, &r, v) < 0) {
        fwc_buf_free(&r);
        return -1;
    }
    int rc = ascii_of(o, r.data ? r.data : "", r.len);
    fwc_buf_free(&r);
    return rc < 0 ? fwc_expr_nomem(ctx) : 0;
}

/* ---------- one conversion ---------- */

static size_t cp_count(const char *s, size_t n) { return fwc_expr_utf8_len(s, n); }

/* byte length of the first `cps` code points of s */
static size_t cp_prefix(const char *s, size_t n, size_t cps)
{
    size_t i = 0;
    while (cps && i < n) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        cps--;
    }
    return i;
}

static int pad(FwcBuf *b, char c, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (fwc_buf_putc(b, c) < 0) return -1;
    return 0;
}

/* unicode_format_arg_output: truncation, sign, # prefix, padding */
static int output(Fmt *f, Spec *sp, const char *str, size_t nbytes)
{
    ExprCtx *ctx = f->ctx;
    FwcBuf *w = &f->out;
    int64_t len = (int64_t)cp_count(str, nbytes);
    char fill = sp->sign && (sp->flags & F_ZERO) ? '0' : ' ';
    size_t p = 0; /* byte index of the first character to write */
    if (sp->ch == 's' || sp->ch == 'r' || sp->ch == 'a') {
        if (sp->prec >= 0 && len > sp->prec) {
            len = sp->prec;
            nbytes = cp_prefix(str, nbytes, (size_t)len);
        }
    }
    char signchar = 0;
    if (sp->sign) {
        if (nbytes && (str[0] == '-' || str[0] == '+')) {
            signchar = str[0];
            len--;
            p++;
        } else if (sp->flags & F_SIGN) {
            signchar = '+';
        } else if (sp->flags & F_BLANK) {
            signchar = ' ';
        } else {
            sp->sign = 0;
        }
    }
    int64_t width = sp->width < len ? len : sp->width;
    if (f->over || width > (int64_t)FWC_EXPR_MAX_STR) return overflow(f);
    int alt = (sp->flags & F_ALT) && (sp->ch == 'x' || sp->ch == 'X' || sp->ch == 'o');
    int rc = 0;
    if (sp->sign) {
        if (fill != ' ') rc = fwc_buf_putc(w, signchar);
        if (width > len) width--;
    }
    if (alt) {
        if (fill != ' ' && rc == 0) rc = tmpl_append(w, str + p, 2);
        width -= 2;
        if (width < 0) width = 0;
        len -= 2;
    }
    if (rc == 0 && width > len && !(sp->flags & F_LJUST)) {
        rc = pad(w, fill, width - len);
        width = len;
    }
    if (rc == 0 && fill == ' ') {
        if (sp->sign) rc = fwc_buf_putc(w, signchar);
        if (rc == 0 && alt) rc = tmpl_append(w, str + p, 2);
    }
    if (alt) p += 2;
    if (rc == 0) rc = tmpl_append(w, str + p, nbytes - p);
    if (rc == 0 && width > len) rc = pad(w, ' ', width - len);
    return rc < 0 ? fwc_expr_nomem(ctx) : 0;
}

static int format_arg(Fmt *f)
{
    ExprCtx *ctx = f->ctx;
    Spec sp = { 0, 0, -1, -1, 0 };
    if (parse_spec(f, &sp) < 0) return -1;
    FwcValue v;
    if (next_arg(f, &v) < 0) return -1;
    FwcBuf o = FWC_BUF_INIT;
    int rc;
    switch (sp.ch) {
    case 's':
    case 'r':
    case 'a': rc = format_text(f, &sp, &v, &o); break;
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X':
        sp.sign = 1;
        rc = format_int(f, &sp, &v, &o);
        break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
        sp.sign = 1;
        rc = format_float(f, &sp, &v, &o);
        break;
    case 'c': rc = format_char(f, &v, &o); break;
    default: {
        /* the conversion character as a code point, and its index in code points */
        size_t at = f->pos - 1;
        uint32_t cp = (uint32_t)sp.ch;
        if (cp >= 0x80) {
            int k = cp >= 0xF0 ? 4 : cp >= 0xE0 ? 3 : 2;
            cp &= k == 4 ? 0x07 : k == 3 ? 0x0F : 0x1F;
            for (int j = 1; j < k && at + (size_t)j < f->n; j++)
                cp = (cp << 6) | ((unsigned char)f->s[at + (size_t)j] & 0x3F);
        }
        return FAIL("ValueError: unsupported format character '%c' (0x%x) at index %zu",
                    cp >= 31 && cp <= 126 ? (char)cp : '?', (unsigned)cp, cp_count(f->s, at));
    }
    }
    if (rc == 0 && o.len > FWC_EXPR_MAX_STR) rc = overflow(f);
    if (rc == 0) rc = output(f, &sp, o.data ? o.data : "", o.len);
    fwc_buf_free(&o);
    return rc;
}

int fwc_tmpl_percent_format(ExprCtx *ctx, const FwcValue *fmt, const FwcValue *args, FwcValue *out)
{
    Fmt f = { .ctx = ctx,
              .s = fmt->u.s,
              .n = fmt->len,
              .pos = 0,
              .eof = 0,
              .args = *args,
              .out = FWC_BUF_INIT };
    if (args->type == FWC_T_TUPLE) {
        f.arglen = args->len;
        f.argidx = 0;
    } else {
        f.arglen = -1;
        f.argidx = -2;
    }
    f.dict = is_mapping(args) ? args : NULL;
    while (f.pos < f.n) {
        const char *pc = memchr(f.s + f.pos, '%', f.n - f.pos);
        size_t end = pc ? (size_t)(pc - f.s) : f.n;
        if (!f.over && tmpl_append(&f.out, f.s + f.pos, end - f.pos) < 0) goto nomem;
        f.pos = end;
        if (f.pos == f.n) break;
        f.pos++; /* the '%' */
        if (f.pos < f.n && f.s[f.pos] == '%') {
            if (!f.over && fwc_buf_putc(&f.out, '%') < 0) goto nomem;
            f.pos++;
            continue;
        }
        if (format_arg(&f) < 0) goto fail;
        if (f.out.len > FWC_EXPR_MAX_STR) overflow(&f);
    }
    if (f.argidx < f.arglen && !f.dict) {
        FAIL("TypeError: not all arguments converted during string formatting");
        goto fail;
    }
    if (f.over || f.out.len > FWC_EXPR_MAX_STR) {
        too_long(ctx);
        goto fail;
    }
    if (fwc_expr_charge(ctx, (uint64_t)f.n + f.out.len) < 0)
        goto fail; /* the format read, the text built */
    int r = fwc_expr_new_str(ctx, f.out.data ? f.out.data : "", f.out.len, out);
    fwc_buf_free(&f.out);
    return r;
nomem:
    fwc_expr_nomem(ctx);
fail:
    fwc_buf_free(&f.out);
    return -1;
}

int fwc_tmpl_filter_format(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                           const char **kw, FwcValue *out)
{
    int nkw = 0;
    for (int i = 0; kw && i < nargs; i++) nkw += kw[i] != NULL;
    if (nkw && nkw < nargs)
        return FAIL(
            "FilterArgumentError: can't handle positional and keyword arguments at the same time");
    FwcValue fmt, a;
    if (fwc_tmpl_str_of(ctx, in, &fmt) < 0) return -1;
    if (nkw) {
        /* the kwargs dict (a repeated keyword: the last value, at the first position) */
        FwcPair *pairs = fwc_expr_alloc(ctx, sizeof *pairs * (size_t)nkw);
        uint32_t np = 0;
        if (!pairs) return -1;
        for (int i = 0; i < nargs; i++) {
            FwcValue key;
            if (fwc_expr_new_str(ctx, kw[i], strlen(kw[i]), &key) < 0) return -1;
            uint32_t j = 0;
            while (j < np && !fwc_expr_equal(&pairs[j].key, &key)) j++;
            pairs[j].key = key;
            pairs[j].value = args[i];
            if (j == np) np++;
        }
        a = (FwcValue){ .type = FWC_T_DICT, .ascii = 1, .len = np, .u.pairs = pairs };
    } else {
        a = (FwcValue){ .type = FWC_T_TUPLE, .ascii = 1, .len = (uint32_t)nargs, .u.items = args };
    }
    return fwc_tmpl_percent_format(ctx, &fmt, &a, out);
}
