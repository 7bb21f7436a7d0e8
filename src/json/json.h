/* json.h — JSON on the value tree, byte-identical to Python's json module (no GIL).
 *
 *   float_repr.c  float.__repr__ (shortest round-trip digits; float_repr_table.h is generated
 *                 by gen_pow10_table.py)
 *   json_write.c  json.dumps(v, default=str) and Frappe's as_json style
 *   json_parse.c  json.loads into a value tree */
#ifndef FWC_JSON_H
#define FWC_JSON_H

#include "core/core.h"

/* ---------- float formatting identical to float.__repr__ (no GIL) ---------- */

/* Writes repr(v) (without NUL) to out, returns its length (< 32).
 * NaN/inf give "nan"/"inf"/"-inf" as repr does; the JSON writer handles those itself. */
int fwc_float_repr(double v, char out[32]);

/* ---------- JSON writer, byte-identical to Python's json.dumps (no GIL) ---------- */

typedef enum {
    FWC_JSON_DUMPS,   /* json.dumps(v, default=str) */
    FWC_JSON_AS_JSON, /* json.dumps(v, indent=1, sort_keys=True, separators=(",", ": ")) */
} FwcJsonStyle;

/* Appends the JSON text of v to out.  FWC_ETYPE when sort_keys meets unorderable keys. */
FwcStatus fwc_json_write(FwcBuf *out, const FwcValue *v, FwcJsonStyle style, FwcError *err);

/* ---------- JSON parser with json.loads semantics (no GIL) ---------- */

/* Parses UTF-8 JSON text (lone surrogates allowed in 3-byte form) with json.loads
 * semantics into a value tree allocated in `arena` (dicts deduplicated: first position,
 * last value).  Errors: FWC_ETEMPLATE with JSONDecodeError's text, e.g. "Expecting ','
 * delimiter: line 9 column 33 (char 268)" (code points); FWC_ENOMEM.  On error the arena
 * may hold partial allocations (freed with it) and *out is null. */
FwcStatus fwc_json_parse(FwcArena *arena, const char *text, size_t len, FwcValue *out,
                         FwcError *err);

#endif
