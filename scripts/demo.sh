#!/usr/bin/env bash
# make demo: the whole encryption-at-rest workflow on a throwaway etcd on a
# loopback port: 500 plaintext Secrets, three control-plane node configs,
# the HPE Cray CSM enable procedure step by step with `status` after each
# step, a proof by decryption before every config change, the rewrite, the
# history that still holds plaintext, a backup check, and the disable path;
# then the node system (enable/disable per node, controllers, restart) on
# three simulated nodes with config dirs of their own.
# Everything lives in a temporary directory and is removed at the end; the
# etcd it starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/etcdcrypt
source tests/lib/etcd.sh
W=$(mktemp -d /tmp/etcdcrypt-demo.XXXXXX)
CTL_PIDS=()
trap 'for p in "${CTL_PIDS[@]}"; do kill "$p" 2>/dev/null; done; etcd_stop_all; rm -rf "$ETCD_TMP" "$W"' EXIT

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
KEY=$(etcdctl get --prefix /registry/secrets/ --keys-only --limit 1 | sed -n 1p)
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

# ---- the node system ------------------------------------------------------------------
M=$W/m
mkdir -p "$M"
on() { # NODE VERB ARGS...: run on a simulated control-plane node (its own config dir)
	local n=$1 verb=$2
	shift 2
	run "$BIN" "$verb" "$@" --node "$n" --dir "$M/$n" --restart-cmd 'echo "(simulated) kube-apiserver restarted on $ETCDCRYPT_NODE"'
}
wait_consistent() { # status until exit 0 (the controllers work in the background)
	for _ in $(seq 1 120); do
		"$BIN" status --expect-nodes ncn-m001,ncn-m002,ncn-m003 >/dev/null 2>&1 && break
		sleep 0.5
	done
	run "$BIN" status --expect-nodes ncn-m001,ncn-m002,ncn-m003
}

step "the node system: the same procedure, each node for itself, no key ever leaving its node"
echo "three simulated control-plane nodes, each with its own $M/<node>/current.yaml; each runs a controller"
for n in ncn-m001 ncn-m002 ncn-m003; do
	on "$n" disable >/dev/null
	"$BIN" controller --node "$n" --dir "$M/$n" --lock-ttl 5 > "$W/controller-$n.log" 2>&1 &
	CTL_PIDS+=($!)
done
run "$BIN" status --expect-nodes ncn-m001,ncn-m002,ncn-m003

step "encryption.sh --enable on one node: etcdcrypt enable (checked, installed, published, restarted)"
run "$BIN" config generate-key -o "$W/k2.key"
on ncn-m001 enable --aescbc "$W/k2.key"
run "$BIN" status --expect-nodes ncn-m001,ncn-m002,ncn-m003

step "the same on the other nodes: once all agree, one controller takes the lock and rewrites"
on ncn-m002 enable --aescbc "$W/k2.key"
on ncn-m003 enable --aescbc "$W/k2.key"
wait_consistent

step "encryption.sh --restart: a forced rewrite by the running controllers"
run "$BIN" restart --timeout 120

step "dropping the key on a node while secrets still need it is refused, nothing changes"
on ncn-m001 disable

step "disable keeping the key on every node; the controllers rewrite back to plaintext"
for n in ncn-m001 ncn-m002 ncn-m003; do on "$n" disable --aescbc "$W/k2.key"; done
wait_consistent

step "now the key can go: disable on every node"
for n in ncn-m001 ncn-m002 ncn-m003; do on "$n" disable; done
wait_consistent

step "what the nodes published in etcd: key names, never keys"
run etcdctl get --prefix /etcdcrypt/nodes/ --print-value-only

step "the controllers' logs"
for p in "${CTL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
CTL_PIDS=()
for n in ncn-m001 ncn-m002 ncn-m003; do echo "--- $n"; cat "$W/controller-$n.log"; done
echo
echo "demo done: the etcd, its data and every key file are removed now."
