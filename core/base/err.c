/* err: per-thread last-error message; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_MAX 1024

static _Thread_local char err_buf[ERR_MSG_MAX];

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	return code;
}

int err_wrap(int code, const char *fmt, ...)
{
	char prefix[ERR_MSG_MAX];
	char old[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err_buf, sizeof(old));
	if (old[0] != '\0')
		snprintf(err_buf, sizeof(err_buf), "%s: %s", prefix, old);
	else
		snprintf(err_buf, sizeof(err_buf), "%s", prefix);
	return code;
}

const char *err_msg(void)
{
	return err_buf;
}

void err_clear(void)
{
	err_buf[0] = '\0';
}

const char *err_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOMEM: return "nomem";
	case ERR_USAGE: return "usage";
	case ERR_CONFIG: return "config";
	case ERR_IO: return "io";
	case ERR_ETCD: return "etcd";
	case ERR_UNAVAILABLE: return "unavailable";
	case ERR_AUTH: return "auth";
	case ERR_COMPACTED: return "compacted";
	case ERR_NOSPACE: return "nospace";
	case ERR_NOTFOUND: return "notfound";
	case ERR_DECRYPT: return "decrypt";
	case ERR_CORRUPT: return "corrupt";
	case ERR_TLS: return "tls";
	case ERR_INTERNAL: return "internal";
	case ERR_INTERRUPTED: return "interrupted";
	case ERR_REFUSED: return "refused";
	case ERR_NODE_MISMATCH: return "node_mismatch";
	case ERR_LEASE_NOTFOUND: return "lease_notfound";
	case ERR_TOOLARGE: return "toolarge";
	case ERR_NOQUORUM: return "noquorum";
	default: return "unknown";
	}
}
