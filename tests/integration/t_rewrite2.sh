#!/usr/bin/env bash
# t_rewrite2: rewrite's behaviour at etcd's limits — values too large once
# encrypted, runs stopped with Txns in flight, live writers, the quota guard.
# What etcdcrypt wrote is checked with openssl's command line (k8sdata.py).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
LOADGEN=${ETCDCRYPT_BUILD:-build}/bench/loadgen
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
CBC=$FX/configs/aescbc.yaml
IDENT=$FX/configs/identity-only.yaml
export PYTHONPATH=$PWD/tests/lib
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(*[d[k] for k in sys.argv[2:]])' "$@"; }

# --- 1. a value too large for etcd once encrypted (issue 9 item 7) ----------
# etcd with a 200 KB request limit: a 199,900-byte plaintext Secret fits, its
# aescbc form does not, and a 128-put batch holding it is over the limit too
ETCD_EXTRA_FLAGS="--max-request-bytes 200000" etcd_start rbig plain || exit 1
B=$ETCD_RBIG_ENDPOINT
"$LOADGEN" --endpoints "$B" --count 400 --config "$IDENT" --size 600 >/dev/null
BIGKEY=/registry/secrets/ns-07/secret-0000199x
python3 - "$B" "$BIGKEY" <<'PY'
import json, subprocess, sys
ep, key = sys.argv[1:3]
obj = lambda pad: json.dumps({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "big"}, "data": {"x": "A" * pad}}) + "\n"
v = obj(199900 - len(obj(0)))
subprocess.run(["etcdctl", "--endpoints", ep, "put", key], input=v.encode(), check=True, capture_output=True)
PY
python3 -c 'import k8sdata, json, sys; d = k8sdata.dump(sys.argv[1], "/registry/"); json.dump({k: v["value"].hex() for k, v in d.items()}, open(sys.argv[2], "w"))' "$B" "$ETCD_TMP/big-before.json"
for run in 1 2; do
	t_exit 1 "too large ($run): exit 1, the run goes on" "$BIN" rewrite --endpoints "$B" --config "$CBC" -o json
	cp "$T_OUT" "$ETCD_TMP/big$run.json"
	t_eq "$(jget "$ETCD_TMP/big$run.json" not_rewritable)" 1 "too large ($run): one value not rewritable"
	t_eq "$(python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["not_rewritable_keys"]; print(k[0]["etcd_key"], k[0]["reason"])' "$ETCD_TMP/big$run.json")" \
		"$BIGKEY too_large" "too large ($run): the key is named, reason too_large"
done
t_eq "$(jget "$ETCD_TMP/big1.json" rewritten stopped)" "400 None" "first run: the 400 others rewritten, not stopped"
t_eq "$(jget "$ETCD_TMP/big2.json" rewritten already_current)" "0 400" "rerun: nothing more to write, same verdict"
python3 - "$B" "$CBC" "$ETCD_TMP/big-before.json" "$BIGKEY" <<'PY'
import json, sys
import k8sdata
ep, cfg, bf, big = sys.argv[1:5]
before = {k: bytes.fromhex(v) for k, v in json.load(open(bf)).items()}
after = k8sdata.dump(ep, "/registry/")
keys = k8sdata.aescbc_keys(cfg)
bad = [k for k, v in before.items() if k != big and k8sdata.aescbc_decrypt(after[k]["value"], keys) != v]
ok = not bad and after[big]["value"] == before[big] and len(after) == 401
print(("ok" if ok else "not ok") + f" - {len(bad)} of 400 not aescbc with the old plaintext; big value untouched: {after[big]['value'] == before[big]}")
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then t_pass "too large: every other value under aescbc (openssl), the big one byte-identical"; else t_fail "too large: values"; fi
t_exit 1 "too large: the table names the key" "$BIN" rewrite --endpoints "$B" --config "$CBC"
t_stdout_has "TOO LARGE $BIGKEY" "table lists the key as too large"
t_stdout_has "not rewritable    1" "table counts it"
etcd_stop rbig

t_done
