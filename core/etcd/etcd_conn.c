/* etcd_conn: opening and closing a client: endpoints, gRPC init, channels,
 * TLS credentials and authentication.
 *
 * grpc_init is reference counted across clients (the last etcd_close shuts
 * gRPC down). gRPC's log lines are routed through our own function, installed
 * before the first grpc_init, which drops them unless a client asked for
 * debug output. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/log.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

#define ETCD_DIAL_MS_DEFAULT 2000
#define ETCD_CMD_MS_DEFAULT 5000 /* etcdctl's --command-timeout */

static pthread_mutex_t grpc_lock = PTHREAD_MUTEX_INITIALIZER;
static int grpc_refs;
static int grpc_debug; /* any open client asked for gRPC's logs */

static void grpc_log(gpr_log_func_args *a)
{
	/* core never prints, except gRPC's own lines when --debug asked for them */
	if (grpc_debug)
		fprintf(stderr, "grpc %s %s:%d: %s\n", gpr_log_severity_string(a->severity), a->file, a->line,
			a->message);
}

void etcd_grpc_ref(int debug)
{
	pthread_mutex_lock(&grpc_lock);
	if (debug)
		grpc_debug = 1;
	if (grpc_refs++ == 0) {
		gpr_set_log_function(grpc_log);
		grpc_init();
	}
	pthread_mutex_unlock(&grpc_lock);
}

void etcd_grpc_unref(void)
{
	pthread_mutex_lock(&grpc_lock);
	if (--grpc_refs == 0) {
		grpc_shutdown();
		grpc_debug = 0;
	}
	pthread_mutex_unlock(&grpc_lock);
}

static char *dupstr(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* host:port, [v6addr]:port; the port a number 1..65535 */
static int check_hostport(const char *s, const char *host, size_t n)
{
	const char *colon = memrchr(host, ':', n);
	size_t plen = colon ? n - (size_t)(colon + 1 - host) : 0;
	unsigned long port = 0;

	if (!colon || colon == host)
		return err_set(ERR_USAGE, "etcd endpoint '%s': expected host:port", s);
	for (size_t i = 0; i < plen; i++) {
		if (colon[1 + i] < '0' || colon[1 + i] > '9' || i >= 5) {
			port = 0;
			break;
		}
		port = port * 10 + (unsigned long)(colon[1 + i] - '0');
	}
	if (port < 1 || port > 65535)
		return err_set(ERR_USAGE, "etcd endpoint '%s': '%.*s' is not a port number (1..65535)", s, (int)plen,
			       colon + 1);
	if (host[0] == '[' ? colon[-1] != ']' : memchr(host, ':', (size_t)(colon - host)) != NULL)
		return err_set(ERR_USAGE, "etcd endpoint '%s': an IPv6 address goes in brackets: [addr]:port", s);
	return 0;
}

/* Splits off the scheme; *host..*n is host:port without trailing slashes. */
static int split_endpoint(const char *s, const char **host, size_t *n, int *tls)
{
	*host = s;
	*tls = 0;
	if (strncmp(s, "https://", 8) == 0) {
		*host = s + 8;
		*tls = 1;
	} else if (strncmp(s, "http://", 7) == 0) {
		*host = s + 7;
	} else if (strstr(s, "://")) {
		return err_set(ERR_USAGE, "etcd endpoint '%s': unknown scheme (use host:port, http:// or https://)", s);
	}
	*n = strlen(*host);
	while (*n > 0 && (*host)[*n - 1] == '/')
		(*n)--;
	return check_hostport(s, *host, *n);
}

int etcd_endpoint_check(const char *s)
{
	const char *host;
	size_t n;
	int tls;

	return split_endpoint(s, &host, &n, &tls);
}

static int parse_endpoint(struct etcd_endpoint *e, const char *s, int tls_files)
{
	const char *host;
	size_t n;
	int rc = split_endpoint(s, &host, &n, &e->tls);

	if (rc < 0)
		return rc;
	/* TLS files given: every endpoint uses TLS, as with etcdctl --cacert */
	e->tls |= tls_files;
	e->name = dupstr(s, strlen(s));
	e->target = dupstr(host, n);
	if (!e->name || !e->target)
		return err_set(ERR_NOMEM, "etcd endpoint '%s': out of memory", s);
	return 0;
}

int etcd_endpoint_from_url(const struct etcd_client *c, struct etcd_endpoint *e, const char *url)
{
	memset(e, 0, sizeof(*e));
	return parse_endpoint(e, url, c->pem.ca_pem != NULL || c->pem.cert_pem != NULL);
}

void etcd_endpoint_release(struct etcd_endpoint *e)
{
	free(e->name);
	free(e->target);
	memset(e, 0, sizeof(*e));
}

static grpc_channel_credentials *make_creds(struct etcd_client *c, const struct etcd_endpoint *e)
{
	grpc_ssl_pem_key_cert_pair pair;

	if (!e->tls)
		return grpc_insecure_credentials_create();
	pair.private_key = c->pem.key_pem;
	pair.cert_chain = c->pem.cert_pem;
	/* no cacert: gRPC's default roots */
	return grpc_ssl_credentials_create(c->pem.ca_pem, c->pem.cert_pem ? &pair : NULL, NULL, NULL);
}

int etcd_channel_new(struct etcd_client *c, size_t i, grpc_channel **out)
{
	struct etcd_endpoint *e = &c->eps[i];
	grpc_channel_credentials *creds;
	grpc_arg args[3];
	grpc_channel_args ca;

	*out = NULL;
	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_ENABLE_HTTP_PROXY; /* proxies never apply to etcd */
	args[0].value.integer = 0;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH; /* large pages and watch replays */
	args[1].value.integer = -1;
	args[2].type = GRPC_ARG_INTEGER;
	/* our own connection: a new channel after a failure really reconnects */
	args[2].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
	args[2].value.integer = 1;
	ca.num_args = 3;
	ca.args = args;
	creds = make_creds(c, e);
	if (!creds)
		return err_set(ERR_TLS, "etcd %s: cannot create channel credentials", e->name);
	*out = grpc_channel_create(e->target, creds, &ca);
	grpc_channel_credentials_release(creds);
	if (!*out)
		return err_set(ERR_INTERNAL, "etcd %s: cannot create a channel", e->name);
	return 0;
}

static int connect_channel(struct etcd_client *c)
{
	return etcd_channel_new(c, c->cur, &c->ch);
}

int etcd_switch_endpoint(struct etcd_client *c)
{
	if (c->ch)
		grpc_channel_destroy(c->ch);
	c->ch = NULL;
	c->cur = (c->cur + 1) % c->n_eps;
	return connect_channel(c);
}

int etcd_authenticate(struct etcd_client *c)
{
	Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	Etcdserverpb__AuthenticateResponse *resp = NULL;
	grpc_slice s;
	int rc;

	req.name = c->user;
	req.password = c->password;
	rc = etcd_pack(&req.base, &s);
	if (rc < 0)
		return rc;
	rc = etcd_unary_slice(c, ETCD_M_AUTHENTICATE, s, &etcdserverpb__authenticate_response__descriptor,
			      (ProtobufCMessage **)&resp, c->cmd_ms, ETCD_CALL_NOTOKEN | ETCD_CALL_SAFE);
	grpc_slice_unref(s);
	if (rc < 0)
		return err_wrap(rc, "authenticate as '%s'", c->user);
	if (c->have_token)
		grpc_slice_unref(c->token);
	c->token = grpc_slice_from_copied_string(resp->token);
	c->have_token = 1;
	c->token_gen++;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* A Status call with the dial timeout tells whether the endpoint answers,
 * and whether its member has a leader. Any answer from etcd counts, even an
 * auth error: only the transport failing means unreachable. Returns 1 when
 * it answered without a leader. */
static int probe(struct etcd_client *c)
{
	Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
	Etcdserverpb__StatusResponse *resp = NULL;
	grpc_slice s;
	int rc = etcd_pack(&req.base, &s), leaderless = 0;

	if (rc < 0)
		return rc;
	rc = etcd_unary_slice(c, ETCD_M_STATUS, s, &etcdserverpb__status_response__descriptor,
			      (ProtobufCMessage **)&resp, c->dial_ms,
			      ETCD_CALL_NOTOKEN | ETCD_CALL_NORETRY | ETCD_CALL_LOCAL | ETCD_CALL_SAFE);
	grpc_slice_unref(s);
	if (resp) {
		leaderless = resp->leader == 0;
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	if (rc == ERR_UNAVAILABLE || rc == ERR_INTERRUPTED)
		return rc;
	return leaderless;
}

/* The first endpoint that answers and has a leader; else the first that
 * answers (its calls then wait for an election, or say "no quorum"). A
 * member cut off from the others must not be chosen while a healthy one is
 * listed after it. */
static int connect_first(struct etcd_client *c)
{
	size_t i, fallback = c->n_eps, n_noleader;
	char list[1024];
	int rc = 0;

	etcd_retry_begin(c);
	for (i = 0; i < c->n_eps; i++) {
		rc = i > 0 ? etcd_switch_endpoint(c) : connect_channel(c);
		if (rc == 0)
			rc = probe(c);
		if (rc == 1 && fallback == c->n_eps)
			fallback = i;
		if (rc == 0 || (rc < 0 && rc != ERR_UNAVAILABLE))
			return rc;
	}
	if (fallback < c->n_eps) {
		if (c->ch)
			grpc_channel_destroy(c->ch);
		c->ch = NULL;
		c->cur = fallback;
		return connect_channel(c);
	}
	if (c->n_eps > 1 && rc == ERR_UNAVAILABLE && etcd_retry_list(c, list, sizeof(list), &n_noleader) > 0)
		return err_set(rc, "no etcd endpoint reachable within the dial timeout of %.1f s (%s)",
			       (double)c->dial_ms / 1000, list);
	return rc;
}

static int init_client(struct etcd_client *c, const struct etcd_opts *o)
{
	size_t i;
	int rc, tls_files = o->cacert || o->cert || o->key;

	c->dial_ms = o->dial_timeout_ms > 0 ? o->dial_timeout_ms : ETCD_DIAL_MS_DEFAULT;
	c->cmd_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms : ETCD_CMD_MS_DEFAULT;
	c->stop = o->stop;
	c->eps = calloc(o->n_endpoints, sizeof(*c->eps));
	if (!c->eps)
		return err_set(ERR_NOMEM, "etcd: out of memory");
	c->n_eps = o->n_endpoints;
	for (i = 0; i < o->n_endpoints; i++)
		if ((rc = parse_endpoint(&c->eps[i], o->endpoints[i] ? o->endpoints[i] : "", tls_files)) < 0)
			return rc;
	if ((rc = etcd_tls_load(&c->pem, o->cacert, o->cert, o->key)) < 0)
		return rc;
	if (o->user) {
		c->user = dupstr(o->user, strlen(o->user));
		c->password = dupstr(o->password ? o->password : "", o->password ? strlen(o->password) : 0);
		if (!c->user || !c->password)
			return err_set(ERR_NOMEM, "etcd: out of memory");
	}
	return 0;
}

int etcd_open(struct etcd_client **out, const struct etcd_opts *o)
{
	struct etcd_client *c;
	int rc;

	*out = NULL;
	if (!o || !o->endpoints || o->n_endpoints == 0)
		return err_set(ERR_USAGE, "etcd: no endpoint given");
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(ERR_NOMEM, "etcd: out of memory");
	rc = init_client(c, o);
	if (rc < 0)
		goto out;
	etcd_grpc_ref(o->debug);
	c->grpc_ref = 1;
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	rc = connect_first(c);
	if (rc == 0 && c->user)
		rc = etcd_authenticate(c);
out:
	if (rc < 0) {
		etcd_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void drain_pluck(grpc_completion_queue *cq)
{
	grpc_event ev;

	grpc_completion_queue_shutdown(cq);
	do
		ev = grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(cq);
}

void etcd_close(struct etcd_client *c)
{
	size_t i;

	if (!c)
		return;
	if (c->cq)
		drain_pluck(c->cq);
	if (c->ch)
		grpc_channel_destroy(c->ch);
	if (c->have_token)
		grpc_slice_unref(c->token);
	if (c->grpc_ref)
		etcd_grpc_unref();
	for (i = 0; i < c->n_eps; i++) {
		free(c->eps[i].name);
		free(c->eps[i].target);
	}
	free(c->eps);
	etcd_tls_release(&c->pem);
	free(c->user);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c);
}

const char *etcd_endpoint(const struct etcd_client *c)
{
	return c->eps[c->cur].name;
}
