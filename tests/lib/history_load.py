#!/usr/bin/env python3
"""history_load.py: writes a long etcd history quickly, and records it.

usage: history_load.py ENDPOINT OUT.json KEYS ROUNDS COMPACT_AFTER_ROUND KEY_B64

Through etcd's own JSON gateway (/v3/kv/txn over one keep-alive HTTP
connection; not etcdcrypt): ROUNDS rounds of overwrites of KEYS Secrets,
128 puts per Txn. Each put is, by (key + round) % 3:
  0  plaintext (a JSON Secret)
  1  aescbc under the key named "cur" (KEY_B64, encrypted here with
     python3-cryptography, as the apiserver does: IV + CBC + PKCS#7)
  2  aescbc under "old", a key the audit's config no longer has (retired)
After round COMPACT_AFTER_ROUND, plus half a round, the middle revision is
remembered; every 50th key is deleted at the end; then etcd is compacted at
the middle revision (physical). OUT.json gets, computed from what this
script wrote and etcd's compaction rule (each key keeps its newest entry at
or before the compaction revision unless that is a tombstone):
  compact_revision, last_revision, puts/deletes retained, plaintext
  retained (total, historical = not the key's live value, keys with
  historical plaintext), retired retained (total, historical).
"""
import base64, http.client, json, os, sys

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ep, out_path = sys.argv[1], sys.argv[2]
nkeys, rounds, compact_round = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
key = base64.b64decode(sys.argv[6])
old_key = os.urandom(32)
host, port = ep.split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=60)


def call(path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"history_load: {path}: HTTP {r.status}: {data[:200]!r}")
    return json.loads(data)


def b64(b):
    return base64.b64encode(b).decode()


def cbc(name, k, plain):
    iv = os.urandom(16)
    p = padding.PKCS7(128).padder()
    e = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
    return b"k8s:enc:aescbc:v1:" + name + b":" + iv + e.update(p.update(plain) + p.finalize()) + e.finalize()


def kname(i):
    return f"/registry/secrets/ns-{i % 40:02d}/s-{i:06d}".encode()


ops = []      # (key index, revision, kind) with kind p/c/r/d
pending = []  # (key index, kind, etcd op)


def flush():
    global pending
    if not pending:
        return
    resp = call("/v3/kv/txn", {"success": [op for _, _, op in pending]})
    rev = int(resp["header"]["revision"])
    ops.extend((i, rev, kind) for i, kind, _ in pending)
    pending = []


def put(i, rnd):
    kind = "pcr"[(i + rnd) % 3]
    plain = json.dumps({"kind": "Secret", "apiVersion": "v1",
                        "metadata": {"name": f"s-{i:06d}", "namespace": f"ns-{i % 40:02d}"},
                        "data": {"round": b64(str(rnd).encode())}}).encode()
    v = plain if kind == "p" else cbc(b"cur", key, plain) if kind == "c" else cbc(b"old", old_key, plain)
    pending.append((i, kind, {"request_put": {"key": b64(kname(i)), "value": b64(v)}}))
    if len(pending) == 128:
        flush()


compact_rev = 0
for rnd in range(rounds):
    for i in range(nkeys):
        put(i, rnd)
        if rnd == compact_round + 1 and i == nkeys // 2:
            flush()
            compact_rev = ops[-1][1]
    flush()
for i in range(0, nkeys, 50):
    pending.append((i, "d", {"request_delete_range": {"key": b64(kname(i))}}))
    if len(pending) == 128:
        flush()
flush()
call("/v3/kv/compaction", {"revision": compact_rev, "physical": True})

# what etcd retains: entries after the compaction, plus each key's newest
# entry at or before it unless that is a tombstone
newest_le = {}
for i, rev, kind in ops:
    if rev <= compact_rev:
        newest_le[i] = (rev, kind)
kept = [(i, rev, kind) for i, (rev, kind) in newest_le.items() if kind != "d"]
retained = kept + [o for o in ops if o[1] > compact_rev]
live = {}
for i, rev, kind in ops:
    live[i] = kind
res = {"compact_revision": compact_rev, "last_revision": ops[-1][1], "total_puts_written": sum(1 for o in ops if o[2] != "d"),
       "puts": sum(1 for o in retained if o[2] != "d"), "deletes": sum(1 for o in retained if o[2] == "d"),
       "kept_at_compaction": len(kept),
       "plaintext_kept_at_compaction": sum(1 for o in kept if o[2] == "p")}
for kind, name in (("p", "plaintext"), ("r", "retired")):
    per_key = {}
    for o in retained:
        if o[2] == kind:
            per_key[o[0]] = per_key.get(o[0], 0) + 1
    # historical: not the key's live value (its newest entry, if a put of this kind)
    hist = {i: n - (1 if live[i] == kind else 0) for i, n in per_key.items()}
    res[name + "_total"] = sum(per_key.values())
    res[name + "_historical"] = sum(hist.values())
    res[name + "_keys_historical"] = sum(1 for n in hist.values() if n > 0)
json.dump(res, open(out_path, "w"))
print(f"history_load: {res['total_puts_written']} puts, compacted at {compact_rev}, last revision {res['last_revision']}")
