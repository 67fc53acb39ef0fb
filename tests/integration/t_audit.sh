#!/usr/bin/env bash
# t_audit: `etcdcrypt audit` on a real etcd restored from the reference
# snapshot must reproduce snapshot-manifest.json (made by the real
# Kubernetes code), stay consistent under concurrent writes, and classify
# the reference vectors.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

ETCD_RESTORE=$FX/snapshot.db etcd_start asnap plain || exit 1
S=$ETCD_ASNAP_ENDPOINT
CFG=$FX/configs/multi-key.yaml

t_exit 1 "snapshot cluster: unreadable values make exit 1" "$BIN" audit --endpoints "$S" --config "$CFG" --history -o json
cp "$T_OUT" "$ETCD_TMP/audit.json"
python3 - "$ETCD_TMP/audit.json" "$FX/snapshot-manifest.json" "$FX/snapshot-contents.jsonl" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
contents = [json.loads(l) for l in open(sys.argv[3])]
s = m["secrets"]
fails = []
def check(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
    if not cond: fails.append(what)
check(a["revision"] == m["revision"], f"revision {a['revision']} == {m['revision']}")
res = {r["resource"]: r for r in a["resources"]}
sec = res.get("secrets")
check(sec is not None and sec["prefix"] == s["prefix"], "secrets scanned under " + s["prefix"])
check(sec["total"] == s["live_keys"], f"live secrets {sec['total']} == {s['live_keys']}")
labels = {}
for p in sec["providers"]:
    lab = "identity" if p["provider"] == "identity" else f"{p['provider']}:{p['key_name']}"
    labels[lab] = labels.get(lab, 0) + p["count"]
check(labels == s["latest_by_provider_key"], f"by provider/key {labels} == manifest")
check(sec["readable"] == s["latest_decryptable_with_config"], "readable count")
check(sec["stale"] == s["latest_decryptable_but_stale"], "stale count")
check(sec["readable"] - sec["stale"] == s["latest_decryptable_and_current"], "current count")
check(sec["unreadable_count"] == s["latest_undecryptable_with_config"], "unreadable count")
got = {(u["etcd_key"], f"{u['provider']}:{u['key_name']}", u["mod_revision"]) for u in sec["unreadable"]}
want = {(u["etcd_key"], u["label"], u["mod_revision"]) for u in s["undecryptable"]}
check(got == want, "exactly the manifest's unreadable keys, labels and revisions")
# reasons: derived from the manifest's explanation of each value
why = {u["etcd_key"]: u["why"] for u in s["undecryptable"]}
for u in sec["unreadable"]:
    w = why.get(u["etcd_key"], "")
    exp = ("aad_mismatch" if "AAD" in w else "truncated" if "truncated" in w else
           "no_matching_provider" if "no longer configured" in w or "provider" in w and "KMS" in w else
           "unknown_key" if "not present" in w or "removed" in w else "?")
    check(u["reason"] == exp, f"{u['etcd_key']}: reason {u['reason']} ({w})")
plain_live = sum(1 for c in contents if c["op"] == "put" and c["is_latest"] and c["etcd_key"].startswith("/registry/secrets/") and c["provider"] == "identity")
check(sec["plaintext"]["protobuf"] + sec["plaintext"]["json"] == plain_live, "live plaintext by encoding")
h = a["history"]
check(h["plaintext_revisions_total"] == s["plaintext_revisions_total"], f"history plaintext total {h['plaintext_revisions_total']}")
check(h["plaintext_revisions_historical"] == s["plaintext_revisions_historical"], "history plaintext historical")
check(h["keys_with_historical_plaintext"] == s["keys_with_historical_plaintext"], "keys with historical plaintext")
check(h["revisions"] == s["revisions_total"], f"secret puts replayed {h['revisions']} == {s['revisions_total']}")
check(h["deletes"] == s["tombstones_total"], "secret deletes replayed")
oldest = min(c["revision"] for c in contents if c["op"] == "put" and c["etcd_key"].startswith("/registry/secrets/")
             and c["provider"] == "identity" and not c["is_latest"])
check(h["oldest_historical_plaintext_revision"] == oldest, f"oldest historical plaintext revision {oldest}")
check(h["purge_needed"] is True, "purge advice given")
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then t_pass "audit reproduces snapshot-manifest.json"; else t_fail "audit reproduces snapshot-manifest.json"; fi

t_exit 0 "--all without config: exit 0" "$BIN" audit --endpoints "$S" --all -o json
python3 - "$T_OUT" "$FX/snapshot-manifest.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
by_prefix = {r["prefix"]: r["total"] for r in a["resources"]}
# our groups are per resource, so a manifest prefix may cover several
under = lambda p: sum(n for q, n in by_prefix.items() if q.startswith(p))
ok = all(under(p) == n for p, n in m["live_keys_by_prefix"].items()) and sum(by_prefix.values()) == m["total_keys"]
print(("ok" if ok else "not ok") + f" - live keys by prefix {by_prefix}")
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then t_pass "--all groups every prefix like the manifest"; else t_fail "--all groups every prefix like the manifest"; fi

t_exit 0 "table output" "$BIN" audit --endpoints "$S" --config "$FX/configs/all-providers.yaml" --resources configmaps
t_stdout_has "verdict:" "table ends with a verdict"
t_exit 0 "--list-keys table" "$BIN" audit --endpoints "$S" --resources configmaps --list-keys
t_stdout_has "/registry/configmaps/" "--list-keys lists each key"
t_exit 0 "--list-keys json" "$BIN" audit --endpoints "$S" --resources configmaps --list-keys -o json
t_eq "$(python3 -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]; r=L[-1]; assert r["schema"] == "etcdcrypt.audit/v1"; k=L[:-1]; assert all(o["etcd_key"].startswith("/registry/configmaps/") for o in k); print(len(k) == r["summary"]["total"] > 0)' "$T_OUT" 2>&1)" True \
	"--list-keys json: JSON Lines, one line per value, the report last"
t_exit 2 "bad --resources: exit 2" "$BIN" audit --endpoints "$S" --resources 'Secrets'
t_exit 2 "--all with --resources: exit 2" "$BIN" audit --endpoints "$S" --all --resources secrets
t_exit 3 "dead endpoint: exit 3" "$BIN" audit --endpoints "127.0.0.1:$(free_port)"

# a scan concurrent with writes reports one consistent revision
etcd_start aconc plain || exit 1
C=$ETCD_ACONC_ENDPOINT
python3 - "$C" <<'PY'
import subprocess, sys
ep = sys.argv[1]
# values must look like stored objects to be readable: small JSON Secrets
for i in range(0, 3000, 100):
    chunk = "".join(f'put /registry/secrets/ns{j%20}/s{j:05d} "{{\\"kind\\":\\"Secret\\",\\"apiVersion\\":\\"v1\\",\\"metadata\\":{{\\"name\\":\\"s{j:05d}\\"}}}}"\n' for j in range(i, i + 100))
    subprocess.run(["etcdctl", "--endpoints", ep, "txn"], input="\n" + chunk + "\n\n", check=True, capture_output=True, text=True)
PY
( for i in $(seq 1 400); do etcdctl --endpoints "$C" put "/registry/secrets/zz/new-$i" '{"kind":"Secret","apiVersion":"v1"}' >/dev/null 2>&1; done ) &
WRITER=$!
t_exit 0 "audit during concurrent writes" "$BIN" audit --endpoints "$C" --config "$FX/configs/identity-only.yaml" --page-size 50 -o json
wait "$WRITER"
REV=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["revision"])' "$T_OUT")
TOTAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][0]["total"])' "$T_OUT")
AT_REV=$(etcdctl --endpoints "$C" get --prefix /registry/secrets/ --rev "$REV" --keys-only | grep -c '^/registry/secrets/')
NOW=$(etcdctl --endpoints "$C" get --prefix /registry/secrets/ --keys-only | grep -c '^/registry/secrets/')
t_eq "$TOTAL" "$AT_REV" "concurrent writes: total equals the key count at the reported revision $REV"
if [ "$NOW" -gt "$TOTAL" ]; then t_pass "concurrent writes happened after the scan's revision ($NOW > $TOTAL)"; else t_fail "writer did not overlap the scan ($NOW vs $TOTAL)"; fi

# the scan's revision compacted mid-scan: one restart at the current revision.
# The compaction is made once etcd has served 20 of the scan's ~3400 one-key
# pages (its Range counter on /metrics), so it lands while the scan runs
# whatever the machine's speed or load (a fixed sleep landed before the scan
# began or after it ended, now and then). A run that the compaction still
# missed (the audit had exited first) is tried again, at most 3 times; one
# the compaction reached must have restarted. The compactor is started and
# ready (python loaded, counter read) before the audit starts: a slow
# python start on a loaded machine does not race the scan.
for attempt in 1 2 3; do
	rm -f "$ETCD_TMP/compacted" "$ETCD_TMP/compactor-ready"
	python3 - "$C" "$ETCD_TMP/compactor-ready" "$ETCD_TMP/compacted" <<'PY' &
import base64, json, re, sys, time, urllib.request
ep, ready, done = sys.argv[1], sys.argv[2], sys.argv[3]
def call(path, body):
    req = urllib.request.Request("http://" + ep + path, data=json.dumps(body).encode(), method="POST")
    return json.load(urllib.request.urlopen(req, timeout=10))
def ranges():
    m = urllib.request.urlopen("http://" + ep + "/metrics", timeout=10).read().decode()
    return sum(float(v) for v in re.findall(r'^grpc_server_started_total\{[^}]*grpc_method="Range"[^}]*\} (\S+)$', m, re.M))
base = ranges()
open(ready, "w").close()
deadline = time.time() + 60
while ranges() < base + 20 and time.time() < deadline:
    time.sleep(0.005)
b64 = lambda s: base64.b64encode(s.encode()).decode()
r = call("/v3/kv/put", {"key": b64("/registry/secrets/zz/bump"), "value": b64('{"kind":"Secret","apiVersion":"v1"}')})
call("/v3/kv/compaction", {"revision": int(r["header"]["revision"])})
open(done, "w").close()
PY
	COMPACTOR=$!
	for _ in $(seq 1 600); do [ -e "$ETCD_TMP/compactor-ready" ] && break; sleep 0.05; done
	t_run "$BIN" audit --endpoints "$C" --page-size 1 -o json
	REACHED=no
	[ -e "$ETCD_TMP/compacted" ] && REACHED=yes
	wait "$COMPACTOR"
	[ "$REACHED" = yes ] && break
	echo "# attempt $attempt: the audit ended before the compaction; again"
done
t_eq "$REACHED" yes "compaction during the scan: the compaction landed while the audit ran"
t_eq "$T_RC" 0 "compaction during the scan: completes"
t_stderr_has "was compacted during the scan" "compaction during the scan: says so"
RESTARTED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["restarted"])' "$T_OUT")
t_eq "$RESTARTED" "True" "compaction during the scan: report marks the restart"

t_done
