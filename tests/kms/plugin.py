#!/usr/bin/python3
"""A real KMS plugin for etcdcrypt's tests: gRPC on a unix socket, speaking the
Kubernetes KMS protocol (v2: /v2.KeyManagementService/{Status,Decrypt,Encrypt};
v1: /v1beta1.KeyManagementService/{Version,Decrypt,Encrypt}), wrapping DEKs and
seeds with local KEKs exactly like the stand-in plugin the reference vectors
were made with (fixtures/k8s-vectors/fake-kms.json): AES-256-GCM,
nonce(12) || ciphertext || tag(16), no AAD; KMS v2 picks the KEK by key ID.

Runs on Debian's python3-grpcio and python3-cryptography. Messages are
encoded by hand (a few string/bytes fields), so no generated stubs are needed.

  plugin.py --socket PATH --keks FILE --plugin NAME --api v1|v2
            [--control FILE] [--stats FILE] [--package v2|v2alpha1]

--control names a JSON file read on every call, so a test can change the
plugin while it runs:
  {"key_id": "kek-2",          current KMS v2 key (default: the first KEK)
   "healthz": "ok",            Status healthz (anything else = unhealthy)
   "version": "v2",            Status version
   "fail": {"Decrypt": "UNAVAILABLE:the HSM is down"},   per-method failures
   "latency_ms": 0,            sleep before answering
   "encrypt_key_id": "kek-1",  key ID Encrypt claims (a rotation race)
   "short_dek": 5}             KMS v2 Decrypt answers only the first 5 bytes (a broken plugin)
--stats is rewritten within 10 ms of every call: {"Status": n, "Decrypt": n, ...}.
"""
import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


# ---- protobuf wire format, just enough for the KMS messages ----------------
def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(num, data):
    if isinstance(data, str):
        data = data.encode()
    return _varint(num << 3 | 2) + _varint(len(data)) + data if data else b""


def _parse(buf):
    """[(field number, bytes or int)] of a message."""
    out, i = [], 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        else:
            raise ValueError(f"wire type {wire}")
        out.append((num, v))
    return out


def _read_varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


class Plugin:
    def __init__(self, a):
        doc = json.load(open(a.keks))
        self.name = a.plugin
        self.api = a.api
        self.keks = {k: base64.b64decode(v) for k, v in doc["plugins"][a.plugin]["keks_b64"].items()}
        self.control = a.control
        self.stats_path = a.stats
        self.counts = {}
        self.dirty = False
        self.lock = threading.Lock()

    def ctl(self):
        if self.control and os.path.exists(self.control):
            try:
                return json.load(open(self.control))
            except ValueError:
                return {}
        return {}

    def count(self, method):
        with self.lock:
            self.counts[method] = self.counts.get(method, 0) + 1
            self.dirty = True

    def flush_stats(self, stop):
        """Rewrites the stats file within 10 ms of a change (not per call:
        that would make the plugin, not the client, the bottleneck)."""
        while not stop.wait(0.01):
            with self.lock:
                if not self.dirty or not self.stats_path:
                    continue
                tmp = self.stats_path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.counts, f)
                os.replace(tmp, self.stats_path)
                self.dirty = False

    def enter(self, method, context):
        """Counts the call, applies latency and injected failures; returns the control doc."""
        self.count(method)
        c = self.ctl()
        if c.get("latency_ms"):
            time.sleep(c["latency_ms"] / 1000.0)
        fail = (c.get("fail") or {}).get(method)
        if fail:
            code, _, text = fail.partition(":")
            context.abort(getattr(grpc.StatusCode, code), text)
        return c

    def current(self, c):
        return c.get("key_id") or next(iter(self.keks))

    def wrap(self, key_id, plain):
        nonce = os.urandom(12)
        return nonce + AESGCM(self.keks[key_id]).encrypt(nonce, plain, None)

    def unwrap(self, key_id, ct, context):
        kek = self.keks.get(key_id)
        if kek is None:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f'fake kms {self.api} "{self.name}": unknown keyID "{key_id}"')
        try:
            return AESGCM(kek).decrypt(ct[:12], ct[12:], None)
        except Exception:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f'fake kms {self.api} "{self.name}": cannot decrypt with keyID "{key_id}"')

    # ---- KMS v2 ----
    def status(self, req, context):
        c = self.enter("Status", context)
        return (_field(1, c.get("version", "v2")) + _field(2, c.get("healthz", "ok")) +
                _field(3, self.current(c)))

    def decrypt2(self, req, context):
        c = self.enter("Decrypt", context)
        f = _parse(req)
        ct = b"".join(v for n, v in f if n == 1)
        key_id = b"".join(v for n, v in f if n == 3).decode()
        plain = self.unwrap(key_id, ct, context)
        return _field(1, plain[:c["short_dek"]] if "short_dek" in c else plain)

    def encrypt2(self, req, context):
        c = self.enter("Encrypt", context)
        plain = b"".join(v for n, v in _parse(req) if n == 1)
        key_id = self.current(c)
        claimed = c.get("encrypt_key_id", key_id)
        # one annotation, as real plugins add (stored in the EncryptedObject)
        ann = _field(1, "version.encryption.etcdcrypt.test") + _field(2, b"1")
        return _field(1, self.wrap(key_id, plain)) + _field(2, claimed) + _field(3, ann)

    # ---- KMS v1 ----
    def version(self, req, context):
        self.enter("Version", context)
        return _field(1, "v1beta1") + _field(2, "etcdcrypt-test-plugin") + _field(3, "0.1.0")

    def decrypt1(self, req, context):
        self.enter("Decrypt", context)
        ct = b"".join(v for n, v in _parse(req) if n == 2)
        return _field(1, self.unwrap("", ct, context))

    def encrypt1(self, req, context):
        self.enter("Encrypt", context)
        plain = b"".join(v for n, v in _parse(req) if n == 2)
        return _field(1, self.wrap("", plain))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--keks", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--api", choices=["v1", "v2"], required=True)
    ap.add_argument("--package", default=None, help="v2 or v2alpha1 (KMS v2 only)")
    ap.add_argument("--control")
    ap.add_argument("--stats")
    a = ap.parse_args()
    p = Plugin(a)

    def h(fn):
        return grpc.unary_unary_rpc_method_handler(fn)  # raw bytes in and out

    if a.api == "v2":
        svc = f"{a.package or 'v2'}.KeyManagementService"
        methods = {"Status": h(p.status), "Decrypt": h(p.decrypt2), "Encrypt": h(p.encrypt2)}
    else:
        svc = "v1beta1.KeyManagementService"
        methods = {"Version": h(p.version), "Decrypt": h(p.decrypt1), "Encrypt": h(p.encrypt1)}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(svc, methods),))
    if os.path.exists(a.socket):
        os.unlink(a.socket)
    server.add_insecure_port("unix:" + a.socket)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=p.flush_stats, args=(stop,), daemon=True).start()
    stop.wait()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
