/* empty: what audit, rewrite and status say about prefixes their scan found
 * empty; see cmd.h. A scan that finds no key under a prefix checked nothing
 * there: "all 0 values readable" is no clean bill of health when the cause
 * is a typo in --resources or --etcd-prefix. */
#include "cmd.h"
#include "base/resources.h"
#include "scan/scan.h"

#include <jansson.h>
#include <stdio.h>

static void say_one(const char *cmd, const struct scan_empty *e, size_t i)
{
	char name[2 * RES_NAME_MAX + 2], hint[2 * RES_NAME_MAX + 2];

	if (e->res[i].resource[0] == '\0') {
		fprintf(stderr, "etcdcrypt %s: no key at all under '%s' (check --etcd-prefix)\n", cmd, e->prefix[i]);
		return;
	}
	res_name(name, sizeof(name), &e->res[i]);
	if (res_suggest(hint, sizeof(hint), &e->res[i]) == 0)
		fprintf(stderr, "etcdcrypt %s: no key under '%s' (resource '%s'; did you mean '%s'?)\n", cmd,
			e->prefix[i], name, hint);
	else
		fprintf(stderr, "etcdcrypt %s: no key under '%s' (resource '%s')\n", cmd, e->prefix[i], name);
}

int cmd_empty_status(const char *cmd, const struct scan_empty *e, int allow_empty)
{
	if (e->n == 0 || allow_empty)
		return EXIT_OK;
	for (size_t i = 0; i < e->n && i < SCAN_EMPTY_MAX; i++)
		say_one(cmd, e, i);
	if (e->n > SCAN_EMPTY_MAX)
		fprintf(stderr, "etcdcrypt %s: ... and %zu more empty prefixes\n", cmd, e->n - SCAN_EMPTY_MAX);
	fprintf(stderr, "etcdcrypt %s: nothing was checked there; pass --allow-empty if empty is expected\n", cmd);
	return EXIT_FINDINGS;
}

struct json_t *cmd_empty_json(const struct scan_empty *e)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < e->n && i < SCAN_EMPTY_MAX; i++)
		json_array_append_new(a, json_string(e->prefix[i]));
	return a;
}
