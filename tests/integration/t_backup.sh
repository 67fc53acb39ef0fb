#!/usr/bin/env bash
# t_backup: `etcdcrypt backup verify` reads snapshot files offline. On the
# reference snapshot (made by a real etcd, with values from the real
# Kubernetes code) it must reproduce snapshot-manifest.json; with a config
# missing one key exactly that key's values turn unreadable; a snapshot this
# test takes from its own etcd verifies clean, and damaged copies of it
# (flipped byte, truncation, corrupted page, stripped trailer) are reported
# with one clear line and the right exit status.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
W=$ETCD_TMP/backup
mkdir -p "$W"
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT
SNAP=$FX/snapshot.db
CFG=$FX/configs/multi-key.yaml

# ---- the reference snapshot ---------------------------------------------------
t_exit 1 "reference snapshot, multi-key.yaml: unreadable values make exit 1" \
	"$BIN" backup verify "$SNAP" --config "$CFG" --history -o json
cp "$T_OUT" "$W/ref.json"
python3 - "$W/ref.json" "$FX/snapshot-manifest.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2])); s = m["secrets"]
fails = []
def check(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
    if not cond: fails.append(what)
check(a["size"] == m["snapshot_size_bytes"], "file size")
t = a["trailer"]
check(t["present"] and t["matches"] and t["expected_hex"] == m["sha256_trailer"]["last_32_bytes_hex"]
      and t["actual_hex"] == m["sha256_trailer"]["sha256_of_preceding_bytes_hex"], "SHA-256 trailer present and matching")
check(a["revision"] == m["revision"], f"revision {a['revision']} == {m['revision']}")
check(a["compact_revision"] == m["compact_revision"], "compact revision")
check(a["mvcc_entries"] == m["mvcc_entries_in_key_bucket"], "MVCC entries")
check(a["live_keys"] == m["total_keys"], "live keys")
check(a["bolt"]["buckets"] == m["bolt_buckets"], "bolt bucket entry counts")
c = a["configs"][0]
sec = {r["resource"]: r for r in c["resources"]}["secrets"]
check(sec["prefix"] == s["prefix"] and sec["total"] == s["live_keys"], "live secrets")
labels = {}
for p in sec["providers"]:
    lab = "identity" if p["provider"] == "identity" else f"{p['provider']}:{p['key_name']}"
    labels[lab] = labels.get(lab, 0) + p["count"]
check(labels == s["latest_by_provider_key"], f"latest by provider/key {labels}")
check(sec["readable"] == s["latest_decryptable_with_config"], "readable")
check(sec["stale"] == s["latest_decryptable_but_stale"], "stale")
got = {(u["etcd_key"], f"{u['provider']}:{u['key_name']}", u["mod_revision"]) for u in sec["unreadable"]}
want = {(u["etcd_key"], u["label"], u["mod_revision"]) for u in s["undecryptable"]}
check(got == want, "exactly the manifest's unreadable keys, labels and revisions")
why = {u["etcd_key"]: u["why"] for u in s["undecryptable"]}
for u in sec["unreadable"]:
    w = why.get(u["etcd_key"], "")
    exp = ("aad_mismatch" if "AAD" in w else "truncated" if "truncated" in w else
           "no_matching_provider" if "no longer configured" in w else
           "unknown_key" if "not present" in w or "removed" in w else "?")
    check(u["reason"] == exp, f"{u['etcd_key']}: reason {u['reason']} ({w})")
need = sorted(k for k in s["latest_by_provider_key"] if k != "identity")
check(c["keys_needed"] == need, f"keys needed {c['keys_needed']}")
bad_labels = {u["label"] for u in s["undecryptable"]}
missing = sorted(l for l in bad_labels
                 if sum(1 for u in s["undecryptable"] if u["label"] == l) == s["latest_by_provider_key"][l])
check(c["keys_missing"] == missing, f"keys missing {c['keys_missing']} == {missing}")
check(c["restorable"] is False and a["restorable"] is False and a["ok"] is False, "verdict: not restorable")
h = a["history"]
check(h["revisions"] == s["revisions_total"] and h["deletes"] == s["tombstones_total"], "puts and deletes")
check(h["plaintext_revisions_total"] == s["plaintext_revisions_total"], "plaintext revisions")
check(h["plaintext_revisions_historical"] == s["plaintext_revisions_historical"], "historical plaintext revisions")
check(h["keys_with_historical_plaintext"] == s["keys_with_historical_plaintext"], "keys with historical plaintext")
check(sorted(h["keys_with_historical_plaintext_list"]) == sorted(s["keys_with_historical_plaintext_list"]), "their list")
check(sorted(h["deleted_keys"]) == sorted(s["deleted_keys"]) and h["deleted_keys_count"] == s["deleted_keys_count"], "deleted keys")
check(sorted(h["recreated_keys"]) == sorted(s["recreated_keys"]), "re-created keys")
check(h["purge_needed"] is True, "purge advice")
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then t_pass "backup verify reproduces snapshot-manifest.json"; else t_fail "backup verify reproduces snapshot-manifest.json"; fi

t_exit 0 "--all without a config: classify only, exit 0" "$BIN" backup verify "$SNAP" --all -o json
python3 - "$T_OUT" "$FX/snapshot-manifest.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
by_prefix = {r["prefix"]: r["total"] for r in a["configs"][0]["resources"]}
under = lambda p: sum(n for q, n in by_prefix.items() if q.startswith(p))
ok = all(under(p) == n for p, n in m["live_keys_by_prefix"].items()) and sum(by_prefix.values()) == m["total_keys"]
print(("ok" if ok else "not ok") + f" - live keys by prefix {by_prefix}")
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then t_pass "--all: live keys per prefix like the manifest"; else t_fail "--all: live keys per prefix like the manifest"; fi

t_exit 1 "table output" "$BIN" backup verify "$SNAP" --config "$CFG"
t_stdout_has "trailer: SHA-256 matches" "table: trailer line"
t_stdout_has "keys needed: " "table: keys needed"
t_stdout_has "verdict: NOT restorable with $CFG" "table: per-config verdict"
t_exit 1 "--list-keys json is valid JSON Lines" "$BIN" backup verify "$SNAP" --config "$CFG" --list-keys -o json
# JSON Lines: one object per value, the report (schema etcdcrypt.backup/v1) last
N=$(python3 -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]; assert L[-1]["schema"] == "etcdcrypt.backup/v1" and all("etcd_key" in o for o in L[:-1]); print(len(L) - 1)' "$T_OUT" 2>/dev/null)
t_eq "$N" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secrets"]["live_keys"])' "$FX/snapshot-manifest.json")" "--list-keys lists every live secret"

# a config holding every key of multi-key.yaml and more (plus KMS keyring): same unreadable values
t_exit 1 "all-providers.yaml + keyring: still not restorable" \
	"$BIN" backup verify "$SNAP" --config "$FX/configs/all-providers.yaml" --kms-keyring "$FX/fake-kms.json" -o json
python3 - "$T_OUT" "$W/ref.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["configs"][0]; r = json.load(open(sys.argv[2]))["configs"][0]
key = lambda c: {u["etcd_key"] for res in c["resources"] for u in res["unreadable"]}
ok = key(a) == key(r) and a["keys_needed"] == r["keys_needed"] and a["keys_missing"] == r["keys_missing"]
print(("ok" if ok else "not ok") + f" - superset config: same unreadable keys, needs {a['keys_needed']}")
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then t_pass "superset config: same unreadable values and keys needed"; else t_fail "superset config: same unreadable values and keys needed"; fi

# a config missing one key: exactly that key's values become unreadable, and the verdict flips
python3 - "$CFG" "$W/missing.yaml" "$W/ref.json" <<'PY'
import json, sys, re
text = open(sys.argv[1]).read()
ref = json.load(open(sys.argv[3]))["configs"][0]
# drop the aescbc key that reads the most values (not the provider's only key)
rows = [p for res in ref["resources"] for p in res["providers"] if p["provider"] == "aescbc" and p["readable"]]
name = max(rows, key=lambda p: p["readable"])["key_name"]
out = re.sub(r"\n\s*- name: %s\n\s*secret: [^\n]*" % re.escape(name), "", text)
assert out != text
open(sys.argv[2], "w").write(out)
open(sys.argv[2] + ".name", "w").write(name)
PY
DROPPED=$(cat "$W/missing.yaml.name")
t_exit 1 "two configs: today's and one without aescbc:$DROPPED" \
	"$BIN" backup verify "$SNAP" --config "$CFG" --config "$W/missing.yaml" -o json
python3 - "$T_OUT" "$W/ref.json" "$DROPPED" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); ref = json.load(open(sys.argv[2]))["configs"][0]; name = sys.argv[3]
fails = []
def check(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
    if not cond: fails.append(what)
c0, c1 = a["configs"]
bad = lambda c: {u["etcd_key"]: u for res in c["resources"] for u in res["unreadable"]}
b_ref, b0, b1 = bad(ref), bad(c0), bad(c1)
check(set(b0) == set(b_ref), "first config: same as alone")
new = {k: u for k, u in b1.items() if k not in b_ref}
under = sum(p["readable"] for res in ref["resources"] for p in res["providers"]
            if p["provider"] == "aescbc" and p["key_name"] == name)
check(set(b_ref) <= set(b1), "second config: the old unreadable values stay unreadable")
check(len(new) == under, f"second config: {len(new)} new unreadable == {under} values under {name}")
check(all(u["provider"] == "aescbc" and u["key_name"] == name and u["reason"] == "unknown_key" for u in new.values()),
      "every new one is under the dropped key, reason unknown_key")
check(f"aescbc:{name}" in c1["keys_missing"] and f"aescbc:{name}" not in c0["keys_missing"], "keys_missing names it")
check(c1["restorable"] is False, "second config not restorable")
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then t_pass "a config missing one key: exactly its values unreadable"; else t_fail "a config missing one key: exactly its values unreadable"; fi

# ---- a snapshot of our own etcd -------------------------------------------------
etcd_start bk plain || exit 1
E=$ETCD_BK_ENDPOINT
python3 - "$FX/vectors.jsonl" "$W/load" <<'PY'
import json, sys, base64, os
os.makedirs(sys.argv[2], exist_ok=True)
last = {}
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["category"] != "negative" and v["resource"] == "secrets":
        last[v["etcd_key"]] = v
with open(os.path.join(sys.argv[2], "keys"), "w") as f:
    for i, (k, v) in enumerate(sorted(last.items())):
        open(os.path.join(sys.argv[2], str(i)), "wb").write(base64.b64decode(v["stored_value_b64"]))
        f.write(f"{i} {k}\n")
PY
LOADED=0
while read -r i k; do
	etcdctl --endpoints "$E" put "$k" <"$W/load/$i" >/dev/null && LOADED=$((LOADED + 1))
done <"$W/load/keys"
for j in $(seq 1 20); do
	etcdctl --endpoints "$E" put "/registry/secrets/plain/s$j" "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s$j\"}}" >/dev/null
done
etcdctl --endpoints "$E" del /registry/secrets/plain/s1 >/dev/null
etcdctl --endpoints "$E" put /registry/configmaps/default/cm '{"kind":"ConfigMap","apiVersion":"v1"}' >/dev/null
OWNCFG=$FX/configs/all-providers.yaml
KR=$FX/fake-kms.json
t_exit 0 "own etcd: rewrite everything to the config's write key first" \
	"$BIN" rewrite --endpoints "$E" --config "$OWNCFG" --kms-keyring "$KR"
etcdctl --endpoints "$E" snapshot save "$W/own.db" >/dev/null 2>&1
t_exit 0 "own snapshot ($LOADED vector values + 19 plaintext) verifies clean" \
	"$BIN" backup verify "$W/own.db" --config "$OWNCFG" --kms-keyring "$KR" -o json
python3 - "$T_OUT" "$LOADED" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); n = int(sys.argv[2]) + 19
sec = {r["resource"]: r for r in a["configs"][0]["resources"]}["secrets"]
labels = {(p["provider"], p["key_name"]) for p in sec["providers"]}
ok = a["trailer"]["matches"] and sec["total"] == n and sec["readable"] == n and a["ok"] and a["format"] == "snapshot" \
    and labels == {("aescbc", "key-2025")} and sec["stale"] == 0
print(("ok" if ok else "not ok") + f" - {sec['total']} secrets, {sec['readable']} readable, stale {sec['stale']}, {labels}, want {n} under aescbc:key-2025")
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then t_pass "own snapshot after rewrite: every value readable under the write key, hash matches"; else t_fail "own snapshot after rewrite: every value readable under the write key, hash matches"; fi

# raw member db: stop our etcd by its PID, copy its db, then clean up
kill "$ETCD_BK_PID" 2>/dev/null; wait "$ETCD_BK_PID" 2>/dev/null
cp "$ETCD_BK_DIR/data/member/snap/db" "$W/member.db"
etcd_stop bk
t_exit 0 "raw member db: verifies" "$BIN" backup verify "$W/member.db" --config "$OWNCFG" --kms-keyring "$KR"
t_stderr_has "no SHA-256 trailer" "raw member db: 'no trailer' note"
t_stdout_has "raw db file" "raw member db: said in the report"
head -c -32 "$W/own.db" >"$W/stripped.db"
t_exit 0 "snapshot with its trailer stripped: verifies" "$BIN" backup verify "$W/stripped.db" --config "$OWNCFG" --kms-keyring "$KR"
t_stderr_has "no SHA-256 trailer" "stripped trailer: note"

# one byte flipped in the middle of the data
SIZE=$(stat -c %s "$W/own.db")
cp "$W/own.db" "$W/flipped.db"
python3 - "$W/flipped.db" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
# a byte inside a stored value: the largest run of non-zero bytes after the metas
off = len(b) // 2
b[off] ^= 0x01
open(p, "wb").write(b)
PY
t_exit 1 "one byte flipped: exit 1" "$BIN" backup verify "$W/flipped.db" --config "$OWNCFG" --kms-keyring "$KR"
t_stderr_has "does not match" "one byte flipped: hash mismatch said"
t_stderr_one_line "one byte flipped: one line on stderr"

head -c $((SIZE / 2)) "$W/own.db" >"$W/trunc.db"
t_exit 1 "truncated: exit 1" "$BIN" backup verify "$W/trunc.db" --config "$OWNCFG"
t_stderr_has "truncated: reading stopped at offset $((SIZE / 2))" "truncated: offset named"
t_stderr_one_line "truncated: one line on stderr"

# the root bucket's page gets bad flags
cp "$W/own.db" "$W/badpage.db"
PG=$(python3 - "$W/badpage.db" <<'PY'
import sys, struct
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
ps = struct.unpack_from("<I", b, 24)[0]; root = struct.unpack_from("<Q", b, 32)[0]
struct.pack_into("<H", b, root * ps + 8, 0x00ff)
open(p, "wb").write(b)
print(root)
PY
)
t_exit 1 "corrupted page: exit 1" "$BIN" backup verify "$W/badpage.db" --config "$OWNCFG"
t_stderr_has "page $PG at offset" "corrupted page: page id and offset named"
t_stderr_has "SHA-256 trailer does not match" "corrupted page: hash mismatch mentioned"
t_stderr_one_line "corrupted page: one line on stderr"

# ---- usage ----------------------------------------------------------------------
t_exit 0 "backup --help lists verbs" "$BIN" backup --help
t_stdout_has "verify" "backup --help: verify"
t_exit 0 "backup verify --help" "$BIN" backup verify --help
t_exit 2 "backup without a verb: exit 2" "$BIN" backup
t_exit 2 "unknown verb: exit 2" "$BIN" backup frobnicate
t_exit 2 "verify without a file: exit 2" "$BIN" backup verify
t_exit 2 "--all with --resources: exit 2" "$BIN" backup verify "$SNAP" --all --resources secrets
t_exit 2 "bad config: exit 2" "$BIN" backup verify "$SNAP" --config "$W/flipped.db"
t_exit 3 "missing file: exit 3" "$BIN" backup verify "$W/nonexistent.db"

# ---- a resource the file does not hold is no clean bill (issue 9 item 4) ------
t_exit 0 "classify only, secrets: exit 0" "$BIN" backup verify "$SNAP"
t_exit 1 "--resources secret (typo): exit 1, not restorable-looking" "$BIN" backup verify "$SNAP" --resources secret
t_stderr_has "etcdcrypt backup verify: no key under '/registry/secret/' (resource 'secret'; did you mean 'secrets'?)" "typo: the empty prefix is named"
t_exit 1 "--etcd-prefix /registr: exit 1" "$BIN" backup verify "$SNAP" --etcd-prefix /registr -o json
t_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["empty_prefixes"])' "$T_OUT")" "['/registr/secrets/']" "JSON: empty_prefixes"
t_exit 1 "--all --etcd-prefix /registr: exit 1" "$BIN" backup verify "$SNAP" --all --etcd-prefix /registr
t_stderr_has "no key at all under '/registr/' (check --etcd-prefix)" "--all: the empty etcd prefix is named"
t_exit 0 "--resources secret --allow-empty: exit 0" "$BIN" backup verify "$SNAP" --resources secret --allow-empty
t_done
