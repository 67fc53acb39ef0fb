#!/usr/bin/env bash
# t_rewrite_aead: rewrite to aesgcm, then to secretbox, on a real etcd. Every
# value etcdcrypt wrote is decrypted by an independent reader: Python's
# `cryptography` (AESGCM, AAD = the etcd key) and PyNaCl (SecretBox), from
# Debian's python3-cryptography and python3-nacl (scripts/deps.sh); the
# AES-CBC counterpart is t_rewrite.sh (openssl's command line).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
LOADGEN=${ETCDCRYPT_BUILD:-build}/bench/loadgen
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
export PYTHONPATH=$PWD/tests/lib
# Debian's interpreter holds the Debian modules (a pyenv python3 may not)
PY=${ETCDCRYPT_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

if ! "$PY" -c 'import cryptography.hazmat.primitives.ciphers.aead, nacl.secret' 2>/dev/null; then
	t_fail "independent readers missing: install python3-cryptography and python3-nacl (scripts/deps.sh)"
	t_done
fi

# secretbox first, then the aesgcm keys (to read what step 2 wrote), identity
BOXCFG=$ETCD_TMP/secretbox-then-aesgcm.yaml
{
	sed -n '1,/^      - identity/p' "$FX/configs/secretbox.yaml" | grep -v 'identity'
	sed -n '/^      - aesgcm:/,/^      - identity/p' "$FX/configs/aesgcm.yaml"
} > "$BOXCFG"

etcd_start aead plain || exit 1
E=$ETCD_AEAD_ENDPOINT
"$LOADGEN" --endpoints "$E" --count 300 --config "$FX/configs/identity-only.yaml" --size 700 >/dev/null
"$PY" -c 'import k8sdata, json, sys; d = k8sdata.dump(sys.argv[1], "/registry/"); json.dump({k: v["value"].hex() for k, v in d.items()}, open(sys.argv[2], "w"))' "$E" "$ETCD_TMP/plain.json"

# verify.py MODE CONFIG: every secret now under the config's first key and
# decrypting, with the independent reader, to the plaintext loadgen wrote
cat > "$ETCD_TMP/verify.py" <<'PY'
import json, sys
import k8sdata
mode, ep, cfg, plain_f = sys.argv[1:5]
plain = {k: bytes.fromhex(v) for k, v in json.load(open(plain_f)).items()}
after = k8sdata.dump(ep, "/registry/")
keys = k8sdata.provider_keys(cfg, mode)
first = next(iter(keys))
bad = []
for k, p in plain.items():
    v = after[k]["value"]
    if not v.startswith(b"k8s:enc:%s:v1:%s:" % (mode.encode(), first.encode())):
        bad.append(f"{k}: not under {mode}:{first}")
    elif mode == "aesgcm":
        if k8sdata.aesgcm_decrypt(v, keys, k.encode()) != p:
            bad.append(f"{k}: AESGCM with AAD = etcd key does not give the plaintext")
        elif k8sdata.aesgcm_decrypt(v, keys, (k + "x").encode()) is not None:
            bad.append(f"{k}: authenticates under another etcd key (AAD not bound)")
    elif k8sdata.secretbox_decrypt(v, keys) != p:
        bad.append(f"{k}: SecretBox does not give the plaintext")
for b in bad[:5]:
    print("    " + b)
print(f"    {len(plain)} values, {len(bad)} wrong")
sys.exit(1 if bad or len(plain) != 300 else 0)
PY

t_exit 0 "rewrite to aesgcm: exit 0" "$BIN" rewrite --endpoints "$E" --config "$FX/configs/aesgcm.yaml" -o json
t_eq "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rewritten"])' "$T_OUT")" 300 "aesgcm: 300 rewritten"
if "$PY" "$ETCD_TMP/verify.py" aesgcm "$E" "$FX/configs/aesgcm.yaml" "$ETCD_TMP/plain.json"; then
	t_pass "aesgcm: every value decrypts with Python cryptography (AAD = etcd key) to the old plaintext"
else
	t_fail "aesgcm: values do not verify independently"
fi

t_exit 0 "rewrite aesgcm -> secretbox: exit 0" "$BIN" rewrite --endpoints "$E" --config "$BOXCFG" -o json
t_eq "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rewritten"])' "$T_OUT")" 300 "secretbox: 300 rewritten"
if "$PY" "$ETCD_TMP/verify.py" secretbox "$E" "$BOXCFG" "$ETCD_TMP/plain.json"; then
	t_pass "secretbox: every value decrypts with PyNaCl SecretBox to the old plaintext"
else
	t_fail "secretbox: values do not verify independently"
fi

t_done
