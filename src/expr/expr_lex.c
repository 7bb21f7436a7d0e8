/* expr_lex.c — Python tokens from UTF-8 text, on demand, from any position of a larger
 * text (a template embeds expressions), with 1-based line:column (columns count code
 * points).  Newlines are plain whitespace: a condition may span lines.  No GIL. */
#include "expr/expr.h"

int fwc_expr_error_at(ExprParser *p, int line, int col, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        p->err->code = FWC_EVALUE;
        vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
        va_end(ap);
        p->err->line = line;
        p->err->col = col;
        p->failed = 1;
    }
    return -1;
}

void fwc_expr_parser_init(ExprParser *p, const char *src, size_t len, size_t pos, int line, int col,
                          FwcArena *arena, FwcExprResolve resolve, void *ud, FwcError *err)
{
    memset(p, 0, sizeof *p);
    p->src = src;
    p->len = len;
    p->pos = pos;
    p->line = line;
    p->col = col;
    p->arena = arena;
    p->resolve = resolve;
    p->resolve_ud = ud;
    p->err = err;
    err->code = FWC_OK;
    err->line = err->col = 0;
    err->message[0] = '\0';
}

/* Advances one byte, keeping line:col (continuation bytes do not count as columns). */
static void adv(ExprParser *p)
{
    unsigned char c = (unsigned char)p->src[p->pos++];
    if (c == '\n') {
        p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        p->col++;
    }
}

static int peekc(ExprParser *p, size_t k)
{
    return p->pos + k < p->len ? (unsigned char)p->src[p->pos + k] : -1;
}

static int is_ident_start(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
static int is_ident(int c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

/* ---------- strings ---------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A string literal starting at the quote (prefix already consumed). */
static int lex_string(ExprParser *p, int raw, int line, int col)
{
    int q = peekc(p, 0);
    int triple = peekc(p, 1) == q && peekc(p, 2) == q;
    for (int i = 0; i < (triple ? 3 : 1); i++) adv(p);
    FwcBuf b = FWC_BUF_INIT;
    int ascii = 1;
    for (;;) {
        int c = peekc(p, 0);
        if (c < 0 || (!triple && c == '\n' && !p->multiline_strings)) {
            fwc_buf_free(&b);
            return fwc_expr_error_at(p, line, col,
                                     triple ? "unterminated triple-quoted string literal"
                                            : "unterminated string literal");
        }
        if (c == q && (!triple || (peekc(p, 1) == q && peekc(p, 2) == q))) {
            for (int i = 0; i < (triple ? 3 : 1); i++) adv(p);
            break;
        }
        if (c != '\\' || raw) {
            if (c == '\\' && raw && (peekc(p, 1) == q || peekc(p, 1) == '\\')) {
                /* raw strings still cannot end in an odd backslash: \" stays two chars */
                if (fwc_buf_putc(&b, '\\') < 0) goto nomem;
                adv(p);
                c = peekc(p, 0);
            }
            if (c >= 0x80) ascii = 0;
            if (fwc_buf_putc(&b, (char)c) < 0) goto nomem;
            adv(p);
            continue;
        }
        int el = p->line, ec = p->col;
        adv(p);
        c = peekc(p, 0);
        if (c < 0) continue;
        uint32_t cp = 0;
        int r = 0;
        switch (c) {
        case '\n': adv(p); continue;
        case '\\':
        case '\'':
        case '"':
            r = fwc_buf_putc(&b, (char)c);
            adv(p);
            break;
        case 'a':
            r = fwc_buf_putc(&b, '\a');
            adv(p);
            break;
        case 'b':
            r = fwc_buf_putc(&b, '\b');
            adv(p);
            break;
        case 'f':
            r = fwc_buf_putc(&b, '\f');
            adv(p);
            break;
        case 'n':
            r = fwc_buf_putc(&b, '\n');
            adv(p);
            break;
        case 'r':
            r = fwc_buf_putc(&b, '\r');
            adv(p);
            break;
        case 't':
            r = fwc_buf_putc(&b, '\t');
            adv(p);
            break;
        case 'v':
            r = fwc_buf_putc(&b, '\v');
            adv(p);
            break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            adv(p);
            for (int i = 0; i < nd; i++) {
                int h = hexval(peekc(p, 0));
                if (h < 0) {
                    fwc_buf_free(&b);
                    return fwc_expr_error_at(p, el, ec, "truncated \\%c escape in string literal",
                                             c);
                }
                cp = cp * 16 + (uint32_t)h;
                adv(p);
            }
            if (cp > 0x10FFFF) {
                fwc_buf_free(&b);
                return fwc_expr_error_at(p, el, ec, "illegal Unicode character in string literal");
            }
            if (cp >= 0x80) ascii = 0;
            r = fwc_buf_put_utf8(&b, cp);
            break;
        }
        case 'N':
            fwc_buf_free(&b);
            return fwc_expr_error_at(p, el, ec, "\\N{...} escapes are not supported");
        default:
            if (c >= '0' && c <= '7') {
                for (int i = 0; i < 3 && peekc(p, 0) >= '0' && peekc(p, 0) <= '7'; i++) {
                    cp = cp * 8 + (uint32_t)(peekc(p, 0) - '0');
                    adv(p);
                }
                if (cp >= 0x80) ascii = 0;
                r = fwc_buf_put_utf8(&b, cp);
            } else {
                /* unknown escapes keep the backslash, as Python does */
                r = fwc_buf_putc(&b, '\\');
            }
        }
        if (r < 0) goto nomem;
    }
    char *s = fwc_arena_strdup(p->arena, b.data ? b.data : "", b.len);
    size_t n = b.len;
    fwc_buf_free(&b);
    if (!s) return fwc_expr_error_at(p, line, col, "out of memory");
    p->tok.kind = TK_STR;
    p->tok.s = s;
    p->tok.slen = n;
    p->tok.ascii = ascii;
    return 0;
nomem:
    fwc_buf_free(&b);
    return fwc_expr_error_at(p, line, col, "out of memory");
}

/* ---------- numbers ---------- */

static int digit_ok(int c, int base)
{
    if (base == 16) return hexval(c) >= 0;
    return c >= '0' && c < '0' + base;
}

static int lex_number(ExprParser *p, int line, int col)
{
    size_t start = p->pos;
    char buf[128];
    size_t bn = 0;
    int base = 10, is_float = 0;
    int c0 = peekc(p, 0), c1 = peekc(p, 1);
    if (c0 == '0' && (c1 == 'x' || c1 == 'X' || c1 == 'o' || c1 == 'O' || c1 == 'b' || c1 == 'B')) {
        base = (c1 == 'x' || c1 == 'X') ? 16 : (c1 == 'o' || c1 == 'O') ? 8 : 2;
        adv(p);
        adv(p);
        if (peekc(p, 0) == '_') adv(p);
        if (!digit_ok(peekc(p, 0), base))
            return fwc_expr_error_at(p, line, col, "invalid %s literal",
                                     base == 16  ? "hexadecimal"
                                     : base == 8 ? "octal"
                                                 : "binary");
        uint64_t v = 0;
        for (;;) {
            int c = peekc(p, 0);
            if (c == '_' && digit_ok(peekc(p, 1), base)) {
                adv(p);
                continue;
            }
            if (!digit_ok(c, base)) break;
            int d = hexval(c);
            if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
                return fwc_expr_error_at(p, line, col, "integer literal out of supported range");
            v = v * (uint64_t)base + (uint64_t)d;
            adv(p);
        }
        if (is_ident(peekc(p, 0)))
            return fwc_expr_error_at(p, line, col, "invalid %s literal",
                                     base == 16  ? "hexadecimal"
                                     : base == 8 ? "octal"
                                                 : "binary");
        if (v > (uint64_t)INT64_MAX)
            return fwc_expr_error_at(p, line, col, "integer literal out of supported range");
        p->tok.kind = TK_INT;
        p->tok.i = (int64_t)v;
        return 0;
    }
    /* decimal int or float: digits [. digits] [e [+-] digits], '_' between digits */
#define TAKE_DIGITS()                                                                              \
    for (;;) {                                                                                     \
        int c = peekc(p, 0);                                                                       \
        if (c == '_' && peekc(p, 1) >= '0' && peekc(p, 1) <= '9') {                                \
            adv(p);                                                                                \
            continue;                                                                              \
        }                                                                                          \
        if (c < '0' || c > '9') break;                                                             \
        if (bn < sizeof buf - 1) buf[bn++] = (char)c;                                              \
        else return fwc_expr_error_at(p, line, col, "numeric literal too long");                   \
        adv(p);                                                                                    \
    }
    TAKE_DIGITS();
    if (bn > sizeof buf - 8) return fwc_expr_error_at(p, line, col, "numeric literal too long");
    if (peekc(p, 0) == '.') {
        is_float = 1;
        buf[bn++] = '.';
        adv(p);
        if (peekc(p, 0) == '_') return fwc_expr_error_at(p, line, col, "invalid decimal literal");
        TAKE_DIGITS();
    }
    int c = peekc(p, 0);
    if (c == 'e' || c == 'E') {
        int k = 1;
        if (peekc(p, 1) == '+' || peekc(p, 1) == '-') k = 2;
        if (peekc(p, k) >= '0' && peekc(p, k) <= '9') {
            if (bn > sizeof buf - 8)
                return fwc_expr_error_at(p, line, col, "numeric literal too long");
            is_float = 1;
            buf[bn++] = 'e';
            adv(p);
            if (k == 2) {
                buf[bn++] = (char)peekc(p, 0);
                adv(p);
            }
            TAKE_DIGITS();
        } else {
            return fwc_expr_error_at(p, line, col, "invalid decimal literal");
        }
    }
#undef TAKE_DIGITS
    buf[bn] = '\0';
    c = peekc(p, 0);
    if (c == 'j' || c == 'J')
        return fwc_expr_error_at(p, line, col, "complex numbers are not supported");
    if (is_ident(c)) return fwc_expr_error_at(p, line, col, "invalid decimal literal");
    if (is_float) {
        p->tok.kind = TK_FLOAT;
        p->tok.f = strtod(buf, NULL);
        return 0;
    }
    /* "0", "00", but no leading zeros before other digits */
    if (buf[0] == '0') {
        for (size_t i = 1; i < bn; i++)
            if (buf[i] != '0')
                return fwc_expr_error_at(
                    p, line, col, "leading zeros in decimal integer literals are not permitted");
    }
    (void)start;
    uint64_t v = 0;
    for (size_t i = 0; i < bn; i++) {
        unsigned d = (unsigned)(buf[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fwc_expr_error_at(p, line, col, "integer literal out of supported range");
        v = v * 10 + d;
    }
    /* 9223372036854775808 is allowed only as the operand of unary minus: kept as a
     * marker value the parser folds (see parse_unary) */
    if (v > (uint64_t)INT64_MAX + 1)
        return fwc_expr_error_at(p, line, col, "integer literal out of supported range");
    p->tok.kind = TK_INT;
    p->tok.i = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : (int64_t)v;
    return 0;
}

/* ---------- the token stream ---------- */

int fwc_expr_lex_next(ExprParser *p)
{
    if (p->failed) return -1;
    /* skip whitespace, comments and line continuations */
    for (;;) {
        int c = peekc(p, 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            adv(p);
        } else if (c == '\\' &&
                   (peekc(p, 1) == '\n' || (peekc(p, 1) == '\r' && peekc(p, 2) == '\n'))) {
            adv(p);
            while (peekc(p, 0) != '\n') adv(p);
            adv(p);
        } else if (c == '#') {
            while (peekc(p, 0) >= 0 && peekc(p, 0) != '\n') adv(p);
        } else {
            break;
        }
    }
    ExprToken *t = &p->tok;
    memset(t, 0, sizeof *t);
    t->start = p->pos;
    t->line = p->line;
    t->col = p->col;
    int c = peekc(p, 0);
    if (c < 0) {
        t->kind = TK_EOF;
        t->end = p->pos;
        return 0;
    }
    int r = 0;
    if (is_ident_start(c)) {
        size_t s = p->pos;
        while (is_ident(peekc(p, 0))) adv(p);
        size_t n = p->pos - s;
        int q = peekc(p, 0);
        if ((q == '\'' || q == '"') && n <= 2) {
            /* string prefixes */
            int raw = 0, bad = 0, fstr = 0, bytes = 0;
            for (size_t i = 0; i < n; i++) {
                int ch = p->src[s + i] | 0x20;
                if (ch == 'r') raw = 1;
                else if (ch == 'f') fstr = 1;
                else if (ch == 'b') bytes = 1;
                else if (ch != 'u') bad = 1;
            }
            if (!bad) {
                if (fstr)
                    return fwc_expr_error_at(p, t->line, t->col, "f-strings are not supported");
                if (bytes)
                    return fwc_expr_error_at(p, t->line, t->col,
                                             "bytes literals are not supported");
                r = lex_string(p, raw, t->line, t->col);
                t->end = p->pos;
                return r;
            }
        }
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p->src[s + i] >= 0x80)
                return fwc_expr_error_at(p, t->line, t->col,
                                         "non-ASCII identifiers are not supported");
        t->kind = TK_NAME;
        t->s = p->src + s;
        t->slen = n;
        t->end = p->pos;
        return 0;
    }
    if ((c >= '0' && c <= '9') || (c == '.' && peekc(p, 1) >= '0' && peekc(p, 1) <= '9')) {
        r = lex_number(p, t->line, t->col);
        t->end = p->pos;
        return r;
    }
    if (c == '\'' || c == '"') {
        r = lex_string(p, 0, t->line, t->col);
        t->end = p->pos;
        return r;
    }
    int c1 = peekc(p, 1), c2 = peekc(p, 2);
    int op = OP_NONE, n = 1;
    switch (c) {
    case '(': op = OP_LPAR; break;
    case ')': op = OP_RPAR; break;
    case '[': op = OP_LSQB; break;
    case ']': op = OP_RSQB; break;
    case '{': op = OP_LBRACE; break;
    case '}': op = OP_RBRACE; break;
    case ',': op = OP_COMMA; break;
    case ';': op = OP_SEMI; break;
    case '~': op = OP_TILDE; break;
    case ':':
        if (c1 == '=') {
            op = OP_WALRUS;
            n = 2;
        } else op = OP_COLON;
        break;
    case '.':
        if (c1 == '.' && c2 == '.') {
            op = OP_ELLIPSIS;
            n = 3;
        } else op = OP_DOT;
        break;
    case '+': op = OP_ADD; break;
    case '-':
        if (c1 == '>') {
            op = OP_ARROW;
            n = 2;
        } else op = OP_SUB;
        break;
    case '*':
        if (c1 == '*') {
            op = OP_POW;
            n = 2;
        } else op = OP_MUL;
        break;
    case '/':
        if (c1 == '/') {
            op = OP_FLOORDIV;
            n = 2;
        } else op = OP_DIV;
        break;
    case '%': op = OP_MOD; break;
    case '@': op = OP_MATMUL; break;
    case '&': op = OP_BITAND; break;
    case '|': op = OP_BITOR; break;
    case '^': op = OP_BITXOR; break;
    case '=':
        if (c1 == '=') {
            op = OP_EQ;
            n = 2;
        } else op = OP_ASSIGN;
        break;
    case '!':
        if (c1 == '=') {
            op = OP_NE;
            n = 2;
        } else op = OP_BANG;
        break;
    case '<':
        if (c1 == '=') {
            op = OP_LE;
            n = 2;
        } else if (c1 == '<') {
            op = OP_LSHIFT;
            n = 2;
        } else if (c1 == '>') return fwc_expr_error_at(p, t->line, t->col, "invalid syntax: '<>'");
        else op = OP_LT;
        break;
    case '>':
        if (c1 == '=') {
            op = OP_GE;
            n = 2;
        } else if (c1 == '>') {
            op = OP_RSHIFT;
            n = 2;
        } else op = OP_GT;
        break;
    default:
        if (c >= 0x80)
            return fwc_expr_error_at(p, t->line, t->col, "invalid character in expression");
        return fwc_expr_error_at(p, t->line, t->col, "invalid character '%c' in expression", c);
    }
    /* augmented assignment: a statement, never an expression */
    if (n <= 2 &&
        (op == OP_ADD || op == OP_SUB || op == OP_MUL || op == OP_DIV || op == OP_MOD ||
         op == OP_POW || op == OP_FLOORDIV || op == OP_BITAND || op == OP_BITOR ||
         op == OP_BITXOR || op == OP_LSHIFT || op == OP_RSHIFT || op == OP_MATMUL) &&
        peekc(p, (size_t)n) == '=')
        return fwc_expr_error_at(p, t->line, t->col, "assignments are not supported");
    for (int i = 0; i < n; i++) adv(p);
    t->kind = TK_OP;
    t->op = op;
    t->end = p->pos;
    return 0;
}
