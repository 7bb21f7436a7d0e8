/* fuzz_json_parse.c — the JSON parser (json_parse.c) on arbitrary bytes, and the round
 * trip through the writer (json_write.c): whatever parses must write, the written text
 * must parse again, and writing that gives the same text (parse -> write -> parse is
 * stable).  No Python. */
#include "fuzz_common.h"

static void write_or_die(const FwcValue *v, FwcJsonStyle style, FwcBuf *out)
{
    FwcError err = { 0 };
    FwcStatus rc = fwc_json_write(out, v, style, &err);
    /* a parsed tree has only str keys, so even sort_keys cannot fail */
    FUZZ_CHECK(rc == FWC_OK, "writer failed on a parsed tree: %d %s", (int)rc, err.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    FwcArena arena = { 0 };
    FwcError err = { 0 };
    FwcValue v, v2, v3;
    FwcBuf s1 = FWC_BUF_INIT, s2 = FWC_BUF_INIT, pretty = FWC_BUF_INIT;

    FwcStatus rc = fwc_json_parse(&arena, text, size, &v, &err);
    if (rc != FWC_OK) {
        FUZZ_CHECK(rc == FWC_ETEMPLATE || rc == FWC_ENOMEM, "unexpected status %d", (int)rc);
        FUZZ_CHECK(err.message[0], "an error without a message");
        FUZZ_CHECK(v.type == FWC_T_NULL, "out not null after an error");
        goto done;
    }

    write_or_die(&v, FWC_JSON_DUMPS, &s1);
    rc = fwc_json_parse(&arena, s1.data, s1.len, &v2, &err);
    FUZZ_CHECK(rc == FWC_OK, "the writer's output does not parse: %s\n%.*s", err.message,
               (int)s1.len, s1.data);
    write_or_die(&v2, FWC_JSON_DUMPS, &s2);
    FUZZ_CHECK(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0,
               "round trip not stable:\n%.*s\n%.*s", (int)s1.len, s1.data, (int)s2.len, s2.data);

    /* the indented, sorted style parses too */
    write_or_die(&v, FWC_JSON_AS_JSON, &pretty);
    rc = fwc_json_parse(&arena, pretty.data, pretty.len, &v3, &err);
    FUZZ_CHECK(rc == FWC_OK, "as_json output does not parse: %s\n%.*s", err.message,
               (int)pretty.len, pretty.data);

done:
    fwc_buf_free(&s1);
    fwc_buf_free(&s2);
    fwc_buf_free(&pretty);
    fwc_arena_free(&arena);
    free(text);
    return 0;
}
