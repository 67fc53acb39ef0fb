#!/usr/bin/env bash
# t_rewrite: `etcdcrypt rewrite` on real etcds. Rewritten values are checked
# with openssl's command line and the reference fixtures, never with
# etcdcrypt's own reader alone.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
LOADGEN=${ETCDCRYPT_BUILD:-build}/bench/loadgen
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
export PYTHONPATH=$PWD/tests/lib
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

# a config with a new aescbc key first, then everything multi-key.yaml has
NEWCFG=$ETCD_TMP/new-key-first.yaml
NEWKEY=$(head -c 32 /dev/urandom | base64)
awk -v k="$NEWKEY" '{ print } /^    providers:$/ {
	print "      - aescbc:"; print "          keys:"; print "            - name: key-2026"
	print "              secret: " k }' "$FX/configs/multi-key.yaml" > "$NEWCFG"

# --- 1. the reference snapshot: rewrite to a new key -----------------------
ETCD_RESTORE=$FX/snapshot.db etcd_start rsnap plain || exit 1
S=$ETCD_RSNAP_ENDPOINT
python3 -c 'import k8sdata, json, sys; d = k8sdata.dump(sys.argv[1], "/registry/"); json.dump({k: [v["value"].hex(), v["mod"], v["lease"]] for k, v in d.items()}, open(sys.argv[2], "w"))' "$S" "$ETCD_TMP/before.json"

t_exit 1 "dry run: exit 1 (6 unreadable values)" "$BIN" rewrite --endpoints "$S" --config "$NEWCFG" --dry-run -o json
WOULD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["would_rewrite"])' "$T_OUT")
t_eq "$WOULD" 46 "dry run: 46 readable values would be rewritten"
t_eq "$(python3 -c 'import k8sdata,sys; print(k8sdata.revision(sys.argv[1]))' "$S")" 109 "dry run: nothing written"

t_exit 1 "rewrite to key-2026: exit 1 (unreadable values left)" "$BIN" rewrite --endpoints "$S" --config "$NEWCFG" -o json
cp "$T_OUT" "$ETCD_TMP/rewrite.json"
python3 - "$S" "$NEWCFG" "$ETCD_TMP/before.json" "$FX/snapshot-contents.jsonl" "$FX/snapshot-manifest.json" "$ETCD_TMP/rewrite.json" <<'PY'
import hashlib, json, sys
import k8sdata
ep, cfg, before_f, contents_f, manifest_f, rep_f = sys.argv[1:7]
before = {k: (bytes.fromhex(v[0]), v[1], v[2]) for k, v in json.load(open(before_f)).items()}
after = k8sdata.dump(ep, "/registry/")
contents = [json.loads(l) for l in open(contents_f)]
latest = {c["etcd_key"]: c for c in contents if c["op"] == "put" and c["is_latest"]}
unreadable = {u["etcd_key"] for u in json.load(open(manifest_f))["secrets"]["undecryptable"]}
keys = k8sdata.aescbc_keys(cfg)
rep = json.load(open(rep_f))
fails = []
def check(c, what):
    if not c: fails.append(what); print("not ok - " + what)
check(set(before) == set(after), "same keys before and after")
rewritten = 0
for k, (val, mod, lease) in before.items():
    a = after[k]
    check(a["lease"] == lease, f"{k}: lease kept ({lease} -> {a['lease']})")
    if not k.startswith("/registry/secrets/") or k in unreadable:
        check(a["value"] == val and a["mod"] == mod, f"{k}: untouched (other resource or unreadable)")
        continue
    check(a["value"].startswith(b"k8s:enc:aescbc:v1:key-2026:"), f"{k}: now under aescbc:key-2026")
    p = k8sdata.aescbc_decrypt(a["value"], keys)
    check(p is not None and hashlib.sha256(p).hexdigest() == latest[k]["plaintext_sha256"],
          f"{k}: decrypts (openssl) to exactly the old plaintext")
    rewritten += 1
check(rewritten == 46 and rep["rewritten"] == 46, f"46 secrets rewritten (report {rep['rewritten']})")
check(rep["unreadable"] == 6 and {u["etcd_key"] for u in rep["unreadable_keys"]} == unreadable, "report lists the 6 unreadable keys")
print("ok - snapshot rewrite verified independently" if not fails else f"not ok - {len(fails)} problems")
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then t_pass "snapshot: every readable secret under the new key, same plaintext, leases kept, rest byte-identical"; else t_fail "snapshot rewrite"; fi
REV=$(python3 -c 'import k8sdata,sys; print(k8sdata.revision(sys.argv[1]))' "$S")
t_exit 1 "second run: exit 1 (still the 6 unreadable)" "$BIN" rewrite --endpoints "$S" --config "$NEWCFG" -o json
t_eq "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["rewritten"], d["already_current"])' "$T_OUT")" "0 46" "second run writes nothing"
t_eq "$(python3 -c 'import k8sdata,sys; print(k8sdata.revision(sys.argv[1]))' "$S")" "$REV" "second run: revision unchanged"
t_exit 1 "audit after rewrite: only the 6 unreadable remain" "$BIN" audit --endpoints "$S" --config "$NEWCFG" -o json
t_eq "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["readable"], s["stale"], s["unreadable"])' "$T_OUT")" "46 0 6" "audit: 46 readable, 0 stale, 6 unreadable"

# --- 2. the safety gates -----------------------------------------------------
t_exit 2 "node configs disagree on the write key: refused" "$BIN" rewrite --endpoints "$S" --config "$NEWCFG" \
	--node-config "m1=$NEWCFG" --node-config "m2=$FX/configs/multi-key.yaml"
t_stderr_has "node m2" "refusal names the node that differs"
sed 's/^\(              secret: \).*key-2026-placeholder//' "$NEWCFG" > /dev/null
awk -v k="$(head -c 32 /dev/urandom | base64)" 'f == 1 && /secret:/ { print "              secret: " k; f = 2; next } /name: key-2026/ { f = 1 } { print }' "$NEWCFG" > "$ETCD_TMP/samename.yaml"
t_exit 2 "node has a key of the same name but another secret: refused" "$BIN" rewrite --endpoints "$S" \
	--config "$NEWCFG" --node-config "m1=$NEWCFG" --node-config "m3=$ETCD_TMP/samename.yaml" --force
t_stderr_has "cannot read" "refusal says the node cannot read the new values"
t_exit 3 "a KMS write target whose plugin is not running is refused before anything is read" "$BIN" rewrite --endpoints "$S" --config "$FX/configs/kms.yaml"
t_stderr_has "refusing to rewrite: KMS plugin 'cloud-kms' at unix:///var/run/kmsplugin/cloud-kms.sock: Status: UNAVAILABLE" "KMS refusal names the plugin and its error"
t_exit 3 "quota estimate: refused when the growth would cross --quota-bytes" "$BIN" rewrite --endpoints "$S" --config "$NEWCFG" --force --quota-bytes 300K
t_stderr_has "over the quota" "quota refusal explains"
for r in 10x -5 0 1e999 abc; do
	t_exit 2 "--max-rate '$r' is refused before anything is read" "$BIN" rewrite --endpoints "$S" --config "$NEWCFG" --max-rate "$r"
done

# --- 3. a concurrent writer loses nothing -----------------------------------
etcd_start rconc plain || exit 1
C=$ETCD_RCONC_ENDPOINT
"$LOADGEN" --endpoints "$C" --count 3000 --config "$FX/configs/identity-only.yaml" --size 600 >/dev/null
CBC=$FX/configs/aescbc.yaml
python3 - "$C" "$ETCD_TMP/writer.json" <<'PY' &
import json, random, subprocess, sys, time
ep, out = sys.argv[1:3]
time.sleep(0.3)
last = {}
for i in range(150):
    n = random.randrange(3000)
    k = f"/registry/secrets/ns-{n % 50:02d}/secret-{n:07d}"
    v = json.dumps({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": k.rsplit("/", 1)[1]}, "data": {"w": f"writer-{i}"}}) + "\n"
    subprocess.run(["etcdctl", "--endpoints", ep, "put", k, v], check=True, capture_output=True)
    last[k] = v
json.dump(last, open(out, "w"))
PY
WRITER=$!
t_exit 0 "rewrite under a concurrent writer" "$BIN" rewrite --endpoints "$C" --config "$CBC" --max-rate 1000 --batch 32 --page-size 200 -o json
wait "$WRITER"
cp "$T_OUT" "$ETCD_TMP/conc.json"
python3 - "$C" "$CBC" "$ETCD_TMP/writer.json" <<'PY'
import json, sys
import k8sdata
ep, cfg, wf = sys.argv[1:4]
last = json.load(open(wf))
d = k8sdata.dump(ep, "/registry/secrets/")
keys = k8sdata.aescbc_keys(cfg)
lost = 0
for k, v in last.items():
    val = d[k]["value"]
    p = k8sdata.aescbc_decrypt(val, keys) if val.startswith(b"k8s:enc:") else val
    if p != v.encode():
        lost += 1
        print(f"not ok - {k}: writer's last value lost")
print(f"ok - all {len(last)} keys the writer updated hold its last value" if lost == 0 else f"not ok - {lost} lost")
sys.exit(1 if lost else 0)
PY
if [ $? -eq 0 ]; then t_pass "concurrent writer: no update lost"; else t_fail "concurrent writer: updates lost"; fi
t_exit 0 "after the concurrent run a rerun finishes what the writer left in plaintext" "$BIN" rewrite --endpoints "$C" --config "$CBC"
t_exit 0 "audit: everything current" "$BIN" audit --endpoints "$C" --config "$CBC" -o json
t_eq "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["total"], s["stale"])' "$T_OUT")" "3000 0" "audit: 3000 values, none stale"

# --- 4. SIGINT stops cleanly, a rerun finishes -------------------------------
GCM=$FX/configs/multi-key.yaml  # writes aesgcm gcm-b, reads the aescbc values
"$BIN" rewrite --endpoints "$C" --config "$GCM" --max-rate 800 --batch 16 -o json >"$ETCD_TMP/int.json" 2>"$ETCD_TMP/int.err" &
RW=$!
REV0=$(python3 -c 'import k8sdata,sys; print(k8sdata.revision(sys.argv[1]))' "$C")
for _ in $(seq 1 100); do # wait until it has written a few batches, then interrupt
	sleep 0.1
	[ "$(python3 -c 'import k8sdata,sys; print(k8sdata.revision(sys.argv[1]))' "$C")" -gt $((REV0 + 5)) ] && break
done
kill -INT "$RW"
wait "$RW"
RC=$?
t_eq "$RC" 1 "SIGINT: exit 1"
if grep -q "interrupted" "$ETCD_TMP/int.err"; then t_pass "SIGINT: says interrupted"; else t_fail "SIGINT: no message"; fi
DONE=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["rewritten"], d["stopped"])' "$ETCD_TMP/int.json")
case "$DONE" in "0 "*|"3000 "*) t_fail "SIGINT: stopped part-way ($DONE)";; *interrupted) t_pass "SIGINT: summary printed, stopped part-way ($DONE)";; *) t_fail "SIGINT: summary ($DONE)";; esac
t_exit 0 "after SIGINT a rerun finishes" "$BIN" rewrite --endpoints "$C" --config "$GCM"
t_exit 0 "audit after the rerun" "$BIN" audit --endpoints "$C" --config "$GCM" -o json
t_eq "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["readable"], s["stale"])' "$T_OUT")" "3000 0" "all 3000 readable and current after SIGINT + rerun"

# --- 5. etcd SIGKILLed mid-run, restarted, rerun -----------------------------
ALL=$FX/configs/all-providers.yaml  # writes aescbc key-2025, reads gcm-b
"$BIN" rewrite --endpoints "$C" --config "$ALL" --max-rate 1000 --batch 16 -o json >"$ETCD_TMP/kill.json" 2>"$ETCD_TMP/kill.err" &
RW=$!
sleep 1
etcd_kill9 rconc
sleep 0.5
etcd_restart rconc
wait "$RW"
echo "    (rewrite during the kill exited $?: $(tail -1 "$ETCD_TMP/kill.err"))"
t_exit 0 "after etcd was killed and restarted, a rerun finishes" "$BIN" rewrite --endpoints "$C" --config "$ALL"
python3 - "$C" "$ALL" <<'PY'
import json, sys
import k8sdata
ep, cfg = sys.argv[1:3]
d = k8sdata.dump(ep, "/registry/secrets/")
keys = k8sdata.aescbc_keys(cfg)
bad = [k for k, v in d.items() if not v["value"].startswith(b"k8s:enc:aescbc:v1:key-2025:") or k8sdata.aescbc_decrypt(v["value"], keys) is None]
print(("ok" if not bad and len(d) == 3000 else "not ok") + f" - {len(d)} values, {len(bad)} not readable under key-2025")
sys.exit(1 if bad or len(d) != 3000 else 0)
PY
if [ $? -eq 0 ]; then t_pass "after the kill: every value correct (openssl)"; else t_fail "after the kill: values wrong"; fi

# --- 6. alarms: a NOSPACE etcd refuses; NOSPACE mid-run stops cleanly ---------
ETCD_EXTRA_FLAGS="--quota-backend-bytes 8388608" etcd_start rfull plain || exit 1
F=$ETCD_RFULL_ENDPOINT
"$LOADGEN" --endpoints "$F" --count 1500 --config "$FX/configs/identity-only.yaml" --size 2560 >/dev/null
# rewrite back and forth between two write keys until the quota is hit
# (how fast bbolt grows varies, so no single run is sure to cross it)
HIT=0
for attempt in 1 2 3 4 5 6; do
	if [ $((attempt % 2)) -eq 1 ]; then CFGX=$FX/configs/multi-key.yaml; else CFGX=$FX/configs/all-providers.yaml; fi
	t_run "$BIN" rewrite --endpoints "$F" --config "$CFGX" --quota-bytes 1G --batch 8
	if [ "$T_RC" -ne 0 ]; then HIT=1; break; fi
done
t_eq "$HIT:$T_RC" "1:3" "NOSPACE during a run: it stops with exit 3"
t_stderr_has "space" "NOSPACE: says the database is out of space"
t_stderr_has "no value is half written" "NOSPACE: says it stopped cleanly"
t_exit 3 "an etcd with a raised NOSPACE alarm is refused" "$BIN" rewrite --endpoints "$F" --config "$CBC" --quota-bytes 1G
t_stderr_has "NOSPACE alarm" "alarm refusal names the alarm"
python3 - "$F" "$FX/configs/all-providers.yaml" <<'PY'
import sys
import k8sdata
d = k8sdata.dump(sys.argv[1], "/registry/secrets/")
keys = k8sdata.aescbc_keys(sys.argv[2])
# AES-CBC values are decrypted with openssl; the AES-GCM ones (gcm-b) are
# checked by the audit below
bad = [k for k, v in d.items() if v["value"].startswith(b"k8s:enc:aescbc:") and k8sdata.aescbc_decrypt(v["value"], keys) is None]
print(("ok" if not bad and len(d) == 1500 else "not ok") + f" - after NOSPACE: {len(d)} values, {len(bad)} damaged")
sys.exit(1 if bad or len(d) != 1500 else 0)
PY
if [ $? -eq 0 ]; then t_pass "after NOSPACE: every AES-CBC value intact (openssl)"; else t_fail "after NOSPACE: damage"; fi
t_exit 0 "after NOSPACE: audit reads all 1500 values" "$BIN" audit --endpoints "$F" --config "$FX/configs/all-providers.yaml" -o json
t_eq "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["total"], s["readable"])' "$T_OUT")" "1500 1500" "after NOSPACE: 1500 values, 1500 readable"

t_done
