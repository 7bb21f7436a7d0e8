/* fuzz_tmpl.c — the template engine (tmpl_lex.c, tmpl_parse.c, tmpl_render.c,
 * tmpl_filters.c, tmpl_format.c, tmpl_groupby.c, tmpl_namespace.c, tmpl_shape.c and the
 * expression engine under it) on arbitrary template text: compile, render against a
 * fixed document (fuzz_common.h) with and without JSON escaping, and the shape analysis
 * (what the template reads of the document).  No Python. */
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
    FwcTemplate *t = fwc_tmpl_compile(src, size, &err);
    if (!fuzz_compiled(t, &err, src, size)) return 0;

    FwcStatus first = FWC_OK;
    size_t first_len = 0;
    for (int json_escape = 0; json_escape <= 1; json_escape++) {
        FwcBuf out = FWC_BUF_INIT;
        FwcError rerr = { 0 };
        FwcStatus st = fwc_tmpl_render(t, fuzz_doc(), json_escape, &out, &rerr);
        FUZZ_CHECK(st == FWC_OK || st == FWC_ETEMPLATE || st == FWC_ELIMIT || st == FWC_ENOMEM,
                   "render status %d: %s", (int)st, rerr.message);
        FUZZ_CHECK(st == FWC_OK || rerr.message[0], "a render error without a message");
        /* escaping changes the text, never whether rendering works (unless the longer
         * text hits the output bound) */
        if (json_escape && first_len < (1u << 20))
            FUZZ_CHECK(st == first, "render status %d with json_escape, %d without: %s", (int)st,
                       (int)first, rerr.message);
        first = st;
        first_len = out.len;
        fwc_buf_free(&out);
    }

    FwcShape *shape = fwc_shape_new();
    if (shape) {
        FUZZ_CHECK(fwc_tmpl_shape(t, shape) == 0, "shape analysis failed");
        fwc_shape_free(shape);
    }
    fwc_tmpl_free(t);
    return 0;
}
