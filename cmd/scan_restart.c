/* scan_restart: the one restart-after-compaction loop of the read-only
 * commands (audit, status, config check); see cmd.h. */
#include "cmd.h"
#include "base/err.h"
#include "scan/scan.h"

#include <stdio.h>

int cmd_scan_restarting(struct scan **keep, int64_t *revision, int *restarted, struct etcd_client *cl,
			const struct scan_opts *so, const struct cmd_scan_cb *cb)
{
	struct scan *s = NULL;
	int rc;

	for (int attempt = 0;; attempt++) {
		if ((rc = scan_new(&s, cl, so)) < 0)
			break;
		rc = scan_run(s, cb->value, cb->progress, cb->arg);
		if (revision != NULL)
			*revision = scan_revision(s);
		if (rc != ERR_COMPACTED || attempt > 0 || cb->reset == NULL)
			break;
		fprintf(stderr, "etcdcrypt: revision %lld was compacted during the scan; starting again at the current "
				"revision\n", (long long)scan_revision(s));
		if (restarted != NULL)
			*restarted = 1;
		scan_free(s);
		s = NULL;
		if ((rc = cb->reset(cb->arg)) < 0)
			break;
	}
	if (keep != NULL)
		*keep = s;
	else
		scan_free(s);
	return rc;
}
