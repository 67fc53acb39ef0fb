/* rwrec: the record of the running or last rewrite a controller did,
 * published at <prefix>rewrite (node/store.h) so that `status` and
 * `restart` on any node can follow it:
 *
 *   {"schema":"etcdcrypt.rewrite/v1","node":"ncn-m002","state":"running",
 *    "write":{"provider":"aescbc","name":"aescbc-<sha>"},"forced":false,
 *    "request":"<id of the restart request served, or empty>",
 *    "revision_start":12,"revision_end":0,"total":500,"scanned":200,
 *    "rewritten":200,"current":0,"unreadable":0,"conflicts":0,
 *    "started":"2026-...Z","started_unix":..,"updated":"...","updated_unix":..,
 *    "error":""}
 *
 * state: running (updated about once a second), done (every readable value
 * is under the write key), failed (error says why), interrupted (its
 * controller was stopped by SIGINT/SIGTERM and gave up its lock: the next
 * holder goes on; a restart request it served is still pending). A reader
 * older than "interrupted" reads it as running. A running record whose
 * writer died stays "running" until the next holder of the lock overwrites
 * it; `status` shows its age. */
#ifndef ETCDCRYPT_NODE_RWREC_H
#define ETCDCRYPT_NODE_RWREC_H

#include <stdint.h>

#include "etcd/etcd.h"
#include "record.h"

enum node_rw_state { NODE_RW_RUNNING = 0, NODE_RW_DONE, NODE_RW_FAILED, NODE_RW_INTERRUPTED };

struct node_rwrec {
	char node[NODE_NAME_MAX + 1];
	enum node_rw_state state;
	char write_provider[16];
	char write_name[128];
	int forced;
	char request[64];
	int64_t revision_start, revision_end;
	uint64_t total, scanned, rewritten, current, unreadable, conflicts;
	int64_t started, updated; /* unix seconds */
	char error[256];
	int64_t mod_revision; /* when read */
};

const char *node_rw_state_name(enum node_rw_state s);

int node_rwrec_put(struct etcd_client *cl, const char *prefix, const struct node_rwrec *r);
/* The JSON put publishes (*out malloc'd). error is carried as its printable
 * ASCII ('?' for any other byte): a message quoting an etcd key of any
 * bytes must not keep the record from being published. */
int node_rwrec_encode(char **out, const struct node_rwrec *r);
/* ERR_NOTFOUND when no rewrite was ever published. */
int node_rwrec_get(struct etcd_client *cl, const char *prefix, struct node_rwrec *out);

/* A restart request (`etcdcrypt restart`) at <prefix>request:
 *
 *   {"schema":"etcdcrypt.request/v1","id":"<unique>","by":"<node>",
 *    "time":"...Z","served_by":"<node>","served":"...Z"}
 *
 * served_by/served are added by the controller that finished the forced
 * rewrite for it (node_request_served): the request key itself says it was
 * served, so a controller started later never serves it again, whatever
 * rewrites replaced <prefix>rewrite since. served_by empty: pending (or
 * written by an etcdcrypt older than the mark). */
struct node_request {
	char id[64];
	char by[NODE_NAME_MAX + 1];
	char time[32];
	char served_by[NODE_NAME_MAX + 1];
	int64_t mod_revision; /* when read */
};

/* id is unique per request. */
int node_request_put(struct etcd_client *cl, const char *prefix, const char *id, const char *by);
/* ERR_NOTFOUND when there is none. */
int node_request_get(struct etcd_client *cl, const char *prefix, struct node_request *out);
/* Marks q (as read) served by node, in a Txn that compares its
 * mod_revision: two controllers cannot both mark it, and a newer request
 * put since q was read stays pending. 0 marked; 1 the key changed since
 * q was read (nothing written); < 0 error. */
int node_request_served(struct etcd_client *cl, const char *prefix, const struct node_request *q, const char *node);

#endif
