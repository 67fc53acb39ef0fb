/* csmkey: CSM keys from files or memory, their CSM names, and random key
 * strings; see csmkey.h. It lives with the providers because naming a key
 * hashes it and generating one needs the CSPRNG (OpenSSL, owned here). */
#include "csmkey.h"
#include "digest.h"
#include "prov.h"
#include "base/err.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int key_len_ok(enum encconf_kind kind, size_t n)
{
	if (kind == ENCCONF_SECRETBOX)
		return n == 32;
	return n == 16 || n == 24 || n == 32;
}

int csmkey_set(struct csmconf_key *out, enum encconf_kind kind, const uint8_t *key, size_t len,
		    const char *source)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->source, sizeof(out->source), "%s", source);
	if (kind != ENCCONF_AESCBC && kind != ENCCONF_AESGCM && kind != ENCCONF_SECRETBOX)
		return err_set(ERR_USAGE, "'%s': %s is not a provider a key can be given for", source,
			       encconf_kind_name(kind));
	if (!key_len_ok(kind, len))
		return err_set(ERR_CONFIG, "'%s': the key is %zu bytes; %s keys must be %s bytes", source, len,
			       encconf_kind_name(kind), kind == ENCCONF_SECRETBOX ? "32" : "16, 24 or 32");
	out->kind = kind;
	memcpy(out->key, key, len);
	out->len = len;
	return csmkey_name(out->name, out);
}

/* Reads at most cap bytes of fd into p; *n = bytes read, or cap + 1 when
 * there was more. */
static int read_capped(int fd, uint8_t *p, size_t cap, size_t *n, const char *name)
{
	uint8_t extra;
	ssize_t r;

	*n = 0;
	while (*n < cap) {
		r = read(fd, p + *n, cap - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(ERR_IO, "cannot read key file '%s': %s", name, strerror(errno));
		if (r == 0)
			return 0;
		*n += (size_t)r;
	}
	do
		r = read(fd, &extra, 1);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		*n = cap + 1;
	return 0;
}

int csmkey_read(struct csmconf_key *out, enum encconf_kind kind, const char *path)
{
	uint8_t raw[CSMCONF_KEYFILE_MAX];
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	size_t n = 0;
	int fd = 0, rc;

	memset(out, 0, sizeof(*out));
	if (strcmp(path, "-") != 0 && (rc = file_open_regular(&fd, path, "key file", ERR_CONFIG)) < 0)
		return rc;
	rc = read_capped(fd, raw, sizeof(raw), &n, name);
	if (fd != 0)
		close(fd);
	if (rc < 0)
		goto out;
	if (n > sizeof(raw)) {
		rc = err_set(ERR_CONFIG, "'%s': more than %d bytes; a key file holds one key string", name,
			     CSMCONF_KEYFILE_MAX);
		goto out;
	}
	if (n > 0 && raw[n - 1] == '\n')
		n--;
	rc = csmkey_set(out, kind, raw, n, name);
out:
	mem_wipe(raw, sizeof(raw));
	return rc;
}

int csmkey_name(char out[CSMCONF_NAME_MAX], const struct csmconf_key *k)
{
	uint8_t line[CSMCONF_KEY_MAX + 1];
	char hex[65];
	int rc;

	if (k->len > CSMCONF_KEY_MAX)
		return err_set(ERR_INTERNAL, "key of %zu bytes", k->len);
	memcpy(line, k->key, k->len);
	line[k->len] = '\n';
	rc = digest_sha256_hex(hex, line, k->len + 1);
	mem_wipe(line, sizeof(line));
	if (rc < 0)
		return rc;
	snprintf(out, CSMCONF_NAME_MAX, "%s-%s", encconf_kind_name(k->kind), hex);
	return 0;
}

int csmkey_random(char *out, size_t n)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t r;
	int rc;

	for (size_t i = 0; i < n;) {
		if ((rc = prov_random(&r, 1)) < 0)
			return rc;
		if (r >= 248) /* 248 = 4 * 62: reject to keep the choice uniform */
			continue;
		out[i++] = alnum[r % 62];
	}
	r = 0;
	out[n] = '\0';
	return 0;
}

