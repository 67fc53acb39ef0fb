#!/usr/bin/env bash
# tests/valgrind-cli.sh (part of `make valgrind`): every command once under
# valgrind against a real etcd restored from the reference snapshot. Fails on
# any memory error or definite/indirect leak (valgrind exit 99); the
# commands' own exit statuses are checked too.
set -u
cd "$(dirname "$0")/.."
source tests/lib/etcd.sh
source tests/lib/kms.sh
trap 'kms_stop_all; etcd_stop_all; rm -rf "$ETCD_TMP"' EXIT
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
ETCD_RESTORE=$FX/snapshot.db etcd_start vg plain || exit 3
E=$ETCD_VG_ENDPOINT
# everything runs 20-50 times slower under valgrind: deadlines sized for that
# (the defaults, 2 s to dial and 5 s per request, are for real runs)
export ETCDCTL_DIAL_TIMEOUT=30s ETCDCTL_COMMAND_TIMEOUT=60s
VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
    --suppressions=tests/valgrind.supp)
passed=0
failed=0
check() { # WANT_STATUS NAME ARGS...
	local want=$1 name=$2 rc
	shift 2
	"${VG[@]}" "$BIN" "$@" >/dev/null 2>"$ETCD_TMP/vg.err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		echo "not ok - $name: exit $rc, expected $want"
		sed 's/^/    /' "$ETCD_TMP/vg.err" | head -40
	fi
}
C=$FX/configs
check 1 "audit --history --list-keys -o json" audit --endpoints "$E" --config "$C/multi-key.yaml" --history --list-keys -o json
check 0 "audit --all" audit --endpoints "$E" --all
check 1 "get an unreadable value" get --endpoints "$E" /registry/secrets/default/bootstrap-token-jj4doe-copy --config "$C/multi-key.yaml"
check 1 "rewrite with KMS keyring" rewrite --endpoints "$E" --config "$C/all-providers.yaml" --kms-keyring "$FX/fake-kms.json"
check 1 "status" status --endpoints "$E" --node "a=$C/all-providers.yaml" --node "b=$C/multi-key.yaml"
check 1 "backup verify --history" backup verify "$FX/snapshot.db" --config "$C/multi-key.yaml" --history
check 1 "config check" config check "$C/aescbc.yaml" --endpoints "$E"
check 3 "dead endpoint" get --endpoints 127.0.0.1:1 /x
check 2 "bad config" audit --endpoints "$E" --config /etc/hostname
# KMS through real plugin processes (the snapshot's old-kms value, then a
# rewrite into KMS v2: Status, Encrypt, cached verify reads)
kms_start old old-kms v2 || exit 3
kms_start cloud cloud-kms v2 || exit 3
{ sed '/identity: {}/d' "$C/multi-key.yaml"; printf '      - kms:\n          apiVersion: v2\n          name: old-kms\n          endpoint: unix:///x.sock\n      - identity: {}\n'; } > "$ETCD_TMP/old.yaml"
{ sed -n '1,/providers:/p' "$C/multi-key.yaml"; printf '      - kms:\n          apiVersion: v2\n          name: cloud-kms\n          endpoint: unix:///x.sock\n'; sed '1,/providers:/d' "$ETCD_TMP/old.yaml"; } > "$ETCD_TMP/to-kms.yaml"
KEP=(--kms-endpoint "old-kms=unix://$KMS_OLD_SOCK" --kms-endpoint "cloud-kms=unix://$KMS_CLOUD_SOCK")
check 1 "audit through KMS plugins" audit --endpoints "$E" --config "$ETCD_TMP/old.yaml" "${KEP[@]}" -o json
check 1 "rewrite into KMS v2 through a plugin" rewrite --endpoints "$E" --config "$ETCD_TMP/to-kms.yaml" "${KEP[@]}"
check 1 "audit with a plugin that is not there" audit --endpoints "$E" --config "$ETCD_TMP/to-kms.yaml" --kms-endpoint "cloud-kms=unix://$ETCD_TMP/none.sock"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
