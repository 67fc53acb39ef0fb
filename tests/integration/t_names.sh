#!/usr/bin/env bash
# t_names: etcd keys and key names that are not clean text (issue 9 item 5).
# Keys with invalid UTF-8, ESC/OSC/CSI sequences, a raw C1 CSI, a newline,
# and a truncated aescbc value whose IV holds ':' are put into a real etcd
# with etcdctl. Every JSON output (audit, --list-keys, rewrite, backup
# verify, get, status) must parse, list every such key, and give back its
# exact bytes (the "_b64" twin when the text is not them); every table must
# carry no raw control byte and never "(null)"; the truncated value is
# attributed to the configured key whose prefix it carries.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT

etcd_start names plain || exit 1
P=$ETCD_NAMES_ENDPOINT
etcdctl --endpoints "$P" snapshot save "$ETCD_TMP/empty.db" >/dev/null 2>&1 || true

python3 - "$BIN" "$P" "$FX" "$ETCD_TMP" <<'PY'
import base64, json, subprocess, sys
binary, ep, fx, tmp = sys.argv[1:5]
cfg = f"{fx}/configs/aescbc.yaml"
n = bad = 0
def check(ok, what):
    global n, bad
    n += 1
    if not ok:
        bad += 1
    print(("ok" if ok else "not ok") + f" - {what}")

P = b"/registry/secrets/ns/"
plain_keys = [P + b"bad-\xff\xfe-utf8", P + b"nl-a\nb", P + b"c1-\xc2\x9b" + b"31m", P + "café".encode()]
trunc_keys = [P + b"osc-\x1b]0;pwned\x07\x1b[2J", P + b"trunc-\xc3("]
obj = b'{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x","namespace":"ns"}}'
trunc = b"k8s:enc:aescbc:v1:key-2025:ab:" + b"\x5a" * 13 + b"\x33" * 35
for k in plain_keys:
    subprocess.run(["etcdctl", "--endpoints", ep, "put", k], input=obj, check=True, stdout=subprocess.DEVNULL)
for k in trunc_keys:
    subprocess.run(["etcdctl", "--endpoints", ep, "put", k], input=trunc, check=True, stdout=subprocess.DEVNULL)
# keys holding a NUL byte (no argv carries one: etcd's JSON gateway): one
# unreadable, one whose history holds plaintext, one deleted, one re-created
import urllib.request
def gw(path, body):
    req = urllib.request.Request("http://" + ep + path, data=json.dumps(body).encode(), method="POST")
    return json.load(urllib.request.urlopen(req, timeout=10))
def gwput(k, v):
    gw("/v3/kv/put", {"key": base64.b64encode(k).decode(), "value": base64.b64encode(v).decode()})
def gwdel(k):
    gw("/v3/kv/deleterange", {"key": base64.b64encode(k).decode()})
nul_trunc, nul_hist = P + b"nul-\x00-trunc", P + b"nul-\x00-hist"
nul_del, nul_rec = P + b"nul-\x00-del", P + b"nul-\x00-rec"
gwput(nul_trunc, trunc)
gwput(nul_hist, obj); gwput(nul_hist, trunc)
gwput(nul_del, obj); gwdel(nul_del)
gwput(nul_rec, obj); gwdel(nul_rec); gwput(nul_rec, obj)
trunc_keys += [nul_trunc, nul_hist]
plain_keys += [nul_rec]
all_keys = set(plain_keys + trunc_keys)
subprocess.run(["etcdctl", "--endpoints", ep, "snapshot", "save", f"{tmp}/snap.db"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def raw(o, field):
    """the exact bytes of a field: its _b64 twin when there is one"""
    if o.get(field + "_b64") is not None:
        return base64.b64decode(o[field + "_b64"])
    return o[field].encode()

def keys_in(j, found, names):
    """every etcd key anywhere in a JSON document, and every key name next to one"""
    if isinstance(j, dict):
        for f in ("etcd_key", "key"):
            if f in j and isinstance(j[f], str):
                found.add(raw(j, f))
                if "key_name" in j:
                    names.append((raw(j, f), j["key_name"], j.get("key_name_guessed")))
        for f in ("examples", "deleted_keys", "recreated_keys", "keys_with_historical_plaintext_list"):
            if isinstance(j.get(f), list):
                twins = j.get(f + "_b64") or [None] * len(j[f])
                for s, b in zip(j[f], twins):
                    found.add(base64.b64decode(b) if b is not None else s.encode())
        for v in j.values():
            keys_in(v, found, names)
    elif isinstance(j, list):
        for v in j:
            keys_in(v, found, names)

def run(args, want_rc):
    r = subprocess.run([binary] + args, capture_output=True)
    check(r.returncode in want_rc, f"{' '.join(str(a) for a in args[:3])}: exit {r.returncode} in {want_rc}")
    return r

def json_docs(out, lines=False):
    try:
        return [json.loads(l) for l in out.splitlines() if l.strip()] if lines else [json.loads(out)]
    except ValueError as e:
        check(False, f"output parses as JSON: {e}")
        return []

def table_clean(what, out):
    ctl = [b for b in out if b < 0x20 and b not in (0x0a,)] + [b for b in out if b in (0x7f, 0x9b)]
    check(not ctl, f"{what} table: no raw control byte ({ctl[:5]})")
    check(b"(null)" not in out, f"{what} table: no (null)")

def json_case(what, args, want_rc, expect, lines=False):
    r = run(args, want_rc)
    found, names = set(), []
    for d in json_docs(r.stdout, lines):
        keys_in(d, found, names)
    missing = expect - found
    check(not missing, f"{what}: every key listed with its exact bytes (missing {sorted(missing)[:3]})")
    for k, name, guessed in names:
        if k in trunc_keys:
            check(name == "key-2025" and guessed is False, f"{what}: {k!r} attributed to key-2025 (got {name!r}, guessed {guessed})")
    return r

E = ["--endpoints", ep]
json_case("audit -o json", ["audit"] + E + ["--config", cfg, "-o", "json"], (1,), set(trunc_keys))
json_case("audit --list-keys -o json", ["audit"] + E + ["--config", cfg, "--list-keys", "-o", "json"], (1,), all_keys, lines=True)
json_case("rewrite --dry-run -o json", ["rewrite"] + E + ["--config", cfg, "--dry-run", "-o", "json"], (1,), set(trunc_keys))
json_case("backup verify -o json", ["backup", "verify", f"{tmp}/snap.db", "--config", cfg, "-o", "json"], (1,), set(trunc_keys))
json_case("backup verify --list-keys -o json", ["backup", "verify", f"{tmp}/snap.db", "--config", cfg, "--list-keys", "-o", "json"],
          (1,), all_keys, lines=True)
json_case("status -o json", ["status"] + E + ["--node", f"m1={cfg}", "-o", "json"], (1,), set(trunc_keys))

# history lists and examples keep every byte of a key holding NUL
def twin_list(d, field):
    twins = d.get(field + "_b64") or [None] * len(d.get(field, []))
    return {base64.b64decode(b) if b is not None else s.encode() for s, b in zip(d.get(field, []), twins)}
r = run(["backup", "verify", f"{tmp}/snap.db", "--config", cfg, "--history", "-o", "json"], (1,))
for d in json_docs(r.stdout):
    h = d.get("history") or {}
    check(nul_hist in twin_list(h, "keys_with_historical_plaintext_list"), f"backup --history JSON: {nul_hist!r} in keys_with_historical_plaintext_list")
    check(nul_del in twin_list(h, "deleted_keys"), f"backup --history JSON: {nul_del!r} in deleted_keys ({sorted(twin_list(h, 'deleted_keys'))[:3]})")
    check(nul_rec in twin_list(h, "recreated_keys"), f"backup --history JSON: {nul_rec!r} in recreated_keys")
r = run(["backup", "verify", f"{tmp}/snap.db", "--config", cfg, "--history"], (1,))
for k in (b"nul-\\x00-del", b"nul-\\x00-rec"):
    check(k in r.stdout, f"backup --history table: {k!r} shown whole, NUL escaped")
r = run(["status"] + E + ["--node", f"m1={cfg}"], (1,))
for line in r.stdout.splitlines():
    if line.startswith(b"unreadable:") and b"nul-" in line:
        check(b"nul-\\x00-" in line, f"status table: the example key is shown whole ({line[:80]!r})")
r = run(["config", "check"] + E + [cfg], (1,))
check(b"nul-\\x00-trunc" in r.stdout and b"nul-\\x00-hist" in r.stdout, "config check table: NUL keys shown whole")
for k in [k for k in plain_keys + trunc_keys if b"\x00" not in k]:  # no argv holds a NUL
    json_case(f"get -o json {k!r}", ["get"] + E + [k, "--config", cfg, "-o", "json"], (0, 1), {k})

for what, args in [("audit", ["audit"] + E + ["--config", cfg]),
                   ("audit --list-keys", ["audit"] + E + ["--config", cfg, "--list-keys"]),
                   ("audit (classify only) --list-keys", ["audit"] + E + ["--list-keys"]),
                   ("rewrite --dry-run", ["rewrite"] + E + ["--config", cfg, "--dry-run"]),
                   ("backup verify", ["backup", "verify", f"{tmp}/snap.db", "--config", cfg, "--list-keys"]),
                   ("status", ["status"] + E + ["--node", f"m1={cfg}"]),
                   ("get", ["get"] + E + [trunc_keys[0], "--config", cfg])]:
    r = run(args, (0, 1))
    table_clean(what, r.stdout)
    table_clean(what + " (stderr)", r.stderr)
    if what == "audit --list-keys":
        check(b"osc-\\e]0;pwned\\x07\\e[2J" in r.stdout, "audit --list-keys: the OSC key is shown escaped")
        check(b"bad-\\xff\\xfe-utf8" in r.stdout and b"nl-a\\nb" in r.stdout, "audit --list-keys: invalid UTF-8 and newline escaped")
        check(b"c1-\\u009b31m" in r.stdout, "audit --list-keys: C1 CSI escaped")
        check("café".encode() in r.stdout, "audit --list-keys: valid UTF-8 shown as is")
    if what == "rewrite --dry-run":
        check(b"UNREADABLE /registry/secrets/ns/osc-\\e]0;pwned" in r.stdout, "rewrite: unreadable key named, escaped")
        check(b"aescbc:key-2025  truncated" in r.stdout, "rewrite: truncated value under key-2025")
    if what == "audit":
        check(b"aescbc:key-2025  truncated" in r.stdout, "audit: truncated value under key-2025, never IV bytes")
print(f"# {n - bad}/{n} name checks")
sys.exit(1 if bad else 0)
PY
if [ $? -eq 0 ]; then t_pass "non-text keys and names through every output"; else t_fail "non-text keys and names through every output"; fi
t_done
