/* resources: Kubernetes resource names <-> etcd key prefixes.
 *
 * kube-apiserver stores built-in resources under
 * <etcd-prefix>/<resourcePrefix>/[<namespace>/]<name>, where resourcePrefix
 * is the plural resource name without its group, except for a few compiled-in
 * special cases (docs/formats.md §6):
 *
 *   replicationcontrollers -> controllers     endpoints -> services/endpoints
 *   nodes -> minions                          services  -> services/specs
 *   ingresses (networking.k8s.io, extensions) -> ingress
 *   podsecuritypolicies (policy)              -> podsecuritypolicy
 *
 * Resources of other groups (CRDs, custom resources, APIServices) live under
 * <etcd-prefix>/<group>/<resource>/. Every prefix ends with '/', so
 * /registry/secrets/ never matches /registry/secrets-store.csi.x-k8s.io/. */
#ifndef ETCDCRYPT_RESOURCES_H
#define ETCDCRYPT_RESOURCES_H

#include <stddef.h>
#include <stdint.h>

#define RES_NAME_MAX 128
#define RES_DEFAULT_ETCD_PREFIX "/registry"

struct res_id {
	char group[RES_NAME_MAX];    /* "" for the core group */
	char resource[RES_NAME_MAX]; /* lowercase plural */
};

/* "secrets" -> ("", "secrets"); "deployments.apps" -> ("apps", "deployments").
 * Split at the first dot, as the apiserver does. ERR_USAGE on bad input. */
int res_parse(struct res_id *out, const char *spec);

/* "<etcd_prefix>/<resourcePrefix>/" into out (cap bytes). etcd_prefix NULL
 * means /registry; a trailing '/' on it is ignored. */
int res_prefix(char *out, size_t cap, const char *etcd_prefix, const struct res_id *r);

/* "<etcd_prefix>/" into out (cap bytes): the one prefix of every key the
 * apiserver stores (--all). etcd_prefix NULL means /registry; trailing '/'
 * are ignored, so "/registry/" and "/registry" both give "/registry/". */
int res_all_prefix(char *out, size_t cap, const char *etcd_prefix);

/* The resource an etcd key belongs to (for grouping an --all scan). Returns
 * 0 and fills *out, or ERR_NOTFOUND (no message set: hot path) when the
 * key is not under etcd_prefix. Keys of
 * unknown built-in prefixes map to ("", first segment). */
int res_from_key(struct res_id *out, const char *etcd_prefix, const uint8_t *key, size_t n);

/* For a resource that is not a well-known built-in one: the closest
 * well-known name ("secrets" for "secret", "configmaps" for "configmap",
 * "deployments.apps" for "deployment.apps"), at most 2 edits away, written
 * into out; 0 when there is one, ERR_NOTFOUND (no message) when r is
 * well-known itself or nothing is close (a CRD, say). */
int res_suggest(char *out, size_t cap, const struct res_id *r);

/* "secrets" or "deployments.apps" into out. */
void res_name(char *out, size_t cap, const struct res_id *r);

#endif
