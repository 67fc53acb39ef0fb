/* etcdflags: shared etcd connection flags; see etcdflags.h. */
#include "etcdflags.h"
#include "base/err.h"
#include "cmd.h"
#include "base/godur.h"
#include "base/num.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int set_endpoints(struct etcdflags *f, const char *list)
{
	char *save = NULL, *tok;

	free(f->endpoints_buf);
	f->endpoints_buf = strdup(list);
	f->n_endpoints = 0;
	if (f->endpoints_buf == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	for (tok = strtok_r(f->endpoints_buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (f->n_endpoints == ETCDFLAGS_MAX_ENDPOINTS)
			return err_set(ERR_USAGE, "--endpoints: at most %d endpoints", ETCDFLAGS_MAX_ENDPOINTS);
		if (etcd_endpoint_check(tok) < 0)
			return err_wrap(ERR_USAGE, "--endpoints");
		f->endpoints[f->n_endpoints++] = tok;
	}
	if (f->n_endpoints == 0)
		return err_set(ERR_USAGE, "--endpoints: no endpoint in '%s'", list);
	return 0;
}

/* "name:password" splits; a lone name keeps any password given separately */
static int set_user(struct etcdflags *f, const char *arg)
{
	const char *colon = strchr(arg, ':');

	free(f->user);
	f->user = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
	if (f->user == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if (colon) {
		free(f->password);
		if ((f->password = strdup(colon + 1)) == NULL)
			return err_set(ERR_NOMEM, "out of memory");
	}
	return 0;
}

int etcdflags_duration_ms(long *out, const char *s)
{
	double ms, secs;
	int64_t ns;

	/* a bare number is seconds (etcdctl wants a unit; scripts pass "5") */
	if (num_parse_double(&secs, s, 0, 1e9) == 0)
		ms = secs * 1000;
	else if (godur_parse_ns(&ns, s) == 0)
		ms = (double)ns / 1e6;
	else
		return ERR_USAGE;
	if (!(ms >= 1 && ms < 1e12))
		return ERR_USAGE;
	*out = (long)ms;
	return 0;
}

static int set_duration(long *dst, const char *flag, const char *arg)
{
	long ms = 0;

	if (etcdflags_duration_ms(&ms, arg) < 0)
		return err_set(ERR_USAGE, "--%s: '%s' is not a duration (e.g. 500ms, 5s, 1m)", flag, arg);
	*dst = ms;
	return 0;
}

int etcdflags_init(struct etcdflags *f)
{
	const char *v;
	int rc;

	memset(f, 0, sizeof(*f));
	f->dial_ms = 2000;
	f->command_ms = 5000; /* etcdctl's default */
	v = getenv("ETCDCTL_ENDPOINTS");
	if ((rc = set_endpoints(f, v && *v ? v : "127.0.0.1:2379")) < 0)
		return err_wrap(rc, "ETCDCTL_ENDPOINTS");
	if ((v = getenv("ETCDCTL_CACERT")) && *v)
		f->cacert = v;
	if ((v = getenv("ETCDCTL_CERT")) && *v)
		f->cert = v;
	if ((v = getenv("ETCDCTL_KEY")) && *v)
		f->key = v;
	if ((v = getenv("ETCDCTL_PASSWORD")) && *v && (f->password = strdup(v)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if ((v = getenv("ETCDCTL_USER")) && *v && (rc = set_user(f, v)) < 0)
		return rc;
	if ((v = getenv("ETCDCTL_DIAL_TIMEOUT")) && *v && (rc = set_duration(&f->dial_ms, "dial-timeout", v)) < 0)
		return err_wrap(rc, "ETCDCTL_DIAL_TIMEOUT");
	if ((v = getenv("ETCDCTL_COMMAND_TIMEOUT")) && *v &&
	    (rc = set_duration(&f->command_ms, "command-timeout", v)) < 0)
		return err_wrap(rc, "ETCDCTL_COMMAND_TIMEOUT");
	if ((v = getenv("ETCDCTL_DEBUG")) && strcmp(v, "true") == 0)
		f->debug = 1;
	return 0;
}

int etcdflags_handle(struct etcdflags *f, int opt, const char *arg)
{
	int rc = 0;

	switch (opt) {
	case OPT_ENDPOINTS: rc = set_endpoints(f, arg); break;
	case OPT_CACERT: f->cacert = arg; break;
	case OPT_CERT: f->cert = arg; break;
	case OPT_KEY: f->key = arg; break;
	case OPT_USER: rc = set_user(f, arg); break;
	case OPT_PASSWORD:
		free(f->password);
		if ((f->password = strdup(arg)) == NULL)
			rc = err_set(ERR_NOMEM, "out of memory");
		break;
	case OPT_DIAL_TIMEOUT: rc = set_duration(&f->dial_ms, "dial-timeout", arg); break;
	case OPT_COMMAND_TIMEOUT: rc = set_duration(&f->command_ms, "command-timeout", arg); break;
	case OPT_DEBUG: f->debug = 1; break;
	default: return 0;
	}
	return rc < 0 ? rc : 1;
}

void etcdflags_opts(const struct etcdflags *f, struct etcd_opts *out)
{
	memset(out, 0, sizeof(*out));
	out->endpoints = f->endpoints;
	out->n_endpoints = f->n_endpoints;
	out->cacert = f->cacert;
	out->cert = f->cert;
	out->key = f->key;
	out->user = f->user;
	out->password = f->password ? f->password : "";
	out->dial_timeout_ms = f->dial_ms;
	out->command_timeout_ms = f->command_ms;
	out->debug = f->debug;
	/* every command that opens etcd takes these options: from here on it
	 * stops through the client's stop checks */
	out->stop = &cmd_stop;
	cmd_stop_cooperate();
}

void etcdflags_release(struct etcdflags *f)
{
	free(f->endpoints_buf);
	free(f->user);
	if (f->password) {
		explicit_bzero(f->password, strlen(f->password));
		free(f->password);
	}
	memset(f, 0, sizeof(*f));
}
