/* expr_utils.c — Frappe's `utils` functions for conditions, re-implemented from
 * frappe/utils/data.py with the same results on the same inputs.  Dates are ISO strings
 * (the snapshot turns date objects into str, as Frappe's as_dict does); "now" is the
 * local time of the process (Frappe uses the site's time zone).  No GIL. */
#include "expr/expr.h"
#include <math.h>
#include <time.h>
#include <sys/time.h>

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v)     fwc_value_type_name(v)

/* ---------- argument binding ---------- */

typedef struct {
    const char *name;
    const char *params[4];
    int nparams, nrequired;
} UtilSig;

static const UtilSig SIGS[] = {
    [U_FLT] = { "flt", { "s", "precision", "rounding_method" }, 3, 1 },
    [U_CINT] = { "cint", { "s", "default" }, 2, 1 },
    [U_CSTR] = { "cstr", { "s", "encoding" }, 2, 1 },
    [U_ROUNDED] = { "rounded", { "num", "precision", "rounding_method" }, 3, 1 },
    [U_FLOOR] = { "floor", { "s" }, 1, 1 },
    [U_CEIL] = { "ceil", { "s" }, 1, 1 },
    [U_SAFE_DIV] = { "safe_div", { "numerator", "denominator", "precision" }, 3, 2 },
    [U_NOWDATE] = { "nowdate", { NULL }, 0, 0 },
    [U_TODAY] = { "today", { NULL }, 0, 0 },
    [U_NOW] = { "now", { NULL }, 0, 0 },
    [U_NOWTIME] = { "nowtime", { NULL }, 0, 0 },
    [U_GETDATE] = { "getdate", { "string_date", "parse_day_first" }, 2, 0 },
    [U_ADD_DAYS] = { "add_days", { "date", "days" }, 2, 2 },
    [U_ADD_MONTHS] = { "add_months", { "date", "months" }, 2, 2 },
    [U_ADD_YEARS] = { "add_years", { "date", "years" }, 2, 2 },
    [U_DATE_DIFF] = { "date_diff", { "string_ed_date", "string_st_date" }, 2, 2 },
    [U_STRIP_HTML] = { "strip_html", { "text" }, 1, 1 },
    [U_ESCAPE_HTML] = { "escape_html", { "text" }, 1, 1 },
    [U_HAS_COMMON] = { "has_common", { "l1", "l2" }, 2, 2 },
    [U_SBOOL] = { "sbool", { "x" }, 1, 1 },
};

static int bind(ExprCtx *ctx, const UtilSig *sig, FwcValue *args, int nargs, const char **kw,
                FwcValue *slots, int *present)
{
    for (int i = 0; i < 4; i++) present[i] = 0;
    int pos = 0;
    for (int i = 0; i < nargs; i++) {
        if (!kw || !kw[i]) {
            if (pos >= sig->nparams)
                return FAIL("TypeError: %s() takes %d positional argument%s but %d were given",
                            sig->name, sig->nparams, sig->nparams == 1 ? "" : "s", nargs);
            slots[pos] = args[i];
            present[pos++] = 1;
            continue;
        }
        int j = 0;
        while (j < sig->nparams && strcmp(sig->params[j], kw[i]) != 0) j++;
        if (j == sig->nparams)
            return FAIL("TypeError: %s() got an unexpected keyword argument '%s'", sig->name,
                        kw[i]);
        if (present[j])
            return FAIL("TypeError: %s() got multiple values for argument '%s'", sig->name, kw[i]);
        slots[j] = args[i];
        present[j] = 1;
    }
    for (int i = 0; i < sig->nrequired; i++)
        if (!present[i])
            return FAIL("TypeError: %s() missing required positional argument: '%s'", sig->name,
                        sig->params[i]);
    return 0;
}

/* ---------- numbers ---------- */

/* float(v) as Python, for flt(): 0 ok, 1 "raised" (flt turns that into 0.0), -1 hard error */
static int soft_float(ExprCtx *ctx, const FwcValue *v, int strip_commas, double *out)
{
    switch ((FwcType)v->type) {
    case FWC_T_BOOL:
    case FWC_T_INT: *out = (double)v->u.i; return 0;
    case FWC_T_FLOAT: *out = v->u.f; return 0;
    case FWC_T_BIGINT: *out = strtod(v->u.s, NULL); return isinf(*out) ? 1 : 0;
    case FWC_T_STR: {
        if (!strip_commas || !memchr(v->u.s, ',', v->len))
            return fwc_expr_parse_float_text(v->u.s, v->len, out) == 0 ? 0 : 1;
        char *t = fwc_expr_alloc(ctx, v->len + 1);
        if (!t) return -1;
        size_t n = 0;
        for (uint32_t i = 0; i < v->len; i++)
            if (v->u.s[i] != ',') t[n++] = v->u.s[i];
        return fwc_expr_parse_float_text(t, n, out) == 0 ? 0 : 1;
    }
    default: return 1;
    }
}

/* cint(): int(s), else int(float(s)), else default.  0 ok (*out set), 1 -> default, -1 error */
static int soft_int(ExprCtx *ctx, const FwcValue *v, int64_t *out)
{
    double f;
    switch ((FwcType)v->type) {
    case FWC_T_BOOL:
    case FWC_T_INT: *out = v->u.i; return 0;
    case FWC_T_BIGINT: return FAIL("OverflowError: integer result out of supported range");
    case FWC_T_FLOAT: f = v->u.f; break;
    case FWC_T_STR: {
        int r = fwc_expr_parse_int_text(v->u.s, v->len, out);
        if (r == 0) return 0;
        if (r == -2) return FAIL("OverflowError: integer result out of supported range");
        if (fwc_expr_parse_float_text(v->u.s, v->len, &f) < 0) return 1;
        break;
    }
    default: return 1;
    }
    if (f != f || isinf(f)) return 1;
    double t = trunc(f);
    if (t >= 9223372036854775808.0 || t < -9223372036854775808.0)
        return FAIL("OverflowError: integer result out of supported range");
    *out = (int64_t)t;
    return 0;
}

static int cint_value(ExprCtx *ctx, const FwcValue *v, const FwcValue *dflt, FwcValue *out)
{
    int64_t i;
    int r = soft_int(ctx, v, &i);
    if (r < 0) return -1;
    if (r == 1) {
        *out = dflt ? *dflt : fwc_int(0);
        return 0;
    }
    *out = fwc_int(i);
    return 0;
}

static double pow2_log(double x) { return pow(2.0, log(fabs(x)) / log(2.0) - 52.0); }

/* rounded(num, precision, method); returns 1 when Python would raise an exception that
 * flt() swallows (math.floor of inf/nan), -1 on a hard error. */
static int rounded_value(ExprCtx *ctx, const FwcValue *num, int64_t precision,
                         const FwcValue *method, FwcValue *out, int soft)
{
    int m = 0; /* 0 legacy, 1 banker's, 2 commercial */
    if (method && fwc_expr_truthy(method)) {
        if (method->type != FWC_T_STR)
            return FAIL("ValidationError: Unknown Rounding Method: %s", TN(method));
#define IS(lit) (method->len == strlen(lit) && memcmp(method->u.s, lit, method->len) == 0)
        if (IS("Banker's Rounding (legacy)")) m = 0;
        else if (IS("Banker's Rounding")) m = 1;
        else if (IS("Commercial Rounding")) m = 2;
        else
            return FAIL("ValidationError: Unknown Rounding Method: %.*s", (int)method->len,
                        method->u.s);
#undef IS
    }
    if (num->type != FWC_T_INT && num->type != FWC_T_BOOL && num->type != FWC_T_FLOAT) {
        if (soft) return 1;
        if (num->type == FWC_T_BIGINT)
            return FAIL("OverflowError: integer result out of supported range");
        return FAIL("TypeError: unsupported operand type for rounded(): '%s'", TN(num));
    }
    int is_int = num->type != FWC_T_FLOAT;
    double x = is_int ? (double)num->u.i : num->u.f;
    if (precision > 308 || precision < -308) {
        if (soft) return 1;
        return FAIL("OverflowError: rounding precision out of supported range");
    }
    double mult = pow(10.0, (double)precision);
    if (m == 2) {
        if (x == 0) {
            *out = fwc_float(0.0);
            return 0;
        }
        double eps = pow2_log(x);
        double y = x + copysign(eps, x);
        if (!isfinite(y)) {
            if (soft) return 1;
        }
        *out = fwc_float(fwc_expr_round_float(y, precision));
        return 0;
    }
    if (is_int && precision == 0 && m == 0) {
        *out = fwc_int(num->u.i);
        return 0;
    }
    double v;
    if (m == 0) {
        v = fwc_expr_round_float(precision ? x * mult : x, 8);
    } else {
        v = fwc_expr_round_float(x * mult, 12);
        if (v == 0) {
            *out = fwc_float(0.0);
            return 0;
        }
    }
    if (!isfinite(v)) {
        if (soft) return 1;
        return FAIL(v != v ? "ValueError: cannot convert float NaN to integer"
                           : "OverflowError: cannot convert float infinity to integer");
    }
    double fl = floor(v), dec = v - fl, r;
    if (m == 0) {
        if (!precision && dec == 0.5) r = fmod(fl, 2.0) == 0 ? fl : fl + 1;
        else if (dec == 0.5) r = fl + 1;
        else r = nearbyint(v);
    } else {
        double eps = pow2_log(v);
        if (fabs(dec - 0.5) < eps) r = fmod(fl, 2.0) == 0 ? fl : fl + 1;
        else r = nearbyint(v);
    }
    /* Python's round(x) is an int: no negative zero survives (flt(-0.04, 1) is 0.0) */
    if (r == 0) r = 0.0;
    if (precision || m == 1) {
        *out = fwc_float(r / mult);
        return 0;
    }
    if (r >= 9223372036854775808.0 || r < -9223372036854775808.0)
        return FAIL("OverflowError: integer result out of supported range");
    *out = fwc_int((int64_t)r);
    return 0;
}

static int precision_of(ExprCtx *ctx, const FwcValue *p, int64_t *out)
{
    FwcValue v;
    if (cint_value(ctx, p, NULL, &v) < 0) return -1;
    *out = v.u.i;
    return 0;
}

static int flt_value(ExprCtx *ctx, const FwcValue *s, const FwcValue *precision,
                     const FwcValue *method, FwcValue *out)
{
    double f;
    int r = soft_float(ctx, s, 1, &f);
    if (r < 0) return -1;
    if (r == 1) {
        *out = fwc_float(0.0);
        return 0;
    }
    if (!precision || precision->type == FWC_T_NULL) {
        *out = fwc_float(f);
        return 0;
    }
    int64_t p;
    if (precision_of(ctx, precision, &p) < 0) return -1;
    FwcValue num = fwc_float(f);
    r = rounded_value(ctx, &num, p, method, out, 1);
    if (r < 0) return -1;
    if (r == 1) *out = fwc_float(0.0);
    return 0;
}

/* ---------- dates ---------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

typedef struct {
    int y, m, d, H, M, S, us;
    int has_time;
} DateTime;

static int num2(const char *s, size_t n, size_t *i, int maxd, int *out)
{
    int v = 0, k = 0;
    while (*i < n && k < maxd && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        k++;
    }
    *out = v;
    return k;
}

/* ISO-like date/datetime text: YYYY-MM-DD (or / .) [ T]HH:MM[:SS[.ffffff]]. */
static int parse_datetime(const char *s, size_t n, DateTime *dt)
{
    memset(dt, 0, sizeof *dt);
    size_t i = 0;
    while (i < n && s[i] == ' ') i++;
    while (n > i && s[n - 1] == ' ') n--;
    if (num2(s, n, &i, 4, &dt->y) != 4) return -1;
    if (i >= n || (s[i] != '-' && s[i] != '/' && s[i] != '.')) return -1;
    char sep = s[i++];
    if (!num2(s, n, &i, 2, &dt->m)) return -1;
    if (i >= n || s[i] != sep) return -1;
    i++;
    if (!num2(s, n, &i, 2, &dt->d)) return -1;
    if (dt->y < 1 || dt->m < 1 || dt->m > 12 || dt->d < 1 || dt->d > days_in_month(dt->y, dt->m))
        return -1;
    if (i == n) return 0;
    if (s[i] != ' ' && s[i] != 'T') return -1;
    i++;
    while (i < n && s[i] == ' ') i++;
    if (!num2(s, n, &i, 2, &dt->H) || i >= n || s[i] != ':') return -1;
    i++;
    if (num2(s, n, &i, 2, &dt->M) != 2) return -1;
    if (i < n && s[i] == ':') {
        i++;
        if (num2(s, n, &i, 2, &dt->S) != 2) return -1;
        if (i < n && s[i] == '.') {
            i++;
            int k = 0, us = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (k < 6) us = us * 10 + (s[i] - '0');
                k++;
                i++;
            }
            if (!k) return -1;
            while (k < 6) {
                us *= 10;
                k++;
            }
            dt->us = us;
        }
    }
    if (i != n || dt->H > 23 || dt->M > 59 || dt->S > 59) return -1;
    dt->has_time = 1;
    return 0;
}

static int64_t now_local_us(ExprCtx *ctx)
{
    if (!ctx->now_us) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        time_t t = tv.tv_sec;
        struct tm tm;
        localtime_r(&t, &tm);
        int64_t days =
            days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
        int64_t secs = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        ctx->now_us = secs * 1000000 + tv.tv_usec;
    }
    return ctx->now_us;
}

static void dt_from_us(int64_t us, DateTime *dt)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    dt->us = (int)(us - secs * 1000000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    civil_from_days(days, &dt->y, &dt->m, &dt->d);
    dt->H = (int)(rem / 3600);
    dt->M = (int)(rem / 60 % 60);
    dt->S = (int)(rem % 60);
    dt->has_time = 1;
}

static int64_t dt_to_us(const DateTime *dt)
{
    int64_t days = days_from_civil(dt->y, (unsigned)dt->m, (unsigned)dt->d);
    return ((days * 86400 + dt->H * 3600 + dt->M * 60 + dt->S) * 1000000) + dt->us;
}

enum { FMT_DATE, FMT_DATETIME, FMT_TIME };

static int dt_string(ExprCtx *ctx, const DateTime *dt, int fmt, FwcValue *out)
{
    char b[64];
    int n;
    if (fmt == FMT_DATE) n = snprintf(b, sizeof b, "%04d-%02d-%02d", dt->y, dt->m, dt->d);
    else if (fmt == FMT_TIME)
        n = snprintf(b, sizeof b, "%02d:%02d:%02d.%06d", dt->H, dt->M, dt->S, dt->us);
    else
        n = snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d:%02d.%06d", dt->y, dt->m, dt->d, dt->H,
                     dt->M, dt->S, dt->us);
    return fwc_expr_new_str(ctx, b, (size_t)n, out);
}

/* str(datetime) of now_datetime(): microseconds only when non-zero */
static int dt_str_python(ExprCtx *ctx, const DateTime *dt, FwcValue *out)
{
    char b[64];
    int n = snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d:%02d", dt->y, dt->m, dt->d, dt->H,
                     dt->M, dt->S);
    if (dt->us) n += snprintf(b + n, sizeof b - (size_t)n, ".%06d", dt->us);
    return fwc_expr_new_str(ctx, b, (size_t)n, out);
}

static int bad_date(ExprCtx *ctx, const FwcValue *v)
{
    return FAIL("ValidationError: %.*s is not a valid date string. (dates must be ISO strings, "
                "YYYY-MM-DD[ HH:MM[:SS[.ffffff]]])",
                (int)(v->len > 100 ? 100 : v->len), v->u.s);
}

/* getdate(): 0 with *out a date string or None */
static int getdate_value(ExprCtx *ctx, const FwcValue *v, FwcValue *out)
{
    DateTime dt;
    if (!v || !fwc_expr_truthy(v)) {
        dt_from_us(now_local_us(ctx), &dt);
        return dt_string(ctx, &dt, FMT_DATE, out);
    }
    if (v->type != FWC_T_STR || (v->len >= 10 && (memcmp(v->u.s, "0001-01-01", 10) == 0 ||
                                                  memcmp(v->u.s, "0000-00-00", 10) == 0))) {
        *out = fwc_null();
        return 0;
    }
    if (parse_datetime(v->u.s, v->len, &dt) < 0) return bad_date(ctx, v);
    return dt_string(ctx, &dt, FMT_DATE, out);
}

static int integral(ExprCtx *ctx, const FwcValue *v, const char *what, double *out)
{
    if (v->type == FWC_T_INT || v->type == FWC_T_BOOL) {
        *out = (double)v->u.i;
        return 0;
    }
    if (v->type == FWC_T_FLOAT && isfinite(v->u.f)) {
        *out = v->u.f;
        return 0;
    }
    return FAIL("TypeError: %s must be a number, not %s", what, TN(v));
}

static int add_to_date(ExprCtx *ctx, const FwcValue *date, double years, double months, double days,
                       FwcValue *out)
{
    if (years != floor(years) || months != floor(months))
        return FAIL(
            "ValueError: Non-integer years and months are ambiguous and not currently supported.");
    DateTime dt;
    int as_string = 0, as_datetime = 0;
    if (date->type == FWC_T_NULL) {
        dt_from_us(now_local_us(ctx), &dt);
    } else if (date->type == FWC_T_STR) {
        as_string = 1;
        as_datetime = memchr(date->u.s, ' ', date->len) != NULL;
        if (parse_datetime(date->u.s, date->len, &dt) < 0)
            return FAIL("ValidationError: Please select a valid date filter (dates must be ISO "
                        "strings, got %.*s)",
                        (int)(date->len > 100 ? 100 : date->len), date->u.s);
    } else {
        return FAIL("TypeError: unsupported operand type(s) for +: '%s' and 'relativedelta'",
                    TN(date));
    }
    if (fabs(years) > 20000 || fabs(months) > 240000 || fabs(days) > 7300000)
        return FAIL("OverflowError: date value out of range");
    int64_t mon = (int64_t)dt.y * 12 + (dt.m - 1) + (int64_t)years * 12 + (int64_t)months;
    int64_t y = mon >= 0 ? mon / 12 : -((-mon + 11) / 12);
    int m = (int)(mon - y * 12) + 1;
    if (y < 1 || y > 9999) return FAIL("ValueError: year %lld is out of range", (long long)y);
    dt.y = (int)y;
    dt.m = m;
    if (dt.d > days_in_month(dt.y, dt.m)) dt.d = days_in_month(dt.y, dt.m);
    int64_t us = dt_to_us(&dt) + (int64_t)llround(days * 86400e6);
    DateTime r;
    dt_from_us(us, &r);
    if (r.y < 1 || r.y > 9999) return FAIL("OverflowError: date value out of range");
    if (!as_string) return dt_str_python(ctx, &r, out);
    return dt_string(ctx, &r, as_datetime ? FMT_DATETIME : FMT_DATE, out);
}

static int date_diff(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, FwcValue *out)
{
    FwcValue da, db;
    if (getdate_value(ctx, a, &da) < 0 || getdate_value(ctx, b, &db) < 0) return -1;
    if (da.type == FWC_T_NULL || db.type == FWC_T_NULL)
        return FAIL("TypeError: unsupported operand type(s) for -: '%s' and '%s'",
                    da.type == FWC_T_NULL ? "NoneType" : "datetime.date",
                    db.type == FWC_T_NULL ? "NoneType" : "datetime.date");
    DateTime x, y;
    parse_datetime(da.u.s, da.len, &x);
    parse_datetime(db.u.s, db.len, &y);
    *out = fwc_int(days_from_civil(x.y, (unsigned)x.m, (unsigned)x.d) -
                   days_from_civil(y.y, (unsigned)y.m, (unsigned)y.d));
    return 0;
}

/* ---------- text ---------- */

/* re.sub(r"(<!--.*?-->|<[^>]*>)", "", text) */
static int strip_html(ExprCtx *ctx, const FwcValue *t, FwcValue *out)
{
    if (t->type != FWC_T_STR) return FAIL("TypeError: expected string or bytes-like object");
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_buf_grow(&b, 64) < 0) return fwc_expr_nomem(ctx); /* never memcpy to NULL */
    const char *s = t->u.s;
    size_t n = t->len, i = 0;
    int r = 0;
    /* where the last searches ended: the next '>' at or after gt_from is gt (NULL: none),
     * the next "-->" or newline after a "<!--" is at cend; reused while they lie ahead, so
     * a text of many '<' (or "<!--") without a close is one pass, not one per '<' */
    const char *gt = NULL;
    size_t gt_from = 0, cend = 0, cend_from = 0;
    int have_gt = 0, have_cend = 0;
    if (fwc_expr_charge(ctx, n) < 0) {
        fwc_buf_free(&b);
        return -1;
    }
    while (i < n && r == 0) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) {
            r = fwc_buf_append(&b, s + i, n - i);
            break;
        }
        size_t k = (size_t)(lt - s);
        r = fwc_buf_append(&b, s + i, k - i);
        /* <!-- ... --> without crossing a newline (`.` does not match \n) */
        if (k + 4 <= n && memcmp(s + k, "<!--", 4) == 0) {
            /* cend: the first "-->" or newline at or after k + 4 (n if none) */
            if (!have_cend || cend < k + 4 || cend_from > k + 4) {
                size_t j = k + 4;
                while (j < n && s[j] != '\n' && !(j + 3 <= n && memcmp(s + j, "-->", 3) == 0)) j++;
                cend = j;
                cend_from = k + 4;
                have_cend = 1;
            }
            if (cend + 3 <= n && s[cend] == '-') {
                i = cend + 3;
                continue;
            }
        }
        if (!have_gt || gt_from > k + 1 || (gt && gt < s + k + 1)) {
            gt = memchr(s + k + 1, '>', n - k - 1);
            gt_from = k + 1;
            have_gt = 1;
        }
        if (gt) {
            i = (size_t)(gt - s) + 1;
        } else {
            if (r == 0) r = fwc_buf_putc(&b, '<');
            i = k + 1;
        }
    }
    if (r < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    int rr = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
    fwc_buf_free(&b);
    return rr;
}

static int escape_html(ExprCtx *ctx, const FwcValue *t, FwcValue *out)
{
    if (t->type != FWC_T_STR) {
        *out = *t;
        return 0;
    }
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_buf_grow(&b, 64) < 0) return fwc_expr_nomem(ctx); /* never memcpy to NULL */
    int r = 0;
    for (uint32_t i = 0; i < t->len && r == 0; i++) {
        char c = t->u.s[i];
        switch (c) {
        case '&': r = fwc_buf_puts(&b, "&amp;"); break;
        case '"': r = fwc_buf_puts(&b, "&quot;"); break;
        case '\'': r = fwc_buf_puts(&b, "&apos;"); break;
        case '>': r = fwc_buf_puts(&b, "&gt;"); break;
        case '<': r = fwc_buf_puts(&b, "&lt;"); break;
        default: r = fwc_buf_putc(&b, c);
        }
    }
    if (r < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    int rr = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
    fwc_buf_free(&b);
    return rr;
}

/* set(l1) & set(l2) */
static int as_items(ExprCtx *ctx, const FwcValue *v, FwcValue **items, uint32_t *n)
{
    switch ((FwcType)v->type) {
    case FWC_T_LIST:
    case FWC_T_TUPLE:
    case FWC_T_SET:
        *items = v->u.items;
        *n = v->len;
        break;
    case FWC_T_DICT:
        *n = v->len;
        if (!(*items = fwc_expr_alloc(ctx, sizeof **items * (v->len + 1)))) return -1;
        for (uint32_t i = 0; i < v->len; i++) (*items)[i] = v->u.pairs[i].key;
        break;
    case FWC_T_RANGE:
        *n = v->len;
        if (!(*items = fwc_expr_alloc(ctx, sizeof **items * (v->len + 1)))) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            (*items)[i] = fwc_int(v->u.range[0] + (int64_t)i * v->u.range[1]);
        break;
    case FWC_T_STR: {
        if (!(*items = fwc_expr_alloc(ctx, sizeof **items * (v->len + 1)))) return -1;
        uint32_t k = 0;
        for (uint32_t i = 0; i < v->len;) {
            uint32_t l = 1;
            while (i + l < v->len && ((unsigned char)v->u.s[i + l] & 0xC0) == 0x80) l++;
            FwcValue *c = &(*items)[k++];
            c->type = FWC_T_STR;
            c->ascii = (uint8_t)(l == 1);
            c->len = l;
            c->u.s = v->u.s + i;
            i += l;
        }
        *n = k;
        break;
    }
    default: return FAIL("TypeError: '%s' object is not iterable", TN(v));
    }
    for (uint32_t i = 0; i < *n; i++) {
        uint8_t t = (*items)[i].type;
        if (t == FWC_T_LIST || t == FWC_T_DICT || t == FWC_T_SET)
            return FAIL("TypeError: unhashable type: '%s'", TN(&(*items)[i]));
    }
    return 0;
}

/* An open-addressing hash set of values (indices into `vals`), for linear-time dedup. */
typedef struct {
    uint32_t *slot; /* index + 1; 0 = empty */
    uint32_t mask;
} HSet;

static int hset_init(ExprCtx *ctx, HSet *h, uint32_t n)
{
    uint32_t cap = 8;
    while (cap < n * 2u) cap *= 2;
    h->mask = cap - 1;
    h->slot = fwc_expr_alloc(ctx, sizeof *h->slot * cap);
    if (!h->slot) return -1;
    memset(h->slot, 0, sizeof *h->slot * cap);
    return 0;
}

/* 1 if an equal value is in the set, else 0 (and with add, vals[idx] goes in) */
static int hset_find(HSet *h, const FwcValue *vals, const FwcValue *v, uint32_t idx, int add)
{
    for (uint32_t i = (uint32_t)fwc_expr_hash(v) & h->mask;; i = (i + 1) & h->mask) {
        if (!h->slot[i]) {
            if (add) h->slot[i] = idx + 1;
            return 0;
        }
        if (fwc_expr_equal(&vals[h->slot[i] - 1], v)) return 1;
    }
}

static int has_common(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, FwcValue *out)
{
    FwcValue *ia, *ib;
    uint32_t na, nb;
    if (as_items(ctx, a, &ia, &na) < 0 || as_items(ctx, b, &ib, &nb) < 0) return -1;
    if (fwc_expr_charge(ctx, ((uint64_t)na + nb) * 32) < 0) return -1;
    FwcValue *res = fwc_expr_alloc(ctx, sizeof *res * (na + 1));
    HSet in_b, seen;
    if (!res || hset_init(ctx, &in_b, nb) < 0 || hset_init(ctx, &seen, na) < 0) return -1;
    for (uint32_t j = 0; j < nb; j++) hset_find(&in_b, ib, &ib[j], j, 1);
    uint32_t k = 0;
    for (uint32_t i = 0; i < na; i++) {
        if (!hset_find(&in_b, ib, &ia[i], 0, 0)) continue;
        res[k] = ia[i];
        if (!hset_find(&seen, res, &ia[i], k, 1)) k++;
    }
    out->type = FWC_T_SET;
    out->ascii = 1;
    out->len = k;
    out->u.items = res;
    return 0;
}

/* ---------- dispatch ---------- */

int fwc_expr_call_util(ExprCtx *ctx, int id, FwcValue *args, int nargs, const char **kw,
                       FwcValue *out)
{
    const UtilSig *sig = &SIGS[id];
    FwcValue a[4];
    int pr[4];
    if (bind(ctx, sig, args, nargs, kw, a, pr) < 0) return -1;
    DateTime dt;
    switch ((ExprUtil)id) {
    case U_FLT: return flt_value(ctx, &a[0], pr[1] ? &a[1] : NULL, pr[2] ? &a[2] : NULL, out);
    case U_CINT: return cint_value(ctx, &a[0], pr[1] ? &a[1] : NULL, out);
    case U_CSTR:
        if (a[0].type == FWC_T_NULL) return fwc_expr_new_str(ctx, "", 0, out);
        return fwc_expr_str_of(ctx, &a[0], out);
    case U_ROUNDED: {
        int64_t p = 0;
        if (pr[1] && precision_of(ctx, &a[1], &p) < 0) return -1;
        return rounded_value(ctx, &a[0], p, pr[2] ? &a[2] : NULL, out, 0);
    }
    case U_FLOOR:
    case U_CEIL: {
        FwcValue f;
        if (flt_value(ctx, &a[0], NULL, NULL, &f) < 0) return -1;
        if (!isfinite(f.u.f)) {
            *out = fwc_int(0);
            return 0;
        }
        int64_t i;
        if (fwc_expr_floor_to_int(ctx, f.u.f, &i, id == U_CEIL) < 0) return -1;
        *out = fwc_int(i);
        return 0;
    }
    case U_SAFE_DIV: {
        int64_t p = 2;
        if (pr[2] && precision_of(ctx, &a[2], &p) < 0) return -1;
        FwcValue zero = fwc_int(0), res;
        if (fwc_expr_equal(&a[1], &zero)) {
            res = fwc_float(0.0);
        } else {
            double x;
            if (fwc_expr_to_float(ctx, &a[0], &x) < 0) return -1;
            const FwcValue *d = &a[1];
            if (d->type != FWC_T_INT && d->type != FWC_T_BOOL && d->type != FWC_T_FLOAT &&
                d->type != FWC_T_BIGINT)
                return FAIL("TypeError: unsupported operand type(s) for /: 'float' and '%s'",
                            TN(d));
            double y;
            if (fwc_expr_to_float(ctx, d, &y) < 0) return -1;
            res = fwc_float(x / y);
        }
        FwcValue pv = fwc_int(p);
        return flt_value(ctx, &res, &pv, NULL, out);
    }
    case U_NOWDATE:
    case U_TODAY: dt_from_us(now_local_us(ctx), &dt); return dt_string(ctx, &dt, FMT_DATE, out);
    case U_NOW: dt_from_us(now_local_us(ctx), &dt); return dt_string(ctx, &dt, FMT_DATETIME, out);
    case U_NOWTIME: dt_from_us(now_local_us(ctx), &dt); return dt_string(ctx, &dt, FMT_TIME, out);
    case U_GETDATE: return getdate_value(ctx, pr[0] ? &a[0] : NULL, out);
    case U_ADD_DAYS:
    case U_ADD_MONTHS:
    case U_ADD_YEARS: {
        double n;
        if (integral(ctx, &a[1], sig->params[1], &n) < 0) return -1;
        return add_to_date(ctx, &a[0], id == U_ADD_YEARS ? n : 0, id == U_ADD_MONTHS ? n : 0,
                           id == U_ADD_DAYS ? n : 0, out);
    }
    case U_DATE_DIFF: return date_diff(ctx, &a[0], &a[1], out);
    case U_STRIP_HTML: return strip_html(ctx, &a[0], out);
    case U_ESCAPE_HTML: return escape_html(ctx, &a[0], out);
    case U_HAS_COMMON: return has_common(ctx, &a[0], &a[1], out);
    case U_SBOOL:
        if (a[0].type == FWC_T_STR) {
            const FwcValue *v = &a[0];
            char low[6];
            if (v->len <= 5) {
                for (uint32_t i = 0; i < v->len; i++) {
                    char c = v->u.s[i];
                    low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
                }
                if ((v->len == 4 && memcmp(low, "true", 4) == 0) ||
                    (v->len == 1 && low[0] == '1')) {
                    *out = fwc_bool(1);
                    return 0;
                }
                if ((v->len == 5 && memcmp(low, "false", 5) == 0) ||
                    (v->len == 1 && low[0] == '0')) {
                    *out = fwc_bool(0);
                    return 0;
                }
            }
        }
        *out = a[0];
        return 0;
    }
    return FAIL("SystemError: unknown utils function");
}
