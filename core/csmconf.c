/* csmconf: CSM-style EncryptionConfiguration text and key files; see
 * csmconf.h. Pure text generation plus the two small file operations a key
 * needs (read with a size cap, create exclusively 0600). */
#include "csmconf.h"
#include "b64.h"
#include "err.h"
#include "prov.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int key_len_ok(enum encconf_kind kind, size_t n)
{
	if (kind == ENCCONF_SECRETBOX)
		return n == 32;
	return n == 16 || n == 24 || n == 32;
}

int csmconf_key_set(struct csmconf_key *out, enum encconf_kind kind, const uint8_t *key, size_t len,
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
	return 0;
}

void csmconf_key_wipe(struct csmconf_key *k)
{
	if (k != NULL)
		mem_wipe(k->key, sizeof(k->key));
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

int csmconf_key_read(struct csmconf_key *out, enum encconf_kind kind, const char *path)
{
	uint8_t raw[CSMCONF_KEYFILE_MAX];
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	size_t n = 0;
	int fd = 0, rc;

	memset(out, 0, sizeof(*out));
	if (strcmp(path, "-") != 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(ERR_IO, "cannot open key file '%s': %s", path, strerror(errno));
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
	rc = csmconf_key_set(out, kind, raw, n, name);
out:
	mem_wipe(raw, sizeof(raw));
	return rc;
}

int csmconf_key_name(char out[CSMCONF_NAME_MAX], const struct csmconf_key *k)
{
	uint8_t line[CSMCONF_KEY_MAX + 1];
	char hex[65];
	int rc;

	if (k->len > CSMCONF_KEY_MAX)
		return err_set(ERR_INTERNAL, "key of %zu bytes", k->len);
	memcpy(line, k->key, k->len);
	line[k->len] = '\n';
	rc = prov_sha256_hex(hex, line, k->len + 1);
	mem_wipe(line, sizeof(line));
	if (rc < 0)
		return rc;
	snprintf(out, CSMCONF_NAME_MAX, "%s-%s", encconf_kind_name(k->kind), hex);
	return 0;
}

static int append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

static int append_identity(struct buf *b)
{
	return append_str(b, "      - identity: {}\n");
}

/* One provider element holding one key, as the CSM script writes it. */
static int append_key(struct buf *b, const struct csmconf_key *k, const char *name)
{
	char secret[48]; /* base64 of at most 32 bytes: 44 chars + NUL */
	int rc;

	b64_encode(secret, k->key, k->len);
	if ((rc = append_str(b, "      - ")) < 0 || (rc = append_str(b, encconf_kind_name(k->kind))) < 0 ||
	    (rc = append_str(b, ":\n          keys:\n            - name: \"")) < 0 || (rc = append_str(b, name)) < 0 ||
	    (rc = append_str(b, "\"\n              secret: \"")) < 0 || (rc = append_str(b, secret)) < 0 ||
	    (rc = append_str(b, "\"\n")) < 0)
		goto out;
out:
	mem_wipe(secret, sizeof(secret));
	return rc;
}

/* Names of keys[0..n-1] into names; ERR_USAGE on a repeated name. */
static int name_keys(char (*names)[CSMCONF_NAME_MAX], const struct csmconf_key *keys, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		if ((rc = csmconf_key_name(names[i], &keys[i])) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				return err_set(ERR_USAGE, "'%s' and '%s' hold the same %s key", keys[j].source,
					       keys[i].source, encconf_kind_name(keys[i].kind));
	}
	return 0;
}

#define CSMCONF_MAX_KEYS 64

int csmconf_generate(struct buf *out, enum csmconf_mode mode, const struct csmconf_key *keys, size_t n)
{
	char names[CSMCONF_MAX_KEYS][CSMCONF_NAME_MAX];
	int rc;

	buf_reset(out);
	if (mode == CSMCONF_ENABLE && n == 0)
		return err_set(ERR_USAGE, "enable needs at least one key");
	if (n > CSMCONF_MAX_KEYS)
		return err_set(ERR_USAGE, "%zu keys; at most %d", n, CSMCONF_MAX_KEYS);
	if ((rc = name_keys(names, keys, n)) < 0)
		return rc;
	if ((rc = append_str(out, "---\n"
				  "apiVersion: apiserver.config.k8s.io/v1\n"
				  "kind: EncryptionConfiguration\n"
				  "resources:\n"
				  "  - resources:\n"
				  "      - secrets\n"
				  "    providers:\n")) < 0)
		return rc;
	if (mode == CSMCONF_DISABLE && (rc = append_identity(out)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = append_key(out, &keys[i], names[i])) < 0)
			return rc;
	if (mode == CSMCONF_ENABLE && (rc = append_identity(out)) < 0)
		return rc;
	return 0;
}

int csmconf_random_key(char *out, size_t n)
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

static int write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int csmconf_write_new(const char *path, const void *p, size_t n)
{
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return err_set(ERR_IO, "'%s' exists; not overwriting it", path);
	if (fd < 0)
		return err_set(ERR_IO, "cannot create '%s': %s", path, strerror(errno));
	rc = write_all(fd, p, n, path);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(ERR_IO, "cannot sync '%s': %s", path, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(ERR_IO, "cannot close '%s': %s", path, strerror(errno));
	if (rc < 0)
		unlink(path);
	return rc;
}
