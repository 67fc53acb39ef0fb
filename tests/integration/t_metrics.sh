#!/usr/bin/env bash
# t_metrics: --metrics-file writes the Prometheus text format, checked with
# a real parser (python3-prometheus-client's text_string_to_metric_families):
# the metrics of an audit of the reference snapshot equal its JSON report,
# status and rewrite likewise; names follow the conventions (etcdcrypt_
# prefix, HELP and TYPE for each, _total only on counters); a label value
# with a quote, a backslash and a colon survives; the file is replaced
# atomically (new inode, 0644, no temporary left) and a failed run writes
# success 0; an unwritable path is exit 3 naming the file.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-$PWD/build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
W=$(mktemp -d /tmp/etcdcrypt-metrics.XXXXXX)
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$W" "$T_OUT" "$T_ERR"' EXIT
# Debian's python3-prometheus-client is for Debian's python3 (a python3 earlier
# in PATH, e.g. pyenv's, may not have it)
PY=python3
$PY -c 'import prometheus_client' 2>/dev/null || PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || { t_fail "python3-prometheus-client is installed (scripts/deps.sh)"; t_done; exit 1; }

# CHECK KIND JSON PROM: compares a run's metrics with its JSON report
check() {
	$PY - "$@" <<'PY'
import json, re, sys
from prometheus_client.parser import text_string_to_metric_families
kind, jpath, ppath = sys.argv[1:4]
text = open(ppath).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
fails = []
def check(cond, what):
    print(("ok" if cond else "not ok") + " - " + kind + ": " + what)
    if not cond: fails.append(what)
def samples(name):
    f = fams.get(name)
    return [] if f is None else [s for s in f.samples if s.name == name or s.name == name + "_total"]
def one(name):
    s = samples(name)
    return s[0].value if len(s) == 1 else None
# conventions, for every family
for f in fams.values():
    check(f.name.startswith("etcdcrypt_" + kind + "_"), f"{f.name}: etcdcrypt_{kind}_ prefix")
    check(bool(f.documentation), f"{f.name}: HELP")
    check(f.type in ("gauge", "counter"), f"{f.name}: TYPE {f.type}")
for line in text.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        check(m.group(1).endswith("_total") == (m.group(2) == "counter"), f"{m.group(1)}: _total only on counters")
    m = re.match(r"([a-z_]+)", line)
    if m and not line.startswith("#"):
        check(not re.search(r"_(ms|milliseconds|kb|mb|minutes|hours)$", m.group(1)), f"{m.group(1)}: base units")
if kind != "controller":
    check(one(f"etcdcrypt_{kind}_success") == 1, "success 1")
j = json.load(open(jpath))
if kind == "audit":
    check(one("etcdcrypt_audit_revision") == j["revision"], "revision")
    check(one("etcdcrypt_audit_scanned_values") == j["summary"]["total"], "scanned values == summary.total")
    for fam, field in (("values", "count"), ("readable_values", "readable"), ("stale_values", "stale")):
        got = {(s.labels["resource"], s.labels["provider"], s.labels.get("key_name", ""), s.labels.get("key_id", "")): s.value
               for s in samples("etcdcrypt_audit_" + fam)}
        want = {(r["resource"], p["provider"], p["key_name"], p.get("key_id", "")): p[field]
                for r in j["resources"] for p in r["providers"]}
        check(got == want, f"{fam} by resource/provider/key name == JSON providers[].{field}")
    unread = {s.labels["resource"]: 0 for s in samples("etcdcrypt_audit_unreadable_values")}
    for s in samples("etcdcrypt_audit_unreadable_values"):
        unread[s.labels["resource"]] += s.value
    check(unread == {r["resource"]: r["unreadable_count"] for r in j["resources"]}, "unreadable per resource == JSON")
    for name, field in (("readable_values", "readable"), ("stale_values", "stale"), ("unreadable_values", "unreadable")):
        check(sum(s.value for s in samples("etcdcrypt_audit_" + name)) == j["summary"][field], f"sum of {name} == summary.{field}")
    pt = {(s.labels["resource"], s.labels["encoding"]): s.value for s in samples("etcdcrypt_audit_plaintext_values")}
    check(pt == {(r["resource"], e): v for r in j["resources"] for e, v in r["plaintext"].items()}, "plaintext by encoding")
    check({s.labels["resource"]: s.value for s in samples("etcdcrypt_audit_stored_bytes")} ==
          {r["resource"]: r["bytes"] for r in j["resources"]}, "stored bytes")
    check(one("etcdcrypt_audit_consistent") == (1 if j["summary"]["unreadable"] == 0 and j["summary"]["stale"] == 0 else 0), "consistent")
    if j.get("history"):
        h = j["history"]
        check(one("etcdcrypt_audit_history_plaintext_revisions") == h["plaintext_revisions_total"], "history plaintext")
        check(one("etcdcrypt_audit_history_historical_plaintext_revisions") == h["plaintext_revisions_historical"], "history historical")
        check(one("etcdcrypt_audit_history_retired_key_revisions") == h["retired_revisions_total"], "history retired")
elif kind == "status":
    check(one("etcdcrypt_status_revision") == j["revision"], "revision")
    check(one("etcdcrypt_status_consistent") == (1 if j["consistent"] else 0), "consistent")
    check(one("etcdcrypt_status_values") == j["total"], "values")
    check(one("etcdcrypt_status_goal_known") == (0 if j["goal"] is None else 1), "goal known")
    if j["goal"] is not None:
        check([s.labels["key_name"] for s in samples("etcdcrypt_status_goal_info")] == [j["goal"]], "goal name")
    got = {(s.labels["provider"], s.labels["key_name"]): s.value for s in samples("etcdcrypt_status_etcd_values")}
    check(got == {(e["provider"], e["name"]): e["count"] for e in j["etcd"]}, "names in etcd with counts")
    got = {(s.labels["node"], int(s.labels["position"])): (s.labels["provider"], s.labels["key_name"])
           for s in samples("etcdcrypt_status_node_key_info")}
    check(got == {(n["name"], i): (x["provider"], x["name"]) for n in j["nodes"] for i, x in enumerate(n["names"])},
          "each node's names in read order")
    check({s.labels["config"]: s.value for s in samples("etcdcrypt_status_unreadable_values")} ==
          {u["config"]: u["count"] for u in j["unreadable"]}, "unreadable per config")
elif kind == "rewrite":
    for m, f in (("scanned_values", "scanned"), ("rewritten_values", "rewritten"), ("current_values", "already_current"),
                 ("unreadable_values", "unreadable"), ("conflicting_txns", "conflicts"), ("txns", "txns"),
                 ("revision_start", "revision_start"), ("revision_end", "revision_end")):
        check(one("etcdcrypt_rewrite_" + m) == j[f], f"{m} == JSON {f}")
    check(one("etcdcrypt_rewrite_dry_run") == 0, "not a dry run")
elif kind == "controller":
    rw = j["rewrite"]  # status -o json in records mode: the published rewrite
    check(one("etcdcrypt_controller_agreed") == 1, "agreed")
    check(fams["etcdcrypt_controller_rewrites"].type == "counter" and one("etcdcrypt_controller_rewrites") == 1,
          "rewrites_total counter: 1")
    check(one("etcdcrypt_controller_rewrite_failures") == 0, "rewrite_failures_total: 0")
    info = samples("etcdcrypt_controller_rewrite_info")
    check(len(info) == 1 and info[0].labels["state"] == rw["state"] and info[0].labels["key_name"] == rw["write"]
          and info[0].labels["node"] == rw["node"], f"rewrite_info == status's rewrite ({rw['state']}, {rw['write']})")
    for f in ("scanned", "rewritten", "current", "unreadable"):
        check(one(f"etcdcrypt_controller_rewrite_{f}_values") == rw[f], f"rewrite {f} == status JSON")
    for f in ("revision_start", "revision_end"):
        check(one(f"etcdcrypt_controller_rewrite_{f}") == rw[f], f"rewrite {f} == status JSON")
    check(one("etcdcrypt_controller_rewrite_started_timestamp_seconds") == rw["started_unix"], "started time")
    check(one("etcdcrypt_controller_rewrite_running") == 0, "not running")
sys.exit(1 if fails else 0)
PY
}

ETCD_RESTORE=$FX/snapshot.db etcd_start msnap plain || exit 1
S=$ETCD_MSNAP_ENDPOINT
P=$W/prom/etcdcrypt.prom
mkdir -p "$W/prom"

# ---- audit of the reference snapshot ----------------------------------------------------
t_exit 1 "audit --metrics-file (6 unreadable: exit 1)" "$BIN" audit --endpoints "$S" --config "$FX/configs/multi-key.yaml" \
	--history -o json --metrics-file "$P"
cp "$T_OUT" "$W/audit.json"
check audit "$W/audit.json" "$P" >"$W/check.out"
rc=$?
grep -v '^ok' "$W/check.out"
[ $rc -eq 0 ] && t_pass "audit metrics parse and equal the JSON report ($(grep -c '^ok' "$W/check.out") checks)" ||
	t_fail "audit metrics parse and equal the JSON report"
t_eq "$(stat -c %a "$P")" 644 "metrics file is 0644 (node_exporter reads it)"
t_eq "$(ls -A "$W/prom")" etcdcrypt.prom "no temporary file left next to it"
ino=$(stat -c %i "$P")
"$BIN" audit --endpoints "$S" --metrics-file "$P" >/dev/null 2>&1
t_run test "$(stat -c %i "$P")" != "$ino"
t_eq "$T_RC" 0 "a second run replaces the file (rename: new inode)"
t_run grep -c '^etcdcrypt_audit_readable_values' "$P"
t_eq "$(cat "$T_OUT")" 0 "without --config: no readable/stale/unreadable figures"

# ---- status ----------------------------------------------------------------------------
t_run "$BIN" status --endpoints "$S" --node m1="$FX/configs/multi-key.yaml" --node m2="$FX/configs/aescbc.yaml" \
	-o json --metrics-file "$P"
t_eq "$T_RC" 1 "status --metrics-file (nodes disagree: exit 1)"
cp "$T_OUT" "$W/status.json"
check status "$W/status.json" "$P" >"$W/check.out"
rc=$?
grep -v '^ok' "$W/check.out"
[ $rc -eq 0 ] && t_pass "status metrics parse and equal the JSON ($(grep -c '^ok' "$W/check.out") checks)" ||
	t_fail "status metrics parse and equal the JSON"

# ---- rewrite ---------------------------------------------------------------------------
etcd_start mrw plain || exit 1
R=$ETCD_MRW_ENDPOINT
"${ETCDCRYPT_BUILD:-build}/bench/loadgen" --endpoints "$R" --count 5 --config "$FX/configs/identity-only.yaml" \
	--size 300 >/dev/null
t_exit 0 "rewrite --metrics-file" "$BIN" rewrite --endpoints "$R" --config "$FX/configs/aescbc.yaml" -o json --metrics-file "$P"
cp "$T_OUT" "$W/rewrite.json"
check rewrite "$W/rewrite.json" "$P" >"$W/check.out"
rc=$?
grep -v '^ok' "$W/check.out"
[ $rc -eq 0 ] && t_pass "rewrite metrics parse and equal the JSON ($(grep -c '^ok' "$W/check.out") checks)" ||
	t_fail "rewrite metrics parse and equal the JSON"
t_run grep -x 'etcdcrypt_rewrite_rewritten_values 5' "$P"
t_eq "$T_RC" 0 "rewrite: 5 values rewritten"

# ---- controller --once on one node, over the values rewrite just wrote -------------
mkdir -p "$W/n1"
cp "$FX/configs/aescbc.yaml" "$W/n1/current.yaml"
chmod 600 "$W/n1/current.yaml"
t_exit 0 "controller --once --metrics-file" "$BIN" controller --once --node n1 --dir "$W/n1" --endpoints "$R" \
	--metrics-file "$W/prom/controller.prom"
"$BIN" status --endpoints "$R" -o json >"$W/cstatus.json" 2>"$T_ERR"
check controller "$W/cstatus.json" "$W/prom/controller.prom" >"$W/check.out"
rc=$?
grep -v '^ok' "$W/check.out"
[ $rc -eq 0 ] && t_pass "controller metrics parse and equal the published rewrite ($(grep -c '^ok' "$W/check.out") checks)" ||
	t_fail "controller metrics parse and equal the published rewrite" "$(cat "$W/prom/controller.prom" 2>&1 | head -30)"

# a failed run replaces the last good figures with success 0
t_exit 3 "rewrite against a dead endpoint fails (exit 3)" "$BIN" rewrite --endpoints 127.0.0.1:1 --dial-timeout 1s \
	--config "$FX/configs/aescbc.yaml" --metrics-file "$P"
$PY - "$P" >"$T_OUT" 2>&1 <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
f = {m.name: m for m in text_string_to_metric_families(open(sys.argv[1]).read())}
ok = f["etcdcrypt_rewrite_success"].samples[0].value == 0 and "etcdcrypt_rewrite_rewritten_values" not in f \
     and f["etcdcrypt_rewrite_last_run_timestamp_seconds"].samples[0].value > 1.7e9
sys.exit(0 if ok else 1)
PY
t_eq "$?" 0 "a failed run writes success 0 and its time, and no stale counts"

# ---- label escaping: a key name with a quote, a backslash and a colon -------------------
NAME='we"ird\key:x'
$PY - "$W/weird.yaml" "$W/weird.value" "$NAME" <<'PY'
import base64, os, sys
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
cfg, out, name = sys.argv[1:4]
key = os.urandom(32)
open(cfg, "w").write(f"""apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys:
            - name: '{name}'
              secret: {base64.b64encode(key).decode()}
""")
obj = b"k8s\x00" + b"\x0a\x0b\x0a\x02v1\x12\x06Secret"  # a protobuf Secret envelope, enough to be an object
iv = os.urandom(16)
p = padding.PKCS7(128).padder()
body = p.update(obj) + p.finalize()
enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
open(out, "wb").write(f"k8s:enc:aescbc:v1:{name}:".encode() + iv + enc.update(body) + enc.finalize())
PY
etcdctl --endpoints "$R" put /registry/secrets/ns/weird <"$W/weird.value" >/dev/null
"$BIN" audit --endpoints "$R" --config "$W/weird.yaml" --metrics-file "$P" >"$T_OUT" 2>"$T_ERR"
$PY - "$P" "$NAME" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
f = {m.name: m for m in text_string_to_metric_families(open(sys.argv[1]).read())}
names = {s.labels.get("key_name") for s in f["etcdcrypt_audit_values"].samples}
print(f"# key names parsed back: {sorted(names)}")
sys.exit(0 if sys.argv[2] in names else 1)
PY
t_eq "$?" 0 "a label value with a quote, a backslash and a colon parses back unchanged"

# ---- an unwritable path ----------------------------------------------------------------
t_run "$BIN" audit --endpoints "$R" --metrics-file "$W/no-such-dir/x.prom"
t_eq "$T_RC" 3 "metrics file in a missing directory: exit 3"
t_stderr_has "no-such-dir/x.prom" "the message names the file"
t_done
