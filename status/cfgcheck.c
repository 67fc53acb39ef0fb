/* cfgcheck: the scan behind `config check`, `enable` and `disable`; see
 * cfgcheck.h. */
#include "cfgcheck.h"
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

int cfgcheck_targets(struct res_id **out, size_t *n, int *all, const struct cfgcheck_opts *o)
{
	const struct encconf **confs = calloc(1 + o->n_others, sizeof(*confs));
	int rc;

	*out = NULL;
	*n = 0;
	*all = 0;
	if (confs == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	confs[0] = o->proposed;
	for (size_t i = 0; i < o->n_others; i++)
		confs[1 + i] = o->others[i];
	rc = scan_resources_union(out, n, all, confs, 1 + o->n_others);
	free(confs);
	return rc;
}

/* scan_run has one argument for both callbacks */
struct run {
	struct cfgcheck_result *r;
	const struct cfgcheck_opts *o;
};

static void on_progress(void *arg, uint64_t values, int64_t revision)
{
	struct run *u = arg;

	if (u->o->progress)
		u->o->progress(u->o->arg, values, revision);
}

static int on_value(void *arg, const struct scan_item *it)
{
	struct cfgcheck_result *r = ((struct run *)arg)->r;

	r->total++;
	if (it->res->ok) {
		r->current += (uint64_t)xf_is_current(it->res);
		return 0;
	}
	return status_bad_add(&r->bad, it->kv, it->res);
}

int cfgcheck_run(struct cfgcheck_result *out, struct etcd_client *cl, const struct cfgcheck_opts *o)
{
	struct res_id *res = NULL;
	size_t n = 0;
	int all = 0, rc;
	struct scan *s = NULL;
	struct run u = { .r = out, .o = o };
	struct scan_opts so = { .conf = o->proposed, .ring = o->ring, .etcd_prefix = o->etcd_prefix,
				.page_size = o->page_size };

	memset(out, 0, sizeof(*out));
	rc = cfgcheck_targets(&res, &n, &all, o);
	so.resources = res;
	so.n_resources = n;
	so.all = all;
	for (int attempt = 0; rc == 0; attempt++) {
		if ((rc = scan_new(&s, cl, &so)) < 0)
			break;
		rc = scan_run(s, on_value, on_progress, &u);
		out->revision = scan_revision(s);
		scan_empty(rc == 0 ? s : NULL, &out->empty);
		scan_free(s);
		if (rc != ERR_COMPACTED || attempt > 0)
			break;
		/* the revision was compacted under the scan: once more at a new one */
		status_bad_release(&out->bad);
		out->total = out->current = 0;
		rc = 0;
	}
	free(res);
	return rc;
}

void cfgcheck_release(struct cfgcheck_result *r)
{
	status_bad_release(&r->bad);
}
