/* csmconf: CSM-style EncryptionConfiguration text and key files; see
 * csmconf.h. Pure text generation plus the two small file operations a key
 * needs (read with a size cap, create exclusively 0600). */
#include "csmconf.h"
#include "base/b64.h"
#include "base/err.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void csmconf_key_wipe(struct csmconf_key *k)
{
	if (k != NULL)
		mem_wipe(k->key, sizeof(k->key));
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
	
	for (size_t i = 0; i < n; i++) {
		if (keys[i].name[0] == '\0')
			return err_set(ERR_INTERNAL, "'%s': key has no name", keys[i].source);
		snprintf(names[i], CSMCONF_NAME_MAX, "%s", keys[i].name);
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

int csmconf_write_new(const char *path, const void *p, size_t n)
{
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return err_set(ERR_IO, "'%s' exists; not overwriting it", path);
	if (fd < 0)
		return err_set(ERR_IO, "cannot create '%s': %s", path, strerror(errno));
	if ((rc = file_write_all(fd, p, n)) < 0)
		rc = err_set(rc, "cannot write '%s': %s", path, strerror(errno));
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(ERR_IO, "cannot sync '%s': %s", path, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(ERR_IO, "cannot close '%s': %s", path, strerror(errno));
	if (rc < 0)
		unlink(path);
	return rc;
}
