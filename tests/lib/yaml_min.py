"""Reads the keys of our test EncryptionConfigurations without a YAML
library (Debian basics have none): name/secret pairs under an aescbc entry."""
import base64
import re


def aescbc_keys(path):
    return provider_keys(path, "aescbc")


def provider_keys(path, want):
    """{name: key bytes} of the keys under every `want` provider entry."""
    keys, provider, name = {}, None, None
    for line in open(path):
        s = line.strip()
        m = re.match(r"^- (aescbc|aesgcm|secretbox|identity|kms):", s)
        if m:
            provider = m.group(1)
            continue
        m = re.match(r'^-? ?name: "?([^"]+)"?$', s)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"^secret: (\S+)$", s)
        if m and provider == want and name:
            keys[name] = base64.b64decode(m.group(1))
    return keys
