#!/usr/bin/env bash
# t_inputs: hostile or mistaken inputs fail fast with a clear message and the
# documented exit status: FIFOs, directories and devices where a file is
# expected (they must never hang), missing files, typos.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

etcd_start iplain plain || exit 1
P=$ETCD_IPLAIN_ENDPOINT
D=$ETCD_TMP
CFG=$FX/configs/aescbc.yaml

# t_fast EXPECTED "what" CMD...: like t_exit, under a 20 s timeout (exit 124 = it hung)
t_fast() {
	local want=$1 what=$2
	shift 2
	t_exit "$want" "$what" timeout 20 "$@"
}

# ---- non-regular files (issue 9 item 9) -------------------------------------
mkfifo "$D/fifo"
mkdir -p "$D/nodes" "$D/adir"
cp "$CFG" "$D/nodes/ncn-m001"
mkfifo "$D/nodes/ncn-m002"
printf '0123456789abcdef0123456789abcdef\n' > "$D/k.key"

t_fast 3 "backup verify FIFO: exit 3, no hang" "$BIN" backup verify "$D/fifo"
t_stderr_has "snapshot '$D/fifo' is a FIFO, not a regular file" "backup verify FIFO: says so"
t_stderr_one_line "backup verify FIFO: one line"
t_fast 3 "backup verify directory: exit 3" "$BIN" backup verify "$D/adir"
t_stderr_has "is a directory, not a regular file" "backup verify directory: says so"
t_fast 3 "backup verify /dev/null: exit 3" "$BIN" backup verify /dev/null
t_stderr_has "is a character device" "backup verify device: says so"
t_fast 2 "backup verify --config FIFO: exit 2" "$BIN" backup verify "$D/adir" --config "$D/fifo"
t_stderr_has "config '$D/fifo' is a FIFO" "backup verify --config FIFO: says so"

t_fast 2 "audit --config FIFO: exit 2, no hang" "$BIN" audit --endpoints "$P" --config "$D/fifo"
t_stderr_has "config '$D/fifo' is a FIFO, not a regular file" "audit --config FIFO: says so"
t_stderr_one_line "audit --config FIFO: one line"
t_fast 2 "audit --config directory: exit 2 (docs/exit-codes.md)" "$BIN" audit --endpoints "$P" --config "$D/adir"
t_stderr_has "config '$D/adir' is a directory, not a regular file" "audit --config directory: says so"
t_fast 2 "audit --config missing: exit 2 (docs/exit-codes.md)" "$BIN" audit --endpoints "$P" --config "$D/nope.yaml"
t_stderr_has "cannot open config '$D/nope.yaml': No such file or directory" "audit --config missing: says so"
t_fast 2 "audit --config /dev/zero: exit 2" "$BIN" audit --endpoints "$P" --config /dev/zero
t_fast 2 "rewrite --config FIFO: exit 2" "$BIN" rewrite --endpoints "$P" --config "$D/fifo"
t_fast 2 "rewrite --node-config FIFO: exit 2" "$BIN" rewrite --endpoints "$P" --config "$CFG" --node-config "m2=$D/fifo"
t_fast 2 "get --config FIFO: exit 2" "$BIN" get --endpoints "$P" --config "$D/fifo" /registry/secrets/a/b
t_fast 2 "config check FIFO: exit 2" "$BIN" config check --endpoints "$P" "$D/fifo"
t_fast 3 "config check --backup FIFO: exit 3" "$BIN" config check --endpoints "$P" "$CFG" --backup "$D/fifo"
t_stderr_has "is a FIFO, not a regular file" "config check --backup FIFO: says so"
t_fast 2 "--kms-keyring FIFO: exit 2" "$BIN" audit --endpoints "$P" --kms-keyring "$D/fifo"
t_stderr_has "KMS keyring '$D/fifo' is a FIFO" "--kms-keyring FIFO: says so"
t_fast 2 "--cacert FIFO: exit 2" "$BIN" audit --endpoints "$P" --cacert "$D/fifo"
t_stderr_has "'$D/fifo' is a FIFO" "--cacert FIFO: says so"
t_fast 2 "config enable key file FIFO: exit 2" "$BIN" config enable --aescbc "$D/fifo" -o "$D/out.yaml"
t_stderr_has "key file '$D/fifo' is a FIFO, not a regular file" "key file FIFO: says so"
t_fast 2 "config enable key file directory: exit 2" "$BIN" config enable --aescbc "$D/adir" -o "$D/out.yaml"
t_fast 0 "config enable: key on stdin (a pipe) still works" sh -c "printf '0123456789abcdef0123456789abcdef' | '$BIN' config enable --aescbc - -o '$D/out.yaml'"
t_fast 2 "status --nodes-dir with a FIFO in it: exit 2, no hang" "$BIN" status --endpoints "$P" --nodes-dir "$D/nodes"
t_stderr_has "node ncn-m002: config '$D/nodes/ncn-m002' is a FIFO, not a regular file" "status --nodes-dir FIFO: names the node and file"
t_fast 2 "status --nodes-dir FIFO itself: exit 2" "$BIN" status --endpoints "$P" --nodes-dir "$D/fifo"
t_stderr_has "Not a directory" "status --nodes-dir FIFO itself: says so"

# ---- messages (issue 9 item 13) ----------------------------------------------
# the etcd is still empty: its revision is 1, never "revision 0"
REV=$(etcdctl --endpoints "$P" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
t_eq "$REV" 1 "empty etcd is at revision 1"
t_run "$BIN" audit --endpoints "$P" --history
t_stdout_has "revision 1 at $P" "empty audit: the etcd's revision, not 0"
t_stdout_lacks "oldest at revision 0" "empty history: no 'oldest at revision 0'"
t_run "$BIN" rewrite --endpoints "$P" --config "$CFG"
t_stdout_has "at revisions 1..1 in" "empty rewrite: revisions 1..1, not 0..0"
t_run "$BIN" status --endpoints "$P" --node "m1=$CFG"
t_stdout_has "revision: 1" "empty status: revision 1"
t_run "$BIN" config check --endpoints "$P" "$CFG"
t_stdout_has "0 values at revision 1:" "empty config check: revision 1"

t_fast 2 "config enable, missing key file: exit 2" "$BIN" config enable --aescbc "$D/nokey" -o "$D/out2.yaml"
t_stderr_has "etcdcrypt config enable: cannot open key file '$D/nokey'" "config enable: says 'config enable' once"
t_fast 2 "config disable, missing key file: exit 2" "$BIN" config disable --aescbc "$D/nokey" -o "$D/out2.yaml"
if grep -q "config config" "$T_ERR"; then t_fail "config disable: no doubled word"; else t_pass "config disable: no doubled word"; fi
printf 'hi\n' > "$D/tiny.db"
t_fast 3 "config check --backup tiny file: exit 3" "$BIN" config check --endpoints "$P" "$CFG" --backup "$D/tiny.db"
t_stderr_has "backup '$D/tiny.db': 3 bytes: too short for a bbolt database" "config check --backup: names the file once"
t_eq "$(grep -o "tiny.db" "$T_ERR" | wc -l)" 1 "config check --backup: file name not doubled"
t_fast 1 "backup verify tiny file: exit 1" "$BIN" backup verify "$D/tiny.db"
t_eq "$(grep -o "tiny.db" "$T_ERR" | wc -l)" 1 "backup verify: file name not doubled"
t_fast 3 "config check --backup missing: exit 3" "$BIN" config check --endpoints "$P" "$CFG" --backup "$D/nope.db"
t_eq "$(grep -o "nope.db" "$T_ERR" | wc -l)" 1 "config check --backup missing: file name not doubled"

# ---- a scan that finds nothing is no all-clear (issue 9 item 4) ---------------
printf '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"a","namespace":"default"}}' |
	etcdctl --endpoints "$P" put /registry/secrets/default/a >/dev/null
t_fast 0 "audit --resources secrets (one plaintext secret): exit 0" "$BIN" audit --endpoints "$P" --resources secrets
t_fast 1 "audit --resources secret (typo): exit 1" "$BIN" audit --endpoints "$P" --resources secret
t_stderr_has "etcdcrypt audit: no key under '/registry/secret/' (resource 'secret'; did you mean 'secrets'?)" "typo: the empty prefix is named, with the likely name"
t_fast 1 "audit --resources secrets,configmap: exit 1" "$BIN" audit --endpoints "$P" --resources secrets,configmap
t_stderr_has "no key under '/registry/configmap/' (resource 'configmap'; did you mean 'configmaps'?)" "only the empty one is named"
if grep -q "'/registry/secrets/'" "$T_ERR"; then t_fail "the non-empty prefix is not named"; else t_pass "the non-empty prefix is not named"; fi
t_fast 1 "audit -o json --resources secret: exit 1" "$BIN" audit --endpoints "$P" --resources secret -o json
t_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["empty_prefixes"])' "$T_OUT")" "['/registry/secret/']" "audit JSON: empty_prefixes"
t_fast 0 "audit --allow-empty --resources secret: exit 0" "$BIN" audit --endpoints "$P" --resources secret --allow-empty
t_fast 1 "audit --all --etcd-prefix /registr: exit 1" "$BIN" audit --endpoints "$P" --all --etcd-prefix /registr
t_stderr_has "no key at all under '/registr/' (check --etcd-prefix)" "--etcd-prefix typo: named"
t_fast 1 "audit --config with a typo'd --etcd-prefix: exit 1, not 'all 0 values readable'" "$BIN" audit --endpoints "$P" --config "$FX/configs/identity-first.yaml" --etcd-prefix /registr
t_fast 0 "audit --all: exit 0" "$BIN" audit --endpoints "$P" --all
t_fast 1 "rewrite --resources secret: exit 1" "$BIN" rewrite --endpoints "$P" --config "$CFG" --resources secret
t_stderr_has "etcdcrypt rewrite: no key under '/registry/secret/'" "rewrite: the empty prefix is named"
t_fast 1 "rewrite --dry-run --etcd-prefix /registr: exit 1" "$BIN" rewrite --endpoints "$P" --config "$CFG" --dry-run --etcd-prefix /registr
t_fast 0 "rewrite --allow-empty --resources secret: exit 0" "$BIN" rewrite --endpoints "$P" --config "$CFG" --resources secret --allow-empty -o json
t_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["empty_prefixes"])' "$T_OUT")" "['/registry/secret/']" "rewrite JSON: empty_prefixes (also with --allow-empty)"
t_fast 1 "status --etcd-prefix /registr: exit 1" "$BIN" status --endpoints "$P" --node "m1=$FX/configs/identity-only.yaml" --etcd-prefix /registr
t_stderr_has "etcdcrypt status: no key under '/registr/secrets/'" "status: the empty prefix is named"
t_fast 0 "status --etcd-prefix /registr --allow-empty: exit 0" "$BIN" status --endpoints "$P" --node "m1=$FX/configs/identity-only.yaml" --etcd-prefix /registr --allow-empty
t_fast 0 "status (one plaintext secret, identity everywhere): exit 0" "$BIN" status --endpoints "$P" --node "m1=$FX/configs/identity-only.yaml"
t_fast 1 "config check --etcd-prefix /registr: exit 1, not 'safe'" "$BIN" config check --endpoints "$P" "$CFG" --etcd-prefix /registr
t_stderr_has "etcdcrypt config check: no key under '/registr/secrets/'" "config check: the empty prefix is named"
t_stdout_lacks "verdict: safe" "config check: an empty prefix is not called safe"
t_stdout_has "verdict: REFUSED: 1 scanned prefix held no key" "config check: the verdict says why"
t_fast 0 "config check --etcd-prefix /registr --allow-empty: exit 0" "$BIN" config check --endpoints "$P" "$CFG" --etcd-prefix /registr --allow-empty
t_fast 0 "config check (one plaintext secret, readable under aescbc+identity): exit 0" "$BIN" config check --endpoints "$P" "$CFG"
t_stdout_has "verdict: safe" "config check: safe when the secret was read"

t_done
