/* kmsflags: the KMS flags shared by the commands; see kmsflags.h. */
#include "kmsflags.h"
#include "base/err.h"

int kmsflags_add(struct kmsflags *k, const char *arg)
{
	if (k->n == KMSFLAGS_MAX)
		return err_set(ERR_USAGE, "--kms-endpoint: at most %d", KMSFLAGS_MAX);
	k->endpoints[k->n++] = arg;
	return 0;
}

int kmsflags_open(struct kmsflags *k, struct kms_ring **ring, const char *keyring_path, int debug)
{
	int rc;

	*ring = NULL;
	if ((rc = kms_set_new(&k->set, debug)) < 0)
		return rc;
	for (size_t i = 0; i < k->n; i++)
		if ((rc = kms_set_override(k->set, k->endpoints[i])) < 0)
			return rc == ERR_USAGE ? err_wrap(rc, "--kms-endpoint") : rc;
	if ((rc = kmsring_new(ring, k->set)) < 0)
		return rc;
	if (keyring_path && (rc = kmsring_load_file(*ring, keyring_path)) < 0)
		return rc;
	return 0;
}

void kmsflags_release(struct kmsflags *k)
{
	kms_set_free(k->set);
	k->set = NULL;
}

json_t *kmsflags_report(const struct kmsflags *k)
{
	json_t *a = json_array();

	for (size_t i = 0; i < kms_set_n_plugins(k->set); i++) {
		struct kms_stats s;

		kms_set_stats(k->set, i, &s);
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:b}", "name", s.name, "endpoint",
				     s.endpoint, "api_version", s.api == 2 ? "v2" : "v1", "status_calls",
				     (json_int_t)s.status_calls, "decrypt_calls", (json_int_t)s.decrypt_calls,
				     "encrypt_calls", (json_int_t)s.encrypt_calls, "failed_calls",
				     (json_int_t)s.failed_calls, "cache_hits", (json_int_t)s.cache_hits,
				     "plugin_seconds", (double)s.plugin_us / 1e6, "down", s.down));
	}
	return a;
}

void kmsflags_print(const struct kmsflags *k, FILE *f)
{
	for (size_t i = 0; i < kms_set_n_plugins(k->set); i++) {
		struct kms_stats s;

		kms_set_stats(k->set, i, &s);
		fprintf(f,
			"KMS plugin %s (%s, %s): %llu Status, %llu Decrypt, %llu Encrypt calls (%llu failed), "
			"%llu cache hits, %.3f s in the plugin%s\n",
			s.name, s.api == 2 ? "v2" : "v1", s.endpoint, (unsigned long long)s.status_calls,
			(unsigned long long)s.decrypt_calls, (unsigned long long)s.encrypt_calls,
			(unsigned long long)s.failed_calls, (unsigned long long)s.cache_hits, (double)s.plugin_us / 1e6,
			s.down ? "; unreachable" : "");
	}
}
