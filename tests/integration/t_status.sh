#!/usr/bin/env bash
# t_status: the HPE Cray CSM encryption procedure end to end against a real
# etcd, with three control-plane node configs (ncn-m001..3 in a nodes dir):
# all identity -> enable on one node -> enable on all -> rewrite ->
# consistent -> disable keeping the key -> rewrite -> disable fully, with
# `config check` refusing the unsafe step (dropping the key before the
# rewrite) and `status` exit codes at each step. Also the config verbs'
# file rules (0600, no overwrite, keys from files/stdin, CSM names).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

etcd_start status plain || exit 1
E=$ETCD_STATUS_ENDPOINT
D=$ETCD_TMP/csm
mkdir -p "$D/nodes"
NODES=("ncn-m001" "ncn-m002" "ncn-m003")

# 50 secrets stored as the apiserver stores them without encryption (JSON)
python3 - "$E" <<'PY'
import subprocess, sys
ep = sys.argv[1]
ops = "".join(f'put /registry/secrets/ns{j%5}/s{j:03d} "{{\\"kind\\":\\"Secret\\",\\"apiVersion\\":\\"v1\\",\\"metadata\\":{{\\"name\\":\\"s{j:03d}\\",\\"namespace\\":\\"ns{j%5}\\"}},\\"data\\":{{\\"k\\":\\"dmFsdWU=\\"}}}}"\n' for j in range(50))
subprocess.run(["etcdctl", "--endpoints", ep, "txn"], input="\n" + ops + "\n\n", check=True, capture_output=True, text=True)
PY

# the key: a fixed known 32-byte string in a file, with a trailing newline
KEY=etcdcrypt-csm-test-key-32-bytes!
printf '%s\n' "$KEY" > "$D/k1.key"
NAME="aescbc-$(echo "$KEY" | sha256sum | awk '{print $1}')"
B64=$(printf '%s' "$KEY" | base64)

status() { "$BIN" status --nodes-dir "$D/nodes" --endpoints "$E" "$@"; }
install_all() { # CONFIG: what encryption.sh does on every node
	for n in "${NODES[@]}"; do cp "$1" "$D/nodes/$n.yaml"; done
}

# ---- config verbs ---------------------------------------------------------------
t_exit 0 "config disable with no key: identity only" "$BIN" config disable -o "$D/identity.yaml"
t_eq "$(stat -c %a "$D/identity.yaml")" 600 "generated config is 0600"
t_exit 3 "an existing output file is never overwritten" "$BIN" config disable -o "$D/identity.yaml"
t_stderr_has "exists" "refusal says the file exists"
t_exit 0 "config enable --aescbc KEYFILE" "$BIN" config enable --aescbc "$D/k1.key" -o "$D/enable.yaml"
t_stdout_has "$D/enable.yaml: $NAME identity" "summary shows the CSM name, then identity"
if grep -qxF "            - name: \"$NAME\"" "$D/enable.yaml" && grep -qxF "              secret: \"$B64\"" "$D/enable.yaml"; then
	t_pass "config holds name = provider-sha256(key+newline) and secret = base64(key)"
else
	t_fail "config holds the CSM name and secret" "$(cat "$D/enable.yaml")"
fi
t_exit 0 "config enable --aescbc - (stdin) to stdout" "$BIN" config enable --aescbc - -o - <"$D/k1.key"
if cmp -s "$T_OUT" "$D/enable.yaml"; then t_pass "stdin key gives the same config"; else t_fail "stdin key gives the same config"; fi
printf 'tooshort\n' > "$D/short.key"
t_exit 2 "wrong key length: exit 2" "$BIN" config enable --aesgcm "$D/short.key" -o "$D/bad.yaml"
t_stderr_has "$D/short.key" "the error names the key file"
t_stderr_has "16, 24 or 32" "the error gives the allowed lengths"
t_exit 2 "a key on the command line is not a key file" "$BIN" config enable --aescbc "$KEY" -o "$D/bad2.yaml"
t_exit 2 "enable without a key: usage error" "$BIN" config enable -o "$D/bad3.yaml"
t_exit 0 "generate-key" "$BIN" config generate-key -o "$D/gen.key"
t_eq "$(stat -c %a "$D/gen.key")" 600 "generated key file is 0600"
if head -c 32 "$D/gen.key" | grep -qE '^[A-Za-z0-9]{32}$' && [ "$(wc -c <"$D/gen.key")" -eq 33 ]; then
	t_pass "generated key: 32 letters/digits and a newline"
else
	t_fail "generated key: 32 letters/digits and a newline"
fi
t_stdout_lacks "$(head -c 32 "$D/gen.key")" "generate-key does not print the key"
t_exit 0 "a generated key makes a valid secretbox config" "$BIN" config enable --secretbox "$D/gen.key" -o "$D/sb.yaml"
t_exit 3 "generate-key never overwrites" "$BIN" config generate-key --bytes 16 -o "$D/gen.key"
t_exit 0 "config --help lists the verbs" "$BIN" config --help
t_stdout_has "generate-key" "help lists generate-key"
t_stdout_has "check" "help lists check"

# ---- the CSM procedure ------------------------------------------------------------
install_all "$D/identity.yaml"
t_exit 0 "1. all identity: status exit 0" status
t_stdout_has "k8s encryption status" "CSM header"
t_stdout_has "ncn-m002: identity" "node line"
t_stdout_has "current: identity" "current identity"
t_stdout_has "goal: identity" "goal identity"
t_stdout_has "etcd: identity (50)" "etcd: identity with its count"

cp "$D/enable.yaml" "$D/nodes/ncn-m001.yaml"
t_exit 1 "2. enabled on one node: status exit 1" status
t_stdout_has "ncn-m001: $NAME identity" "node m001 lists the key, then identity"
t_stdout_has "goal: unknown (ncn-m001 writes $NAME; ncn-m002, ncn-m003 write identity)" "goal unknown, says which nodes differ"

install_all "$D/enable.yaml"
t_exit 1 "3. enabled on all nodes, not rewritten: status exit 1" status
t_stdout_has "goal: $NAME" "goal is the new key"
t_stdout_has "current: identity" "current still identity"
t_exit 1 "status -o json" status -o json
R=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["goal"], d["current"], d["consistent"], d["total"])' "$T_OUT")
t_eq "$R" "$NAME identity False 50" "json: goal, current, consistent, total"

t_exit 0 "4. rewrite to the key" "$BIN" rewrite --config "$D/enable.yaml" --endpoints "$E"
t_exit 0 "5. after the rewrite: consistent, exit 0" status
t_stdout_has "current: $NAME" "current is the key"
t_stdout_has "etcd: $NAME (50)" "every secret under the key"
t_exit 0 "--node NAME=CONFIG form" "$BIN" status --node "a=$D/enable.yaml" --node "b=$D/enable.yaml" --endpoints "$E"

# the unsafe step: dropping the key before the rewrite back to identity
t_exit 1 "6. config check refuses disabling fully while secrets are encrypted" \
	"$BIN" config check "$D/identity.yaml" --endpoints "$E" --node-config "$D/nodes/ncn-m001.yaml"
t_stdout_has "REFUSED" "refusal verdict"
t_stdout_has "$NAME" "refusal names the key name"
t_stdout_has "/registry/secrets/ns0/s000" "refusal lists etcd keys"
t_stderr_has "warning:" "warns that the proposed write key differs from the node's"
t_exit 1 "status read under the unsafe config: unreadable, exit 1" status --config "$D/identity.yaml"
t_stdout_has "unreadable: $D/identity.yaml: 50" "unreadable values are counted"
# a backup taken now holds encrypted secrets: keep it for step 9
etcdctl --endpoints "$E" snapshot save "$D/encrypted.db" >/dev/null 2>&1
t_exit 0 "config check --backup: the key's config reads the backup" \
	"$BIN" config check "$D/enable.yaml" --backup "$D/encrypted.db" --endpoints "$E"
t_stdout_has "backup $D/encrypted.db: 50 values" "the backup's live secrets are counted"
t_exit 3 "config check --backup of a missing file: exit 3" \
	"$BIN" config check "$D/enable.yaml" --backup "$D/missing.db" --endpoints "$E"

t_exit 0 "7. disable keeping the key" "$BIN" config disable --aescbc "$D/k1.key" -o "$D/disable.yaml"
t_stdout_has "$D/disable.yaml: identity $NAME" "identity first, then the key"
t_exit 0 "config check: disabling with the key kept is safe" "$BIN" config check "$D/disable.yaml" --endpoints "$E"
t_stdout_has "verdict: safe" "safe verdict"
install_all "$D/disable.yaml"
t_exit 1 "disabled, not rewritten: status exit 1" status
t_stdout_has "goal: identity" "goal identity"
t_stdout_has "current: $NAME" "current still the key"

t_exit 0 "8. rewrite to identity" "$BIN" rewrite --config "$D/disable.yaml" --endpoints "$E"
t_exit 0 "after the rewrite: consistent" status
t_stdout_has "current: identity" "current identity"

t_exit 0 "9. config check: disabling fully is safe now" "$BIN" config check "$D/identity.yaml" --endpoints "$E"
t_exit 1 "... but not if the encrypted backup must stay restorable" \
	"$BIN" config check "$D/identity.yaml" --endpoints "$E" --backup "$D/encrypted.db"
t_stdout_has "verdict: REFUSED: 0 values in etcd and 50 in the backups" "refused for the backup alone"
t_exit 0 "the config keeping the key keeps the backup readable" \
	"$BIN" config check "$D/disable.yaml" --endpoints "$E" --backup "$D/encrypted.db"
install_all "$D/identity.yaml"
t_exit 0 "disabled fully: status exit 0" status
t_stdout_has "etcd: identity (50)" "all 50 secrets plaintext again"

# ---- errors ---------------------------------------------------------------------------
t_exit 1 "status without nodes and no published record: exit 1" "$BIN" status --endpoints "$E"
t_stderr_has "no node has published a record" "says that no node is known"
t_exit 2 "status with a broken node config: exit 2" "$BIN" status --node "x=$D/k1.key" --endpoints "$E"
t_exit 3 "status against a dead etcd: exit 3" "$BIN" status --nodes-dir "$D/nodes" --endpoints "127.0.0.1:$(free_port)"

t_done
