#!/usr/bin/python3
"""An independent reader of what etcdcrypt wrote (not etcdcrypt's code):
fetches every value under /registry/secrets/ with etcdctl and decrypts it with
python3-cryptography, then compares with the expected plaintexts.

  read_back.py --endpoints E --expect PLAIN.json
               (--keks FILE --plugin NAME [--key-id ID] [--seeds N] | --aesgcm NAME=B64KEY)

KMS v2 (docs/formats.md §5): "k8s:enc:kms:v2:<plugin>:" + EncryptedObject
{1 encryptedData, 2 keyID, 3 encryptedDEKSource, 4 annotations, 5 type}; the
seed is unwrapped with the plugin's KEK (AES-256-GCM nonce|ct|tag, no AAD),
type 1 only: key = HKDF-Expand-SHA256(seed, info = data[:32], 32),
data = info | nonce(12) | ct | tag, AAD = the etcd key.
aesgcm: "k8s:enc:aesgcm:v1:<name>:" + nonce(12) | ct | tag, AAD = etcd key.
"""
import argparse
import base64
import json
import subprocess
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def fields(b):
    out, i = {}, 0
    while i < len(b):
        k, i = varint(b, i)
        if k & 7 == 0:
            v, i = varint(b, i)
        else:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        out.setdefault(k >> 3, []).append(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--keks")
    ap.add_argument("--plugin")
    ap.add_argument("--key-id")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--aesgcm")
    a = ap.parse_args()
    want = json.load(open(a.expect))
    r = subprocess.run(["etcdctl", "--endpoints", a.endpoints, "get", "--prefix", "/registry/secrets/", "-w", "json"],
                       check=True, capture_output=True, text=True)
    kvs = json.loads(r.stdout).get("kvs", [])
    keks = {}
    if a.keks:
        keks = {k: base64.b64decode(v) for k, v in json.load(open(a.keks))["plugins"][a.plugin]["keks_b64"].items()}
    gname, gkey = (a.aesgcm.split("=", 1) + [""])[:2] if a.aesgcm else ("", "")
    seeds, bad, n = set(), [], 0
    for kv in kvs:
        key = base64.b64decode(kv["key"])
        val = base64.b64decode(kv["value"])
        n += 1
        try:
            if a.keks:
                prefix = f"k8s:enc:kms:v2:{a.plugin}:".encode()
                assert val.startswith(prefix), "not KMS v2 of the plugin"
                o = fields(val[len(prefix):])
                key_id = o[2][0].decode()
                assert o.get(5, [0])[0] == 1, "DEK source type is not the HKDF seed"
                assert a.key_id is None or key_id == a.key_id, f"key ID {key_id}"
                wrapped = o[3][0]
                seeds.add(wrapped)
                seed = AESGCM(keks[key_id]).decrypt(wrapped[:12], wrapped[12:], None)
                data = o[1][0]
                k = HKDFExpand(hashes.SHA256(), 32, data[:32]).derive(seed)
                plain = AESGCM(k).decrypt(data[32:44], data[44:], key)
            else:
                prefix = f"k8s:enc:aesgcm:v1:{gname}:".encode()
                assert val.startswith(prefix), "not aesgcm under " + gname
                body = val[len(prefix):]
                plain = AESGCM(base64.b64decode(gkey)).decrypt(body[:12], body[12:], key)
            if plain.decode() != want[key.decode()]:
                bad.append(f"{key.decode()}: plaintext differs")
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            bad.append(f"{key.decode()}: {type(e).__name__} {e}")
    if n != len(want):
        bad.append(f"{n} values, expected {len(want)}")
    if a.seeds is not None and len(seeds) != a.seeds:
        bad.append(f"{len(seeds)} distinct wrapped seeds, expected {a.seeds}")
    for b in bad[:10]:
        print("not ok - " + b)
    print(f"{n} values read back, {len(bad)} problems, {len(seeds)} distinct seeds")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
