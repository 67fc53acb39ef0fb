/* rw_quota: would the rewrite push etcd's database over its quota?
 *
 * Every rewrite adds a revision, so until compaction and defragmentation
 * the database grows by the rewritten values' page share (rw_growth_of).
 * etcd 3.4 does not report its --quota-backend-bytes over the API, so the
 * quota is the caller's (--quota-bytes) or etcd's default of 2 GiB, and the
 * messages say which. With compaction every N puts, space freed by one
 * compaction is reused by the next interval's writes: what must fit is the
 * growth of two intervals (one written while the previous one's old
 * revisions are still being freed, plus the Txns in flight), not the whole
 * run. */
#include "base/err.h"
#include "rw_int.h"

#include <stdio.h>

static const char *assumed(const struct rw_quota *q)
{
	return q->quota_given ? "" : " (2 GiB, etcd's default, assumed: etcd 3.4 does not report its "
				     "--quota-backend-bytes; pass --quota-bytes with the value etcd runs with)";
}

/* growth per rewritten value, rounded up */
static int64_t per_value(int64_t growth, uint64_t values)
{
	return values ? (growth + (int64_t)values - 1) / (int64_t)values : growth;
}

/* Puts written while old revisions wait to be freed, compacting every n
 * puts: compaction runs after a whole Txn, so an interval is at least one
 * batch; the interval written while the last compaction frees its pages;
 * and the Txns in flight meanwhile. */
static int64_t puts_between(const struct rw_opts *o, uint64_t n)
{
	int64_t batch = o->batch_ops > 0 ? o->batch_ops : 1, every = (int64_t)n < batch ? batch : (int64_t)n;

	return 2 * every + (int64_t)o->inflight * batch;
}

/* The largest --compact-every that fits in room, or 0. */
static uint64_t fitting_interval(const struct rw_opts *o, int64_t per, int64_t room)
{
	int64_t puts = room / (per > 0 ? per : 1) - (int64_t)o->inflight * o->batch_ops;

	return puts / 2 >= o->batch_ops ? (uint64_t)(puts / 2) : 0;
}

int rw_quota_check(const struct rw_opts *o, const struct rw_quota *q)
{
	int64_t room = q->quota - q->db_size, growth = q->growth, peak, per;
	uint64_t values = q->values, fit;

	if (room <= 0)
		return err_set(ERR_REFUSED, "etcd's database is already %lld bytes, %s the quota of %lld%s; %s",
			       (long long)q->db_size, room == 0 ? "at" : "over", (long long)q->quota, assumed(q),
			       q->quota_given ? "etcd raises NOSPACE there: compact and defragment each member first"
					      : "or compact and defragment each member first");
	if (growth < 0) { /* not estimated: the bound, over every key */
		growth = rw_growth_bound(q->db_size_in_use);
		values = q->keys;
	}
	per = per_value(growth, values);
	peak = growth;
	if (o->compact_every && puts_between(o, o->compact_every) * per < peak)
		peak = puts_between(o, o->compact_every) * per;
	if (peak <= room)
		return 0;
	if (q->growth < 0)
		return 1;
	fit = fitting_interval(o, per, room);
	if (o->compact_every)
		return err_set(ERR_REFUSED, "compacting every %llu puts, the database would still grow by about %lld "
			       "bytes between compactions, from %lld past the quota of %lld%s: %s%.0llu",
			       (unsigned long long)o->compact_every, (long long)peak, (long long)q->db_size,
			       (long long)q->quota, assumed(q),
			       fit ? "use --compact-every " : "compact and defragment each member first",
			       (unsigned long long)fit);
	return err_set(ERR_REFUSED, "rewriting %llu values would grow etcd's database from %lld to about %lld bytes, "
		       "over the quota of %lld%s: compact and defragment each member first%s%.0llu",
		       (unsigned long long)values, (long long)q->db_size, (long long)(q->db_size + growth),
		       (long long)q->quota, assumed(q), fit ? ", or use --compact-every " : "", (unsigned long long)fit);
}
