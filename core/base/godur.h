/* godur: Go duration strings ("3s", "500ms", "1m30s", "-1.5h", "0"), read
 * exactly as Go's time.ParseDuration reads them: units ns, us (and the two
 * micro signs), ms, s, m, h; components may repeat; a sign only in front;
 * no spaces; at most 2^63-1 ns. The one parser behind the KMS timeout of an
 * EncryptionConfiguration and etcdctl's --dial-timeout/--command-timeout. */
#ifndef ETCDCRYPT_GODUR_H
#define ETCDCRYPT_GODUR_H

#include <stdint.h>

/* The duration s names, in nanoseconds, into *out. ERR_CORRUPT (no message
 * set: the caller names the field) when Go would reject s. */
int godur_parse_ns(int64_t *out, const char *s);

#endif
