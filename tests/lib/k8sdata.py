"""Helpers for integration tests: read etcd with etcdctl and decrypt values
independently of etcdcrypt (openssl's command line for AES-CBC, Python
`cryptography` for AES-GCM, PyNaCl for secretbox: Debian's python3-cryptography
and python3-nacl), so tests check etcdcrypt's writes with code that is not
etcdcrypt's. Value layouts: docs/formats.md §5."""
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


def provider_keys(config_path, provider):
    """{name: key bytes} of every key of one provider type in a config."""
    return yaml_min.provider_keys(config_path, provider)


def _split(value, kind, keys):
    """(key bytes, body) of a k8s:enc:<kind>:v1:<name>: value, or None."""
    prefix = b"k8s:enc:" + kind.encode() + b":v1:"
    if not value.startswith(prefix):
        return None
    rest = value[len(prefix):]
    for name, key in keys.items():
        n = name.encode() + b":"
        if rest.startswith(n):
            return key, rest[len(n):]
    return None


def aesgcm_decrypt(value, keys, etcd_key):
    """Plaintext of a k8s:enc:aesgcm:v1:<name>: value (nonce 12 | ct | tag 16,
    AAD = the etcd key), or None when it does not authenticate."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    kb = _split(value, "aesgcm", keys)
    if kb is None:
        return None
    key, body = kb
    try:
        return AESGCM(key).decrypt(body[:12], body[12:], etcd_key)
    except InvalidTag:
        return None


def secretbox_decrypt(value, keys):
    """Plaintext of a k8s:enc:secretbox:v1:<name>: value (nonce 24 | Poly1305
    tag | XSalsa20 ciphertext, no AAD), or None."""
    import nacl.exceptions
    import nacl.secret
    kb = _split(value, "secretbox", keys)
    if kb is None:
        return None
    key, body = kb
    try:
        return nacl.secret.SecretBox(key).decrypt(body[24:], body[:24])
    except nacl.exceptions.CryptoError:
        return None
