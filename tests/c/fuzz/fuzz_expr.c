/* fuzz_expr.c — the condition engine (expr_lex.c, expr_parse.c, expr_eval.c,
 * expr_utils.c, expr_str.c, expr_value.c) on arbitrary source text: compile, evaluate
 * against a fixed document (fuzz_common.h), write the result as JSON.  Errors are fine;
 * crashes, sanitizer reports, leaks and hangs are not.  No Python. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_doc();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_valid_utf8(data, size)) return -1; /* -1: not added to the corpus */
    char *src = fuzz_copy(data, size);
    FwcError err = { 0 };
    FwcExpr *e = fwc_expr_compile(src, size, &err);
    if (!fuzz_compiled(e, &err, src, size)) return 0;

    FwcArena scratch = { 0 };
    FwcValue out;
    FwcStatus st = fwc_expr_eval(e, fuzz_doc(), &scratch, &out, &err);
    if (st == FWC_OK) {
        FwcBuf b = FWC_BUF_INIT;
        FwcError werr = { 0 };
        FwcStatus ws = fwc_json_write(&b, &out, FWC_JSON_DUMPS, &werr);
        FUZZ_CHECK(ws == FWC_OK || ws == FWC_ETYPE, "writing the result failed: %d %s", (int)ws,
                   werr.message);
        fwc_buf_free(&b);
    } else {
        FUZZ_CHECK(err.message[0], "an evaluation error without a message");
    }
    fwc_arena_free(&scratch);

    int truth = -1;
    FwcError terr = { 0 };
    FwcStatus ts = fwc_expr_test(e, fuzz_doc(), &truth, &terr);
    FUZZ_CHECK(ts == st, "eval and test disagree: %d vs %d (%s / %s)", (int)st, (int)ts,
               err.message, terr.message);
    FUZZ_CHECK(ts != FWC_OK || truth == 0 || truth == 1, "truthiness %d", truth);
    fwc_expr_free(e);
    return 0;
}
