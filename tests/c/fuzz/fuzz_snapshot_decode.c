/* fuzz_snapshot_decode.c — the store's snapshot decoder (store_codec.c) on arbitrary bytes,
 * as a damaged or hostile database file would hand them over.  A refusal must be
 * FWC_EVALUE "corrupt snapshot: ..." (or FWC_ENOMEM); an accepted input must be a tree
 * the rest of the library can trust (ascii flags right, the JSON writer takes it) that
 * encodes back to exactly the input: the form is canonical.  No Python. */
#include "fuzz_common.h"
#include "store/store.h"

/* The invariants decode promises of every node; `outer` containers enclose v (at most
 * FWC_MAX_DEPTH - 1 around a container, so this recursion is bounded). */
static void check_tree(const FwcValue *v, int outer)
{
    if (v->type == FWC_T_LIST || v->type == FWC_T_DICT)
        FUZZ_CHECK(outer < FWC_MAX_DEPTH, "a container inside %d others", outer);
    switch ((FwcType)v->type) {
    case FWC_T_STR:
    case FWC_T_BIGINT: {
        int ascii = 1;
        for (uint32_t i = 0; i < v->len; i++)
            if ((unsigned char)v->u.s[i] >= 0x80) ascii = 0;
        FUZZ_CHECK(v->u.s[v->len] == '\0', "text not NUL-terminated");
        FUZZ_CHECK(v->ascii == ascii, "ascii flag %d for a text that is %d", v->ascii, ascii);
        break;
    }
    case FWC_T_LIST:
        for (uint32_t i = 0; i < v->len; i++) check_tree(&v->u.items[i], outer + 1);
        break;
    case FWC_T_DICT:
        for (uint32_t i = 0; i < v->len; i++) {
            const FwcValue *k = &v->u.pairs[i].key;
            FUZZ_CHECK(k->type != FWC_T_LIST && k->type != FWC_T_DICT, "a container key");
            check_tree(k, outer + 1);
            check_tree(&v->u.pairs[i].value, outer + 1);
        }
        break;
    case FWC_T_NULL:
    case FWC_T_BOOL:
    case FWC_T_INT:
    case FWC_T_FLOAT: break;
    default: FUZZ_CHECK(0, "type %d in a decoded snapshot", v->type);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *bytes = fuzz_copy(data, size);
    FwcError err = { 0 };
    FwcSnapshot *s = fwc_snapshot_decode(bytes, size, &err);
    /* wiped and freed first: a tree pointing into its input is caught below */
    memset(bytes, 'x', size);
    free(bytes);
    if (!s) {
        FUZZ_CHECK(err.code == FWC_EVALUE || err.code == FWC_ENOMEM, "status %d", (int)err.code);
        FUZZ_CHECK(err.code != FWC_EVALUE || strncmp(err.message, "corrupt snapshot: ", 18) == 0,
                   "message %s", err.message);
        return 0;
    }
    FUZZ_CHECK(atomic_load(&s->refs) == 1, "refs %d", atomic_load(&s->refs));
    check_tree(&s->root, 0);

    FwcBuf enc = FWC_BUF_INIT, json = FWC_BUF_INIT;
    FUZZ_CHECK(fwc_snapshot_encode(&s->root, &enc) == 0, "a decoded tree does not encode");
    FUZZ_CHECK(enc.len == size && memcmp(enc.data, data, size) == 0,
               "not canonical: %zu bytes in, %zu bytes re-encoded", size, enc.len);
    FwcStatus st = fwc_json_write(&json, &s->root, FWC_JSON_DUMPS, &err);
    FUZZ_CHECK(st == FWC_OK, "dumps failed: %s", err.message);
    json.len = 0;
    st = fwc_json_write(&json, &s->root, FWC_JSON_AS_JSON, &err);
    FUZZ_CHECK(st == FWC_OK || st == FWC_ETYPE, "as_json: status %d", (int)st);
    fwc_buf_free(&enc);
    fwc_buf_free(&json);
    fwc_snapshot_decref(s);
    return 0;
}
