/* etcd_tls: checks the PEM files of an etcd connection with OpenSSL before
 * gRPC sees them (private to the etcd client; see etcd_tls.c). */
#ifndef ETCDCRYPT_ETCD_TLS_H
#define ETCDCRYPT_ETCD_TLS_H

struct etcd_tls {
	char *ca_pem; /* NUL-terminated contents, or NULL */
	char *cert_pem;
	char *key_pem; /* wiped on release */
};

/* Reads and validates the files (any may be NULL; cert and key go together).
 * ERR_TLS with a message naming the file, what is wrong and what to pass. */
int etcd_tls_load(struct etcd_tls *out, const char *cacert, const char *cert, const char *key);
void etcd_tls_release(struct etcd_tls *t); /* NULL-safe */

#endif
