#!/usr/bin/env bash
# t_history: `audit --history` counts the retained history exactly.
#  1. --etcd-prefix with a trailing slash behaves as without (issue 9 item 6).
#  2. a history of 200k puts with a compaction in the middle: three audits at
#     once, `backup verify --history` of an etcdctl snapshot and the loader's
#     own record of what it wrote all agree (issue 9 item 1).
#  3. the snapshot needs the root user on etcd with auth; a bad TMPDIR; an
#     interrupt while the snapshot streams.
set -u
cd "$(dirname "$0")/../.."
# etcd data on tmpfs when there is one: the loader is bound by etcd's fsyncs
if [ -z "${ETCD_TMP:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	ETCD_TMP=$(mktemp -d /dev/shm/etcdcrypt-test.XXXXXX)
fi
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

jget() { # FILE python-expression-over-a
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- 1. a trailing slash on --etcd-prefix -----------------------------------
ETCD_RESTORE=$FX/snapshot.db etcd_start hsnap plain || exit 1
S=$ETCD_HSNAP_ENDPOINT
t_exit 0 "--all --history, --etcd-prefix /registry" "$BIN" audit --endpoints "$S" --all --history --etcd-prefix /registry -o json
cp "$T_OUT" "$ETCD_TMP/noslash.json"
t_exit 0 "--all --history, --etcd-prefix /registry/" "$BIN" audit --endpoints "$S" --all --history --etcd-prefix /registry/ -o json
cp "$T_OUT" "$ETCD_TMP/slash.json"
N1=$(jget "$ETCD_TMP/noslash.json" 'a["history"]["revisions"]')
N2=$(jget "$ETCD_TMP/slash.json" 'a["history"]["revisions"]')
P1=$(jget "$ETCD_TMP/noslash.json" 'a["history"]["plaintext_revisions_historical"]')
P2=$(jget "$ETCD_TMP/slash.json" 'a["history"]["plaintext_revisions_historical"]')
T1=$(jget "$ETCD_TMP/noslash.json" 'a["summary"]["total"]')
T2=$(jget "$ETCD_TMP/slash.json" 'a["summary"]["total"]')
if [ "$N1" -gt 0 ]; then t_pass "history under /registry is not empty ($N1 puts)"; else t_fail "history under /registry is empty"; fi
t_eq "$N2" "$N1" "/registry/ counts the same history puts as /registry"
t_eq "$P2" "$P1" "/registry/ counts the same historical plaintext as /registry"
t_eq "$T2" "$T1" "/registry/ scans the same values as /registry"
PURGE=$(jget "$ETCD_TMP/slash.json" 'a["history"]["purge_needed"]')
t_eq "$PURGE" "True" "/registry/ still gives the purge advice"
etcd_stop hsnap

# ---- 2. a long history, counted exactly --------------------------------------
etcd_start hbig plain || exit 1
B=$ETCD_HBIG_ENDPOINT
KEY=$(head -c 32 /dev/urandom | base64)
CFG=$ETCD_TMP/history-config.yaml
cat >"$CFG" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys:
            - name: cur
              secret: $KEY
      - identity: {}
YAML
EXP=$ETCD_TMP/expected.json
python3 tests/lib/history_load.py "$B" "$EXP" 20000 10 4 "$KEY" || exit 1
mkdir -p "$ETCD_TMP/tmpdir"
for i in 1 2 3; do
	TMPDIR=$ETCD_TMP/tmpdir "$BIN" audit --endpoints "$B" --config "$CFG" --history -o json \
		>"$ETCD_TMP/audit$i.json" 2>"$ETCD_TMP/audit$i.err" &
	eval "AUDIT$i=\$!"
done
for i in 1 2 3; do
	eval "wait \$AUDIT$i"
	# values under the retired key 'old' are live too: exit 1
	t_eq "$?" 1 "concurrent audit $i: exit 1 (live values under a retired key)"
done
LEFT=$(ls -A "$ETCD_TMP/tmpdir" | wc -l)
t_eq "$LEFT" 0 "no temporary file left in TMPDIR"
etcdctl --endpoints "$B" snapshot save "$ETCD_TMP/big.db" >/dev/null 2>&1 || t_fail "etcdctl snapshot save"
t_exit 0 "backup verify --history of an etcdctl snapshot" "$BIN" backup verify "$ETCD_TMP/big.db" --history -o json
cp "$T_OUT" "$ETCD_TMP/backup.json"
python3 - "$EXP" "$ETCD_TMP/backup.json" "$ETCD_TMP"/audit[123].json <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
bk = json.load(open(sys.argv[2]))
audits = [json.load(open(p)) for p in sys.argv[3:]]
fails = []
def check(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
    if not cond: fails.append(what)
check(exp["total_puts_written"] >= 200000, f"the loader wrote {exp['total_puts_written']} puts")
check(exp["kept_at_compaction"] > 0 and exp["plaintext_kept_at_compaction"] > 0,
      f"{exp['plaintext_kept_at_compaction']} plaintext values are kept AT the compaction revision")
bh = bk["history"]
check(bk["revision"] == exp["last_revision"], f"snapshot at revision {bk['revision']} == the last write {exp['last_revision']}")
check(bh["compact_revision"] == exp["compact_revision"], "snapshot compacted where the loader compacted")
for name, b_field, e_field in (("puts", "revisions", "puts"), ("deletes", "deletes", "deletes"),
                               ("plaintext", "plaintext_revisions_total", "plaintext_total"),
                               ("historical plaintext", "plaintext_revisions_historical", "plaintext_historical"),
                               ("keys with historical plaintext", "keys_with_historical_plaintext", "plaintext_keys_historical")):
    check(bh[b_field] == exp[e_field], f"backup verify: {name} {bh[b_field]} == written {exp[e_field]}")
for n, a in enumerate(audits, 1):
    h = a["history"]
    check(h["upto_revision"] == bk["revision"], f"audit {n}: history at the snapshot's revision {h['upto_revision']}")
    check(h["compact_revision"] == exp["compact_revision"], f"audit {n}: compact revision {h['compact_revision']}")
    for f in ("revisions", "deletes", "plaintext_revisions_total", "plaintext_revisions_historical",
              "keys_with_historical_plaintext", "oldest_historical_plaintext_revision", "purge_needed"):
        check(h[f] == bh[f], f"audit {n}: {f} {h[f]} == backup verify's {bh[f]}")
    check(h["plaintext_revisions_total"] == exp["plaintext_total"],
          f"audit {n}: plaintext revisions {h['plaintext_revisions_total']} == plaintext puts written after the compaction + kept at it {exp['plaintext_total']}")
    check(h["retired_revisions_total"] == exp["retired_total"], f"audit {n}: retired {h['retired_revisions_total']} == written {exp['retired_total']}")
    check(h["retired_revisions_historical"] == exp["retired_historical"], f"audit {n}: historical retired {h['retired_revisions_historical']} == {exp['retired_historical']}")
check(all(a["history"] == audits[0]["history"] for a in audits), "the three concurrent audits agree exactly")
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then t_pass "history counts are exact"; else t_fail "history counts are exact"; fi

# ---- 3. interrupts, temporary space, auth -----------------------------------
# SIGINT while etcd is sending the snapshot: etcd is stopped (SIGSTOP) after
# it logged the start of the stream and before it logged the checksum, so the
# audit is waiting inside the stream when the signal comes.
LOG=$ETCD_HBIG_DIR/etcd.log
caught=0
for try in 1 2 3 4 5; do
	s0=$(grep -c "sending database snapshot to client" "$LOG")
	h0=$(grep -c "sending database sha256 checksum" "$LOG")
	# a background job of a script starts with SIGINT ignored: restore it
	TMPDIR=$ETCD_TMP/tmpdir python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$BIN" audit --endpoints "$B" --history -o json >"$T_OUT" 2>"$T_ERR" &
	AP=$!
	for i in $(seq 1 3000); do
		[ "$(grep -c "sending database snapshot to client" "$LOG")" -gt "$s0" ] && break
		kill -0 "$AP" 2>/dev/null || break
		sleep 0.005
	done
	kill -STOP "$ETCD_HBIG_PID"
	if [ "$(grep -c "sending database sha256 checksum" "$LOG")" -gt "$h0" ] || ! kill -0 "$AP" 2>/dev/null; then
		kill -CONT "$ETCD_HBIG_PID"   # the stream was over already: try again
		wait "$AP"
		continue
	fi
	sleep 0.5
	T0=$(date +%s%N)
	kill -INT "$AP"
	wait "$AP"
	RC=$?
	T1=$(date +%s%N)
	kill -CONT "$ETCD_HBIG_PID"
	caught=1
	break
done
if [ "$caught" = 1 ]; then
	MS=$(( (T1 - T0) / 1000000 ))
	if [ "$MS" -lt 3000 ]; then t_pass "SIGINT during the snapshot stream: stopped in $MS ms"; else t_fail "SIGINT during the snapshot stream: took $MS ms"; fi
	if [ "$RC" -ne 0 ]; then t_pass "SIGINT: not a success (exit $RC)"; else t_fail "SIGINT: exit 0"; fi
	LEFT=$(ls -A "$ETCD_TMP/tmpdir" | wc -l)
	t_eq "$LEFT" 0 "SIGINT: no temporary file left in TMPDIR"
else
	t_fail "SIGINT during the snapshot stream: never caught etcd mid-stream in 5 tries"
fi
t_exit 1 "etcd still serves after the interrupted stream" "$BIN" audit --endpoints "$B" --config "$CFG" --resources secrets

t_exit 3 "TMPDIR that does not exist: exit 3" env TMPDIR=$ETCD_TMP/no-such-dir "$BIN" audit --endpoints "$B" --history
t_stderr_has "temporary directory '$ETCD_TMP/no-such-dir'" "a bad TMPDIR is named"
t_stderr_one_line "a bad TMPDIR: one line"
etcd_stop hbig

etcd_start hauth auth || exit 1
A=$ETCD_HAUTH_ENDPOINT
etcdctl --endpoints "$A" --user root:rootpw put /registry/secrets/default/a '{"kind":"Secret","apiVersion":"v1"}' >/dev/null
etcdctl --endpoints "$A" --user root:rootpw put /registry/secrets/default/a '{"kind":"Secret","apiVersion":"v1","data":{}}' >/dev/null
t_exit 0 "auth: audit without --history works for a non-root user" "$BIN" audit --endpoints "$A" --user app:apppw
t_exit 3 "auth: --history as a non-root user: exit 3" "$BIN" audit --endpoints "$A" --user app:apppw --history
t_stderr_has "root role" "auth: the error says a root user is needed"
t_stderr_has "--user root" "auth: the error names the flag"
t_stderr_one_line "auth: one line"
t_exit 0 "auth: --history as root" "$BIN" audit --endpoints "$A" --user root:rootpw --history -o json
H=$(jget "$T_OUT" 'a["history"]["plaintext_revisions_total"]')
t_eq "$H" 2 "auth: root counts both plaintext revisions"

t_done
