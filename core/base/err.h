/* err: the one error convention of etcdcrypt.
 *
 * Every fallible function returns int: 0 on success, a negative ERR_* code on
 * failure, after recording a one-line message with err_set(). The message is
 * kept per thread and stays until the next err_set(). Callers propagate the
 * code unchanged and never overwrite a message set deeper down; they may add
 * context with err_wrap(), which prefixes the existing message.
 *
 * Decisions hang on the code, never on the message text.
 *
 * err does no I/O: only cmd/ prints err_msg() and picks the exit status. */
#ifndef ETCDCRYPT_ERR_H
#define ETCDCRYPT_ERR_H

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM = -1,       /* allocation failed */
	ERR_USAGE = -2,       /* bad command line or argument */
	ERR_CONFIG = -3,      /* bad EncryptionConfiguration or other input file */
	ERR_IO = -4,          /* file system or local I/O failure */
	ERR_ETCD = -5,        /* etcd answered with an error (status + message) */
	ERR_UNAVAILABLE = -6, /* no endpoint reachable, deadline, connection lost */
	ERR_AUTH = -7,        /* authentication / permission failure */
	ERR_COMPACTED = -8,   /* requested revision was compacted */
	ERR_NOSPACE = -9,     /* etcd NOSPACE alarm / database space exceeded */
	ERR_NOTFOUND = -10,   /* key or object does not exist */
	ERR_DECRYPT = -11,    /* a value could not be decrypted / read */
	ERR_CORRUPT = -12,    /* malformed input data (file, page, protobuf) */
	ERR_TLS = -13,        /* bad certificate / key files */
	ERR_INTERNAL = -14,   /* a bug: invariant broken */
	ERR_INTERRUPTED = -15, /* stopped by a signal (SIGINT/SIGTERM) */
	ERR_REFUSED = -16,    /* a safety check refused to start (alarms, quota, KMS plugin) */
	ERR_NODE_MISMATCH = -17, /* a node's config disagrees with the config given (write key, key material) */
	ERR_LEASE_NOTFOUND = -18, /* etcd: the lease a write names no longer exists (it expired) */
	ERR_TOOLARGE = -19,   /* etcd refused a request over its --max-request-bytes */
	ERR_NOQUORUM = -20,   /* etcd members answer but none has a leader (majority lost) */
};

/* Records a printf-style message and returns code (for `return err_set(...)`). */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with "context: " and returns code. */
int err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current message (borrowed; "" when none was set). */
const char *err_msg(void);

/* Forgets the current message. */
void err_clear(void);

/* Short name of a code ("config", "etcd", ...), for JSON output. */
const char *err_name(int code);

#endif
