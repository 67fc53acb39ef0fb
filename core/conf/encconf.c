/* encconf: loading, freeing and querying an EncryptionConfiguration; see
 * encconf.h. The YAML decoding and validation live in encconf_yaml.c, the
 * value rules in encconf_rules.c.
 *
 * This file reads the file (4 MiB cap, buffer wiped after use since it holds
 * key material) and answers "which rule applies to (group, resource)". It
 * builds no ciphers. */
#include "encconf_int.h"
#include "base/err.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void key_release(struct encconf_key *k)
{
	free(k->name);
	if (k->secret != NULL) {
		explicit_bzero(k->secret, k->secret_len);
		free(k->secret);
	}
}

static void provider_release(struct encconf_provider *p)
{
	for (size_t i = 0; i < p->n_keys; i++)
		key_release(&p->keys[i]);
	free(p->keys);
	free(p->kms_name);
	free(p->kms_endpoint);
}

static void rule_release(struct encconf_rule *r)
{
	for (size_t i = 0; i < r->n_resources; i++)
		free(r->resources[i]);
	free(r->resources);
	for (size_t i = 0; i < r->n_providers; i++)
		provider_release(&r->providers[i]);
	free(r->providers);
}

void encconf_free(struct encconf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_rules; i++)
		rule_release(&c->rules[i]);
	free(c->rules);
	free(c->path);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

int encconf_parse(struct encconf **out, const char *text, size_t len, const char *name)
{
	struct encconf *c;
	int rc;

	*out = NULL;
	if (name == NULL)
		name = "<input>";
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(name)) == NULL) {
		free(c);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (len == 0)
		rc = err_set(ERR_CONFIG, "encryption provider configuration file \"%s\" is empty", name);
	else if (len > ENCCONF_MAX_INPUT)
		rc = err_set(ERR_CONFIG, "%s: larger than %u bytes", name, ENCCONF_MAX_INPUT);
	else
		rc = encconf_yaml_decode(c, text, len);
	if (rc < 0) {
		encconf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Reads at most ENCCONF_MAX_INPUT + 1 bytes into a fresh buffer. */
static int read_capped(int fd, const char *path, char **buf, size_t *len)
{
	size_t cap = ENCCONF_MAX_INPUT + 1;
	char *b = malloc(cap);
	size_t n = 0;

	if (b == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	while (n < cap) {
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			explicit_bzero(b, n);
			free(b);
			return err_set(ERR_IO, "cannot read '%s': %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

int encconf_load(struct encconf **out, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	if ((rc = file_open_regular(&fd, path, "config", ERR_CONFIG)) < 0)
		return rc;
	rc = read_capped(fd, path, &buf, &len);
	close(fd);
	if (rc < 0)
		goto out;
	if (len > ENCCONF_MAX_INPUT) {
		rc = err_set(ERR_CONFIG, "%s: larger than the 4 MiB limit for an encryption configuration", path);
		goto out;
	}
	rc = encconf_parse(out, buf, len, path);
out:
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return rc;
}

/* Does rule text s (split at its first dot) name exactly (group, resource)? */
static int rule_names(const char *s, const char *group, const char *resource)
{
	const char *r, *g;
	size_t rlen;

	encconf_split_resource(s, &r, &rlen, &g);
	return rlen == strlen(resource) && memcmp(r, resource, rlen) == 0 && strcmp(g, group) == 0;
}

static const struct encconf_rule *find_rule(const struct encconf *c, const char *group, const char *resource)
{
	for (size_t i = 0; i < c->n_rules; i++)
		for (size_t j = 0; j < c->rules[i].n_resources; j++)
			if (rule_names(c->rules[i].resources[j], group, resource))
				return &c->rules[i];
	return NULL;
}

const struct encconf_rule *encconf_rule_for(const struct encconf *c, const char *group, const char *resource)
{
	const struct encconf_rule *r;

	if (c == NULL || resource == NULL)
		return NULL;
	if (group == NULL)
		group = "";
	if ((r = find_rule(c, group, resource)) != NULL)
		return r;
	if ((r = find_rule(c, group, "*")) != NULL)
		return r;
	return find_rule(c, "*", "*");
}

const char *encconf_kind_name(enum encconf_kind kind)
{
	switch (kind) {
	case ENCCONF_IDENTITY: return "identity";
	case ENCCONF_AESCBC: return "aescbc";
	case ENCCONF_AESGCM: return "aesgcm";
	case ENCCONF_SECRETBOX: return "secretbox";
	case ENCCONF_KMS: return "kms";
	}
	return "unknown";
}
