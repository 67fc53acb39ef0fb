"""Helpers for integration tests: read etcd with etcdctl and decrypt values
independently of etcdcrypt (openssl's command line for AES-CBC), so tests
check etcdcrypt's writes with code that is not etcdcrypt's."""
import base64
import json
import subprocess

import yaml_min


def dump(ep, prefix):
    """{key: {"value": bytes, "mod": int, "create": int, "lease": int}} under prefix."""
    out = subprocess.run(["etcdctl", "--endpoints", ep, "get", "--prefix", prefix, "-w", "json"],
                         check=True, capture_output=True).stdout
    doc = json.loads(out)
    res = {}
    for kv in doc.get("kvs", []):
        key = base64.b64decode(kv["key"]).decode()
        res[key] = {"value": base64.b64decode(kv.get("value", "")), "mod": kv.get("mod_revision", 0),
                    "create": kv.get("create_revision", 0), "lease": kv.get("lease", 0)}
    return res


def revision(ep):
    out = subprocess.run(["etcdctl", "--endpoints", ep, "get", "/", "-w", "json"],
                         check=True, capture_output=True).stdout
    return json.loads(out)["header"]["revision"]


def aescbc_keys(config_path):
    """{name: key bytes} of every aescbc key in a config (a tiny YAML reader:
    the configs are ours, one key per name/secret pair)."""
    return yaml_min.aescbc_keys(config_path)


def aescbc_decrypt(value, keys):
    """Plaintext of a k8s:enc:aescbc:v1:<name>: value, or None."""
    prefix = b"k8s:enc:aescbc:v1:"
    if not value.startswith(prefix):
        return None
    rest = value[len(prefix):]
    for name, key in keys.items():
        n = name.encode() + b":"
        if not rest.startswith(n):
            continue
        body = rest[len(n):]
        iv, ct = body[:16], body[16:]
        cipher = {16: "aes-128-cbc", 24: "aes-192-cbc", 32: "aes-256-cbc"}[len(key)]
        r = subprocess.run(["openssl", "enc", "-d", "-" + cipher, "-K", key.hex(), "-iv", iv.hex(), "-nopad"],
                           input=ct, capture_output=True)
        if r.returncode != 0:
            return None
        p = r.stdout
        pad = p[-1] if p else 0
        if pad == 0 or pad > len(p) or p[-pad:] != bytes([pad]) * pad:
            return None
        return p[:-pad]
    return None
