/* etcd_lease: renewing and revoking leases (the controller's lock).
 *
 * LeaseKeepAlive is a bidirectional stream in etcd's API, but etcd's server
 * loop answers each request before it reads the next one and ends the
 * stream with OK when the client half-closes. One renewal is therefore one
 * unary-shaped call on the streaming method: send one request, half-close,
 * read one response and the status. That keeps failover, re-authentication
 * and deadlines in etcd_unary, at the price of one stream per renewal
 * (every TTL/3 seconds: negligible). */
#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *out_ttl)
{
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	Etcdserverpb__LeaseKeepAliveResponse *r = NULL;
	int rc;

	*out_ttl = 0;
	req.id = id;
	/* a renewal sent twice renews twice: safe to repeat on another member */
	rc = etcd_unary(c, ETCD_M_LEASE_KEEPALIVE, &req.base, &etcdserverpb__lease_keep_alive_response__descriptor,
			(ProtobufCMessage **)&r, c->cmd_ms, ETCD_CALL_SAFE);
	if (rc < 0)
		return err_wrap(rc, "lease %llx keep-alive", (unsigned long long)id);
	*out_ttl = r->ttl > 0 ? r->ttl : 0;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id)
{
	Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	Etcdserverpb__LeaseRevokeResponse *r = NULL;
	int rc;

	req.id = id;
	/* a repeat of an applied revoke finds no lease, which counts as done */
	rc = etcd_unary(c, ETCD_M_LEASE_REVOKE, &req.base, &etcdserverpb__lease_revoke_response__descriptor,
			(ProtobufCMessage **)&r, c->cmd_ms, ETCD_CALL_SAFE);
	if (rc < 0) {
		if (rc == ERR_LEASE_NOTFOUND)
			return 0; /* expired meanwhile: nothing left to revoke */
		return err_wrap(rc, "lease %llx revoke", (unsigned long long)id);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}
