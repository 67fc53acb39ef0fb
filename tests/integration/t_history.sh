#!/usr/bin/env bash
# t_history: `audit --history` counts the retained history exactly.
#  1. --etcd-prefix with a trailing slash behaves as without (issue 9 item 6).
set -u
cd "$(dirname "$0")/../.."
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

t_done
