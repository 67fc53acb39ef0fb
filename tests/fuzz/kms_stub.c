/* kms_stub: the KMS plugin client (core/kms) left out of fuzz_value, which
 * reads KMS values with a keyring only (its ring has no plugin set, so none
 * of these is ever called). Linking core/kms would bring in gRPC. */
#include "kms/kms.h"

int kms_set_status(struct kms_set *s, const struct kms_plugin_ref *p, struct kms_status *out, enum kms_fail *fail,
		   char msg[KMS_MSG_MAX])
{
	(void)s, (void)p, (void)out, (void)msg;
	*fail = KMS_UNAVAILABLE;
	return 0;
}

int kms_set_decrypt(struct kms_set *s, const struct kms_plugin_ref *p, const struct kms_wrapped *w,
		    struct buf *plain, enum kms_fail *fail, char msg[KMS_MSG_MAX])
{
	(void)s, (void)p, (void)w, (void)plain, (void)msg;
	*fail = KMS_UNAVAILABLE;
	return 0;
}

int kms_set_encrypt(struct kms_set *s, const struct kms_plugin_ref *p, int source_type, const uint8_t *plain,
		    size_t n, struct buf *ct, char key_id[KMS_KEY_ID_MAX + 1], struct buf *annotations,
		    enum kms_fail *fail, char msg[KMS_MSG_MAX])
{
	(void)s, (void)p, (void)source_type, (void)plain, (void)n, (void)ct, (void)key_id, (void)annotations, (void)msg;
	*fail = KMS_UNAVAILABLE;
	return 0;
}

int kms_set_prefetch(struct kms_set *s, const struct kms_plugin_ref *p, const struct kms_wrapped *w, size_t n)
{
	(void)s, (void)p, (void)w, (void)n;
	return 0;
}

void kms_set_new_run(struct kms_set *s)
{
	(void)s;
}
