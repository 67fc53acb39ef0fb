/* esc: bytes from etcd (keys, key names read from values) made safe to show.
 *
 * etcd keys and the names inside stored values are arbitrary bytes: they may
 * be invalid UTF-8 (which a JSON library refuses, so the field would vanish)
 * or hold terminal control sequences (ESC, OSC, newlines) that must never
 * reach a terminal raw. Every renderer goes through this one module:
 *
 *   JSON   a field gets esc_utf8_lossy(bytes) — the bytes themselves when
 *          they are valid UTF-8 without NUL, else each offending byte as
 *          U+FFFD — and, only when that changed something, a "<field>_b64"
 *          twin with the exact bytes in standard base64 (esc_json_b64).
 *   table  esc_term(bytes): printable UTF-8 as is; backslash, control bytes
 *          (C0, DEL, the C1 range U+0080..U+009F) and bidirectional
 *          overrides escaped C-style (\\ \n \r \t \e \xNN \u202e); bytes of
 *          invalid UTF-8 as \xNN. The result is never empty: "" shows as "".
 *
 * Results are malloc'd, NUL-terminated, owned by the caller; NULL only when
 * memory runs out (ERR_NOMEM set). No I/O. */
#ifndef ETCDCRYPT_ESC_H
#define ETCDCRYPT_ESC_H

#include <stddef.h>
#include <stdint.h>

/* 1 when p is valid UTF-8 (RFC 3629: shortest form, no surrogates, at most
 * U+10FFFF) and holds no NUL; else 0. */
int esc_utf8_clean(const uint8_t *p, size_t n);

/* p as valid UTF-8 text: unchanged when esc_utf8_clean, else every byte that
 * is not part of a valid sequence, and every NUL, becomes U+FFFD. */
char *esc_utf8_lossy(const uint8_t *p, size_t n);

/* The "<field>_b64" twin: base64 of p when !esc_utf8_clean(p), else NULL
 * (also NULL, with ERR_NOMEM set, when memory runs out: check err). */
char *esc_json_b64(const uint8_t *p, size_t n, int *err);

/* p escaped for a terminal (see above); "" becomes "\"\"". */
char *esc_term(const uint8_t *p, size_t n);

/* The same into out (cap bytes), cut at a whole escape when it does not fit
 * (then ending in "..."). For fixed-size table cells. */
void esc_term_buf(char *out, size_t cap, const uint8_t *p, size_t n);

#endif
