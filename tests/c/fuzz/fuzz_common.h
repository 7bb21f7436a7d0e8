/* fuzz_common.h — helpers shared by the libFuzzer targets in this directory.
 *
 * The targets call the project's C functions directly (no Python unless a target says
 * so): see the "Fuzzing" section of the README and `make fuzz` / `make fuzz-regress`. */
#ifndef FWC_FUZZ_COMMON_H
#define FWC_FUZZ_COMMON_H

#include "py/py.h" /* every layer; only fuzz_snapshot_write uses Python */
#include <stdio.h>
#include <stdlib.h>

/* A property that must hold: a failure is a crash libFuzzer records. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An exact-size heap copy of the input: no NUL after it, so ASan sees any read past
 * the length a function was given. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p) abort();
    if (size) memcpy(p, data, size);
    return p;
}

/* After compiling src (fuzz_copy of the input) into program: a refusal must be a clear
 * compile error; the source is wiped and freed either way, so that a program pointing
 * into its source text is caught.  Returns whether there is a program to run. */
static inline int fuzz_compiled(const void *program, const FwcError *err, char *src, size_t size)
{
    if (!program) {
        FUZZ_CHECK(err->code == FWC_EVALUE || err->code == FWC_ENOMEM,
                   "compile failed with status %d", (int)err->code);
        FUZZ_CHECK(err->message[0], "a compile error without a message");
    }
    memset(src, 'x', size);
    free(src);
    return program != NULL;
}

/* Whether s[0..n) is UTF-8 that a Python str can produce (PyUnicode_AsUTF8AndSize: no
 * surrogates, no overlong forms, nothing past U+10FFFF).  Conditions and templates only
 * ever arrive that way, so the expression and template targets skip other inputs: a
 * crash they find is then reachable from Python. */
static inline int fuzz_valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len = c >= 0xC2 && c <= 0xDF   ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
        if (!len || n - i < (size_t)len) return 0;
        for (int k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[i + 1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && s[i + 1] >= 0xA0) return 0; /* surrogate */
        if (c == 0xF0 && s[i + 1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && s[i + 1] >= 0x90) return 0; /* > U+10FFFF */
        i += (size_t)len;
    }
    return 1;
}

/* The document the condition and template targets evaluate against: the fields the test
 * suite's documents have (tests/test_conditions.py DOC, tests/test_templates.py
 * odd_document), with the awkward values (NaN, -0.0, big ints, a lone surrogate, NUL). */
static const char FUZZ_DOC_JSON[] =
    "{\"doctype\": \"Quotation\", \"name\": \"Q-1\", \"status\": \"Open\", \"grand_total\": 1500.5,"
    " \"qty\": 7, \"flag\": true, \"none\": null, \"docstatus\": 1, \"is_return\": 0,"
    " \"items\": [{\"idx\": 1, \"qty\": 50, \"rate\": 10.0, \"code\": \"A\", \"item_code\": "
    "\"A-1\","
    " \"notes\": null, \"k\": \"x\", \"delivery_date\": \"2026-01-05\"},"
    " {\"idx\": 2, \"qty\": 3, \"rate\": 2.5, \"code\": \"B\", \"item_code\": "
    "\"\\u00dcn\\u00ef\\u2013c\\u00f4de\","
    " \"notes\": \"line1\\nline2\", \"k\": \"y\", \"delivery_date\": \"2026-02-28\"},"
    " {\"idx\": 3, \"qty\": 2.5, \"rate\": null, \"code\": \"B\", \"item_code\": \"q\\\"uote\", "
    "\"notes\": \"\","
    " \"k\": \"x\"}],"
    " \"tags\": [\"x\", \"y\"], \"taxes\": [], \"nested\": {\"a\": 1, \"get\": \"field\"},"
    " \"title\": \"ACME Caf\\u00e9\", \"customer\": \"O'Brien & Sons\", \"big\": "
    "1180591620717411303424,"
    " \"transaction_date\": \"2026-11-27\", \"modified\": \"2026-11-27 06:00:01.000005\","
    " \"meta\": {\"source\": \"web\", \"score\": 0.5}, \"f\": -0.0, \"nan\": NaN, \"inf\": "
    "-Infinity,"
    " \"tiny\": 1e-320, \"s\": \"<b>&amp;</b> back\\\\slash tab\\t nul\\u0000 \\ud800 "
    "\\ud83d\\ude00\"}";

/* Parsed once; the arena lives as long as the process. */
static inline const FwcValue *fuzz_doc(void)
{
    static FwcArena arena;
    static FwcValue doc;
    static int ready;
    if (!ready) {
        FwcError err = { 0 };
        if (fwc_json_parse(&arena, FUZZ_DOC_JSON, sizeof FUZZ_DOC_JSON - 1, &doc, &err) != FWC_OK) {
            fprintf(stderr, "fuzz document does not parse: %s\n", err.message);
            abort();
        }
        ready = 1;
    }
    return &doc;
}

#endif
