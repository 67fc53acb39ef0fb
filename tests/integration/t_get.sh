#!/usr/bin/env bash
# t_get: `etcdcrypt get` against real etcds (plaintext, mTLS, auth), checked
# against every reference vector, plus the documented failure modes.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

etcd_start gplain plain || exit 1
etcd_start gtls tls || exit 1
etcd_start gauth auth || exit 1
P=$ETCD_GPLAIN_ENDPOINT

# every vector: stored with etcdctl, read back by etcdcrypt, compared with
# what the Kubernetes code said (provider, key, stale, error class)
python3 - "$BIN" "$P" "$FX" <<'PY'
import base64, json, subprocess, sys
binary, ep, fx = sys.argv[1:4]
n = bad = 0
for line in open(f"{fx}/vectors.jsonl"):
    v = json.loads(line)
    n += 1
    subprocess.run(["etcdctl", "--endpoints", ep, "put", v["etcd_key"]],
                   input=base64.b64decode(v["stored_value_b64"]), check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run([binary, "get", "--endpoints", ep, v["etcd_key"], "-o", "json",
                        "--config", f"{fx}/configs/{v['config']}", "--kms-keyring", f"{fx}/fake-kms.json"],
                       capture_output=True, text=True)
    problems = []
    try:
        out = json.loads(r.stdout)
    except ValueError:
        out = {}
        problems.append(f"no JSON: {r.stdout!r} {r.stderr!r}")
    if v["expect"] == "ok":
        if r.returncode != 0: problems.append(f"exit {r.returncode}")
        if not out.get("readable"): problems.append(f"unreadable: {out.get('reason')} {out.get('detail')}")
        if out.get("provider") != v["provider"]: problems.append(f"provider {out.get('provider')}")
        if out.get("key_name") != v["key_name"]: problems.append(f"key_name {out.get('key_name')}")
        if out.get("stale") != v["k8s_stale"]: problems.append(f"stale {out.get('stale')}")
        if out.get("object", {}).get("kind") != v["kind"]: problems.append("object kind")
        if "data" in out.get("object", {}): problems.append("secret data shown without --show-data")
    else:
        if r.returncode != 1: problems.append(f"exit {r.returncode}")
        if out.get("readable") is not False: problems.append("readable")
        if out.get("reason") != v["error_class"]: problems.append(f"reason {out.get('reason')}")
    if problems:
        bad += 1
        print(f"not ok - vector {v['id']}: {'; '.join(problems)}")
    subprocess.run(["etcdctl", "--endpoints", ep, "del", v["etcd_key"]], check=True, stdout=subprocess.DEVNULL)
print(f"ok - {n - bad}/{n} vectors read through etcd as Kubernetes read them" if bad == 0 else
      f"not ok - {bad}/{n} vectors differ")
sys.exit(1 if bad else 0)
PY
if [ $? -eq 0 ]; then t_pass "vectors through etcd"; else t_fail "vectors through etcd"; fi

# one known value for the transport checks
KEY=/registry/secrets/default/tls-check
python3 - "$FX" > "$ETCD_TMP/val" <<'PY'
import base64, json, sys
for line in open(f"{sys.argv[1]}/vectors.jsonl"):
    v = json.loads(line)
    if v["provider"] == "aescbc" and v["expect"] == "ok" and v["config"] == "aescbc.yaml":
        sys.stdout.buffer.write(base64.b64decode(v["stored_value_b64"])); break
PY
etcdctl --endpoints "$P" put "$KEY" < "$ETCD_TMP/val" >/dev/null
CFG=(--config "$FX/configs/aescbc.yaml")

t_exit 0 "plaintext: get reads the value" "$BIN" get --endpoints "$P" "$KEY" "${CFG[@]}"
t_stdout_has "readable:     yes" "plaintext: readable"
t_exit 0 "--show-data shows the Secret data" "$BIN" get --endpoints "$P" "$KEY" "${CFG[@]}" --show-data
t_stdout_has "data:" "--show-data prints a data section"
t_exit 0 "ETCDCTL_ENDPOINTS is honoured" env ETCDCTL_ENDPOINTS="$P" "$BIN" get "$KEY" "${CFG[@]}"
t_exit 0 "failover: a dead first endpoint is skipped" "$BIN" get --endpoints "127.0.0.1:$(free_port),$P" "$KEY" "${CFG[@]}"
t_exit 0 "no config: classify only" "$BIN" get --endpoints "$P" "$KEY"
t_stdout_has "provider:     aescbc" "no config: provider shown"
t_stdout_lacks "readable:" "no config: no readability claim"

t_exit 1 "unknown key name: exit 1" "$BIN" get --endpoints "$P" "$KEY" --config "$FX/configs/aesgcm.yaml"
t_stdout_has "readable:     no" "unreadable is reported"
t_exit 1 "missing key: exit 1" "$BIN" get --endpoints "$P" /registry/secrets/default/nope "${CFG[@]}"
t_stderr_has "not found" "missing key: says not found"
t_stderr_one_line "missing key: one line"
DEAD=127.0.0.1:$(free_port)
t_exit 3 "dead endpoint: exit 3" "$BIN" get --endpoints "$DEAD" "$KEY"
t_stderr_has "$DEAD" "dead endpoint: names the endpoint"
t_stderr_one_line "dead endpoint: one line"
printf 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n            - name: k\n              secret: not-base64!\n' > "$ETCD_TMP/bad.yaml"
t_exit 2 "bad config: exit 2" "$BIN" get --endpoints "$DEAD" "$KEY" --config "$ETCD_TMP/bad.yaml"
t_stderr_has "bad.yaml:9:" "bad config: names file and line"
t_stderr_one_line "bad config: one line"
t_exit 2 "bad flag: exit 2" "$BIN" get --bogus "$KEY"
t_exit 2 "bad -o: exit 2" "$BIN" get -o yaml "$KEY"
t_exit 0 "--help: exit 0" "$BIN" get --help
t_stdout_has "--endpoints" "--help lists the etcd flags"

# mutual TLS
C=$ETCD_GTLS_CERTS
T=https://$ETCD_GTLS_ENDPOINT
etcdctl --endpoints "$T" --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" put "$KEY" < "$ETCD_TMP/val" >/dev/null
t_exit 0 "mTLS: get works" "$BIN" get --endpoints "$T" --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" "$KEY" "${CFG[@]}"
t_exit 0 "mTLS: ETCDCTL_CACERT/CERT/KEY" env ETCDCTL_CACERT="$C/ca.crt" ETCDCTL_CERT="$C/client.crt" ETCDCTL_KEY="$C/client.key" "$BIN" get --endpoints "$T" "$KEY" "${CFG[@]}"
t_exit 3 "mTLS: client cert from another CA is refused" "$BIN" get --endpoints "$T" --cacert "$C/ca.crt" --cert "$C/other.crt" --key "$C/other.key" "$KEY"
t_stderr_one_line "mTLS: wrong cert gives one line"
t_exit 3 "mTLS: server not signed by the given CA" "$BIN" get --endpoints "$T" --cacert "$C/other-ca.crt" --cert "$C/client.crt" --key "$C/client.key" "$KEY"
echo garbage > "$ETCD_TMP/garbage.pem"
t_exit 2 "mTLS: garbage CA file" "$BIN" get --endpoints "$T" --cacert "$ETCD_TMP/garbage.pem" --cert "$C/client.crt" --key "$C/client.key" "$KEY"
t_stderr_has "garbage.pem" "mTLS: garbage file is named"
t_exit 2 "mTLS: key does not match cert" "$BIN" get --endpoints "$T" --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/other.key" "$KEY"
t_exit 2 "mTLS: missing cert file" "$BIN" get --endpoints "$T" --cacert "$C/ca.crt" --cert "$C/nope.crt" --key "$C/client.key" "$KEY"

# auth
A=$ETCD_GAUTH_ENDPOINT
etcdctl --endpoints "$A" --user root:rootpw put "$KEY" < "$ETCD_TMP/val" >/dev/null
t_exit 0 "auth: user:password" "$BIN" get --endpoints "$A" --user app:apppw "$KEY" "${CFG[@]}"
t_exit 0 "auth: --user + ETCDCTL_PASSWORD" env ETCDCTL_PASSWORD=apppw "$BIN" get --endpoints "$A" --user app "$KEY" "${CFG[@]}"
t_exit 3 "auth: wrong password is refused" "$BIN" get --endpoints "$A" --user app:wrong "$KEY"
t_stderr_one_line "auth: wrong password gives one line"
t_exit 3 "auth: no user is refused" "$BIN" get --endpoints "$A" "$KEY"

t_done
