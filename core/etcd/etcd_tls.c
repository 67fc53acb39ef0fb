/* etcd_tls: loads and checks the PEM files of the etcd connection.
 *
 * gRPC accepts garbage PEM without complaint and then fails every call with
 * "empty address list" (docs/grpc-notes.md §4), so the files are parsed here
 * with OpenSSL first: each must be readable, hold what it should, the key
 * must belong to the certificate, and the certificate must be within its
 * validity dates. Only the contents are kept (as
 * NUL-terminated strings for grpc_ssl_credentials_create). */
#include "etcd_tls.h"
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/err.h"

/* A certificate bundle or key larger than this is not a PEM file. */
#define ETCD_PEM_MAX (4L * 1024 * 1024)

static int read_file(char **out, const char *what, const char *path)
{
	FILE *f;
	char *buf = NULL;
	long len;
	int fd, rc;

	if ((rc = file_open_regular(&fd, path, what, ERR_TLS)) < 0)
		return rc;
	if ((f = fdopen(fd, "rb")) == NULL) {
		close(fd);
		return err_set(ERR_TLS, "%s '%s': cannot open: %s", what, path, strerror(errno));
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		rc = err_set(ERR_TLS, "%s '%s': cannot read: %s", what, path, strerror(errno));
		goto out;
	}
	if (len == 0 || len > ETCD_PEM_MAX) {
		rc = err_set(ERR_TLS, "%s '%s': %s; expected a PEM file", what, path,
			     len == 0 ? "file is empty" : "file is too large");
		goto out;
	}
	buf = malloc((size_t)len + 1);
	if (!buf) {
		rc = err_set(ERR_NOMEM, "%s '%s': out of memory", what, path);
		goto out;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		rc = err_set(ERR_TLS, "%s '%s': short read", what, path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return rc;
}

static X509 *first_cert(const char *pem, int *n_certs)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *first = NULL, *x;

	*n_certs = 0;
	if (!b)
		return NULL;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!first)
			first = x;
		else
			X509_free(x);
		(*n_certs)++;
	}
	BIO_free(b);
	ERR_clear_error(); /* the loop always ends with a "no start line" error */
	return first;
}

static void time_str(char *buf, size_t size, const ASN1_TIME *t)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	buf[0] = '\0';
	if (b && ASN1_TIME_print(b, t) == 1)
		n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* etcd refuses a client certificate outside its validity dates, and gRPC
 * then says only that the handshake failed: say which date is wrong. */
static int check_dates(const char *path, X509 *x)
{
	char when[64];

	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		time_str(when, sizeof(when), X509_get0_notAfter(x));
		return err_set(ERR_TLS, "cert '%s': expired on %s; etcd refuses it: pass a renewed client certificate",
			       path, when);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		time_str(when, sizeof(when), X509_get0_notBefore(x));
		return err_set(ERR_TLS, "cert '%s': not valid yet (not before %s); etcd refuses it: check this "
			       "machine's clock, or wait until then", path, when);
	}
	return 0;
}

static EVP_PKEY *parse_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	if (!b)
		return NULL;
	/* an empty passphrase callback: encrypted keys fail instead of prompting */
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	BIO_free(b);
	ERR_clear_error();
	return k;
}

static int check_ca(const char *path, const char *pem)
{
	int n = 0;
	X509 *x = first_cert(pem, &n);

	X509_free(x);
	if (n == 0)
		return err_set(ERR_TLS,
			       "cacert '%s': no PEM certificate found (expected \"-----BEGIN CERTIFICATE-----\"); "
			       "pass the CA certificate that signed etcd's server certificate", path);
	return 0;
}

static int check_pair(const char *cert_path, const char *cert_pem, const char *key_path, const char *key_pem)
{
	int n = 0, rc = 0;
	X509 *x = first_cert(cert_pem, &n);
	EVP_PKEY *k = NULL;

	if (!x) {
		rc = err_set(ERR_TLS,
			     "cert '%s': no PEM certificate found (expected \"-----BEGIN CERTIFICATE-----\"); "
			     "pass the client certificate etcd trusts", cert_path);
		goto out;
	}
	k = parse_key(key_pem);
	if (!k) {
		rc = err_set(ERR_TLS,
			     "key '%s': no unencrypted PEM private key found (expected \"-----BEGIN PRIVATE KEY-----\"); "
			     "pass the private key of cert '%s'", key_path, cert_path);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		rc = err_set(ERR_TLS, "key '%s' does not match cert '%s'; pass the private key that belongs to that certificate",
			     key_path, cert_path);
		goto out;
	}
	rc = check_dates(cert_path, x);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

void etcd_tls_release(struct etcd_tls *t)
{
	if (!t)
		return;
	free(t->ca_pem);
	free(t->cert_pem);
	if (t->key_pem) {
		OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
		free(t->key_pem);
	}
	memset(t, 0, sizeof(*t));
}

int etcd_tls_load(struct etcd_tls *out, const char *cacert, const char *cert, const char *key)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((cert == NULL) != (key == NULL))
		return err_set(ERR_TLS, "a client certificate needs both cert and key (got only %s '%s')",
			       cert ? "cert" : "key", cert ? cert : key);
	if (cacert) {
		rc = read_file(&out->ca_pem, "cacert", cacert);
		if (rc == 0)
			rc = check_ca(cacert, out->ca_pem);
		if (rc < 0)
			goto out;
	}
	if (cert) {
		rc = read_file(&out->cert_pem, "cert", cert);
		if (rc == 0)
			rc = read_file(&out->key_pem, "key", key);
		if (rc == 0)
			rc = check_pair(cert, out->cert_pem, key, out->key_pem);
	}
out:
	if (rc < 0)
		etcd_tls_release(out);
	return rc;
}
