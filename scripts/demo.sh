#!/usr/bin/env bash
# make demo: the whole encryption-at-rest workflow on a throwaway etcd on a
# loopback port: 500 plaintext Secrets, three control-plane node configs,
# the HPE Cray CSM enable procedure step by step with `status` after each
# step, a proof by decryption before every config change, the rewrite, the
# history that still holds plaintext, a backup check, and the disable path.
# Everything lives in a temporary directory and is removed at the end; the
# etcd it starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/etcdcrypt
source tests/lib/etcd.sh
W=$(mktemp -d /tmp/etcdcrypt-demo.XXXXXX)
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$W"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { # show and run; a non-zero exit is part of the story, not a failure
	printf '$ %s\n' "$*" | sed "s|$W/||g; s|$BIN|etcdcrypt|g"
	set +e
	"$@"
	local rc=$?
	set -e
	echo "(exit $rc)"
}

step "a throwaway etcd on loopback with 500 plaintext Secrets (as an unencrypted cluster has them)"
etcd_start demo plain
E=$ETCD_DEMO_ENDPOINT
export ETCDCTL_ENDPOINTS=$E
build/bench/loadgen --endpoints "$E" --count 500 --config fixtures/k8s-vectors/configs/identity-only.yaml --size 1500
mkdir -p "$W/nodes"
for n in ncn-m001 ncn-m002 ncn-m003; do
	"$BIN" config disable -o "$W/nodes/$n.yaml" >/dev/null
done

step "status: every node and every secret on identity (consistent: exit 0)"
run "$BIN" status --nodes-dir "$W/nodes"

step "make a key (never on the command line) and the config CSM's --enable would write"
run "$BIN" config generate-key -o "$W/k1.key"
run "$BIN" config enable --aescbc "$W/k1.key" -o "$W/enable.yaml"

step "prove the new config reads every stored value before deploying it"
run "$BIN" config check "$W/enable.yaml"

step "deploy it on one node: the nodes disagree, goal unknown (exit 1)"
rm "$W/nodes/ncn-m001.yaml"
cp "$W/enable.yaml" "$W/nodes/ncn-m001.yaml"
run "$BIN" status --nodes-dir "$W/nodes"

step "rewrite refuses while the nodes disagree (some apiserver could not read the new values)"
run "$BIN" rewrite --config "$W/enable.yaml" --node-config "ncn-m001=$W/nodes/ncn-m001.yaml" \
	--node-config "ncn-m002=$W/nodes/ncn-m002.yaml" --node-config "ncn-m003=$W/nodes/ncn-m003.yaml"

step "deploy it on all nodes: goal set, secrets still plaintext (exit 1: a rewrite is needed)"
for n in ncn-m002 ncn-m003; do rm "$W/nodes/$n.yaml"; cp "$W/enable.yaml" "$W/nodes/$n.yaml"; done
run "$BIN" status --nodes-dir "$W/nodes"

step "rewrite every secret under the new key (dry run first)"
NODES=()
for n in ncn-m001 ncn-m002 ncn-m003; do NODES+=(--node-config "$n=$W/nodes/$n.yaml"); done
run "$BIN" rewrite --config "$W/enable.yaml" "${NODES[@]}" --dry-run
run "$BIN" rewrite --config "$W/enable.yaml" "${NODES[@]}"

step "status: consistent (exit 0)"
run "$BIN" status --nodes-dir "$W/nodes"

step "audit with history: the old plaintext revisions are still in etcd"
run "$BIN" audit --config "$W/enable.yaml" --history

step "one value up close (no secret data shown without --show-data)"
KEY=$(etcdctl get --prefix /registry/secrets/ --keys-only --limit 1 | head -1)
run "$BIN" get "$KEY" --config "$W/enable.yaml"

step "purge the history: compact at the current revision, defragment"
REV=$(etcdctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
run etcdctl compact "$REV"
run etcdctl defrag
run "$BIN" audit --config "$W/enable.yaml" --history

step "a backup, checked offline: does it restore readable, and with which keys?"
etcdctl snapshot save "$W/backup.db" >/dev/null 2>&1
run "$BIN" backup verify "$W/backup.db" --config "$W/enable.yaml"

step "disable, the safe way: identity first but keep the key, rewrite, then drop the key"
run "$BIN" config disable -o "$W/identity-only.yaml"
run "$BIN" config check "$W/identity-only.yaml"
run "$BIN" config disable --aescbc "$W/k1.key" -o "$W/disable.yaml"
for n in ncn-m001 ncn-m002 ncn-m003; do rm "$W/nodes/$n.yaml"; cp "$W/disable.yaml" "$W/nodes/$n.yaml"; done
run "$BIN" rewrite --config "$W/disable.yaml" "${NODES[@]}"
run "$BIN" config check "$W/identity-only.yaml"
run "$BIN" status --nodes-dir "$W/nodes"
echo
echo "demo done: the etcd, its data and every key file are removed now."
