/* fuzz_value: any bytes as a stored etcd value, read with every provider at
 * once (the apiserver's read rules, KMS through the reference keyring): the
 * envelope, the ciphers' checks, the AAD diagnosis, KMS v1/v2 parsing and
 * the stored-object check must answer, never crash. Each successful read is
 * also written back and read again (the rewrite path). */
#include "base/buf.h"
#include "conf/encconf.h"
#include "xform/kmsring.h"
#include "xform/transform.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct xf *x;
static struct encconf *conf;  /* kept reachable: x borrows them for the run */
static struct kms_ring *ring;

static void setup(void)
{
	const char *dir = getenv("ETCDCRYPT_FIXTURES");
	char cfg[1024], kr[1024];

	snprintf(cfg, sizeof(cfg), "%s/k8s-vectors/configs/all-providers.yaml", dir ? dir : "fixtures");
	snprintf(kr, sizeof(kr), "%s/k8s-vectors/fake-kms.json", dir ? dir : "fixtures");
	if (encconf_load(&conf, cfg) < 0 || kmsring_load(&ring, kr) < 0 || xf_new(&x, conf, "", "secrets", ring) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "/registry/secrets/default/fuzz";
	struct xf_result res, back;
	struct buf plain, enc, again;

	if (x == NULL)
		setup();
	buf_init(&plain, 0);
	buf_init(&enc, 0);
	buf_init(&again, 0);
	if (xf_read(x, &res, &plain, (const uint8_t *)key, strlen(key), data, size) < 0)
		abort();
	if (res.ok) {
		if (xf_write(x, &enc, (const uint8_t *)key, strlen(key), plain.data, plain.len) < 0 ||
		    xf_read(x, &back, &again, (const uint8_t *)key, strlen(key), enc.data, enc.len) < 0 || !back.ok ||
		    again.len != plain.len || memcmp(again.data, plain.data, plain.len) != 0)
			abort(); /* a value we can read must survive our own rewrite */
	}
	buf_release(&plain);
	buf_release(&enc);
	buf_release(&again);
	return 0;
}
