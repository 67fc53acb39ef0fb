#!/usr/bin/env bash
# t_cluster: etcdcrypt against a real 3-member etcd cluster on loopback with
# members hung (SIGSTOP: TCP still accepts), killed and cut off from their
# majority; interrupts while etcd is unreachable; connection input errors
# (bad port, expired and not-yet-valid client certificates); a closed stdout
# pipe. Rewritten values are checked with openssl's command line, not with
# etcdcrypt. Every member is stopped by PID on exit (stopped ones resumed).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-build/etcdcrypt}
LOADGEN=${ETCDCRYPT_BUILD:-build}/bench/loadgen
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
export PYTHONPATH=$PWD/tests/lib
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$T_OUT" "$T_ERR"' EXIT
CT=3 # --command-timeout in seconds for every faulted run

now() { date +%s.%N; }
secs() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$2"; }
lt() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }
jget() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }
rev() { python3 -c 'import k8sdata, sys; print(k8sdata.revision(sys.argv[1]))' "$1"; }
# endpoints with the given member first: etcdcrypt talks to the first that answers
eps_first() { # MEMBER
	local first=$1 e out
	eval "out=\$ETCD_${first^^}_ENDPOINT"
	for e in c1 c2 c3; do [ "$e" = "$first" ] || eval "out+=,\$ETCD_${e^^}_ENDPOINT"; done
	echo "$out"
}
# the member that is (follower=1: is not) the leader
member() { # leader|follower
	local lead m ep
	lead=$(etcd_leader "$ETCD_C_ENDPOINTS")
	for m in c1 c2 c3; do
		eval "ep=\$ETCD_${m^^}_ENDPOINT"
		if [ "$1" = leader ] && [ "$ep" = "$lead" ]; then echo "$m"; return; fi
		if [ "$1" = follower ] && [ "$ep" != "$lead" ]; then echo "$m"; return; fi
	done
}
# Range calls etcd's member at endpoint $1 has started (its /metrics)
ranges() { curl -s "http://$1/metrics" | awk '/^grpc_server_started_total\{.*grpc_method="Range"/ { s += $2 } END { print s + 0 }'; }
# waits (<= 10 s) until process $1 catches SIGINT: its handler is in place
catches_int() {
	local i
	for i in $(seq 1 200); do
		[ $(( 0x$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0) & 2 )) -ne 0 ] && return 0
		sleep 0.05
	done
	return 1
}
healthy() {
	local i
	for i in $(seq 1 100); do
		etcdctl --endpoints "$ETCD_C_ENDPOINTS" --command-timeout 2s endpoint health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# --- usage errors need no etcd ------------------------------------------------
t_exit 2 "--endpoints 127.0.0.1:abc is a usage error" "$BIN" audit --endpoints 127.0.0.1:abc
t_stderr_has "'abc' is not a port number" "bad port: says which part is wrong"
t_exit 2 "a port above 65535 is a usage error" "$BIN" get /registry/x --endpoints 127.0.0.1:2379,127.0.0.1:70000
t_exit 2 "ETCDCTL_ENDPOINTS with a bad port is a usage error" env ETCDCTL_ENDPOINTS=localhost:12ab "$BIN" audit

etcd_cluster_start c 3 || exit 1
"$LOADGEN" --endpoints "$ETCD_C1_ENDPOINT" --count 3000 --config "$FX/configs/identity-only.yaml" --size 600 >/dev/null
CBC=$FX/configs/aescbc.yaml

# --- 1. the connected member hangs mid-rewrite --------------------------------
echo "# section 1 at ${SECONDS} s"
F=$(member follower)
R0=$(rev "$ETCD_C_ENDPOINTS")
"$BIN" rewrite --endpoints "$(eps_first "$F")" --config "$CBC" --max-rate 1000 --batch 32 --command-timeout ${CT}s \
	-o json >"$ETCD_TMP/rw.json" 2>"$ETCD_TMP/rw.err" &
RW=$!
for _ in $(seq 1 100); do # wait for written batches, then hang the member it talks to
	sleep 0.1
	[ "$(rev "$ETCD_C_ENDPOINTS")" -gt $((R0 + 5)) ] && break
done
kill -0 "$RW" 2>/dev/null && STILL=1 || STILL=0
etcd_sigstop "$F"
T0=$(now)
for _ in $(seq 1 300); do kill -0 "$RW" 2>/dev/null || break; sleep 0.1; done
kill -0 "$RW" 2>/dev/null && { kill "$RW"; sleep 1; kill -9 "$RW" 2>/dev/null; }
wait "$RW"
RC=$?
T=$(secs "$T0" "$(now)")
etcd_sigcont "$F"
t_eq "$STILL" 1 "rewrite was still running when its member was SIGSTOPped"
t_eq "$RC" 0 "member hung mid-rewrite: the rewrite finishes on the others (exit 0; took ${T} s after SIGSTOP)"
if lt "$T" $((CT + 6)); then t_pass "finished within command timeout + 6 s (${T} s)"; else t_fail "took ${T} s after SIGSTOP (command timeout ${CT} s)"; fi
t_eq "$(jget "$ETCD_TMP/rw.json" 'd["rewritten"] + d["already_current"]')" 3000 "report: every value rewritten or already current"
# every value through Python cryptography (fast), and 60 of them through openssl's command line
python3 - "$ETCD_C2_ENDPOINT,$ETCD_C3_ENDPOINT,$ETCD_C1_ENDPOINT" "$CBC" <<'PY'
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import k8sdata
ep, cfg = sys.argv[1:3]
d = k8sdata.dump(ep, "/registry/secrets/")
keys = k8sdata.aescbc_keys(cfg)
def cbc(v):
    for name, key in keys.items():
        p = b"k8s:enc:aescbc:v1:" + name.encode() + b":"
        if v.startswith(p):
            body = v[len(p):]
            dec = Cipher(algorithms.AES(key), modes.CBC(body[:16])).decryptor()
            out = dec.update(body[16:]) + dec.finalize()
            n = out[-1]
            if 1 <= n <= 16 and out[-n:] == bytes([n]) * n and out[:-n].startswith(b"k8s\x00"):
                return out[:-n]
    return None
plain = {k: cbc(v["value"]) for k, v in d.items()}
bad = [k for k, p in plain.items() if p is None]
sample = sorted(d)[::50]
bad_ssl = [k for k in sample if k8sdata.aescbc_decrypt(d[k]["value"], keys) != plain[k]]
ok = not bad and not bad_ssl and len(d) == 3000
print(("ok" if ok else "not ok") + f" - {len(d)} values, {len(bad)} not decryptable, {len(bad_ssl)} of {len(sample)} differ under openssl {(bad + bad_ssl)[:3]}")
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then t_pass "after the hang: all 3000 values decrypt (cryptography; a sample with openssl) under the new key"; else t_fail "values wrong after the hang"; fi
healthy || t_fail "cluster did not recover after SIGCONT"

# --- 2. the connected member (the leader) hangs mid-audit ----------------------
echo "# section 2 at ${SECONDS} s"
t_exit 0 "audit without a fault" "$BIN" audit --endpoints "$ETCD_C_ENDPOINTS" --config "$CBC" -o json
cp "$T_OUT" "$ETCD_TMP/audit0.json"
L=$(member leader)
# one page per key: the member is hung once it has served 20 of the scan's
# ~3000 pages (its Range counter), in the middle of the scan on any machine
# (a fixed 1 s could come before the scan began or, fast, after it ended)
eval "LEP=\$ETCD_${L^^}_ENDPOINT"
RB=$(ranges "$LEP")
"$BIN" audit --endpoints "$(eps_first "$L")" --config "$CBC" --page-size 1 --command-timeout ${CT}s -o json \
	>"$ETCD_TMP/audit1.json" 2>"$ETCD_TMP/audit1.err" &
AU=$!
for _ in $(seq 1 2000); do
	[ "$(ranges "$LEP")" -ge $((RB + 20)) ] && break
	kill -0 "$AU" 2>/dev/null || break
	sleep 0.005
done
kill -0 "$AU" 2>/dev/null && STILL=1 || STILL=0
etcd_sigstop "$L"
T0=$(now)
# written while the audit runs on: a consistent scan must not see them
for i in 1 2 3; do etcdctl --endpoints "$ETCD_C_ENDPOINTS" --command-timeout 5s put "/registry/secrets/late/s$i" "x$i" >/dev/null 2>&1; done
for _ in $(seq 1 300); do kill -0 "$AU" 2>/dev/null || break; sleep 0.1; done
kill -0 "$AU" 2>/dev/null && { kill "$AU"; sleep 1; kill -9 "$AU" 2>/dev/null; }
wait "$AU"
RC=$?
T=$(secs "$T0" "$(now)")
etcd_sigcont "$L"
t_eq "$STILL" 1 "audit was still scanning when its member (the leader) was SIGSTOPped"
t_eq "$RC" 0 "leader hung mid-audit: the audit finishes on the others (exit 0; ${T} s after SIGSTOP)"
t_eq "$(jget "$ETCD_TMP/audit1.json" '[d["revision"], d["summary"]]')" "$(jget "$ETCD_TMP/audit0.json" '[d["revision"], d["summary"]]')" \
	"audit after failover: same revision and counts as without the fault"
healthy || t_fail "cluster did not recover after SIGCONT"
etcdctl --endpoints "$ETCD_C_ENDPOINTS" del --prefix /registry/secrets/late/ >/dev/null

# --- 3. the quota guard uses the largest member database -----------------------
echo "# section 3 at ${SECONDS} s"
# garbage written and deleted, compacted, then only c1 defragmented: c1's
# database is small, c2's and c3's are not
for i in $(seq 1 12); do
	head -c 900000 /dev/urandom | base64 -w0 > "$ETCD_TMP/junk"
	etcdctl --endpoints "$ETCD_C_ENDPOINTS" put "/junk/$i" < "$ETCD_TMP/junk" >/dev/null
done
etcdctl --endpoints "$ETCD_C_ENDPOINTS" del --prefix /junk/ >/dev/null
etcdctl --endpoints "$ETCD_C_ENDPOINTS" compact "$(rev "$ETCD_C_ENDPOINTS")" --physical >/dev/null
etcdctl --endpoints "$ETCD_C1_ENDPOINT" defrag >/dev/null
read -r SMALL BIG < <(etcdctl --endpoints "$ETCD_C_ENDPOINTS" endpoint status -w json | python3 -c '
import json, sys
s = {x["Endpoint"]: x["Status"]["dbSize"] for x in json.load(sys.stdin)}
print(s[sys.argv[1]], max(s.values()))' "$ETCD_C1_ENDPOINT")
echo "    (db sizes: c1 $SMALL, largest $BIG)"
if [ $((BIG - SMALL)) -gt 8000000 ]; then t_pass "set-up: c1's database is 8 MB smaller than the largest"; else t_fail "set-up: db sizes $SMALL / $BIG"; fi
# 3000 forced rewrites grow a database by ~4 MB: this quota holds that on c1, not on the others
Q=$((SMALL + 6000000))
t_exit 3 "rewrite through c1: refused, the largest member would pass the quota" "$BIN" rewrite \
	--endpoints "$(eps_first c1)" --config "$CBC" --force --quota-bytes "$Q"
t_stderr_has "over the quota" "quota refusal explains"
t_stderr_has "$BIG" "quota refusal counts from the largest database"
# the usual deployment gives one endpoint, the local member: the others are
# found by MemberList and asked too
t_exit 3 "rewrite with --endpoints c1 alone: refused from the largest member too" "$BIN" rewrite \
	--endpoints "$ETCD_C1_ENDPOINT" --config "$CBC" --force --quota-bytes "$Q"
t_stderr_has "$BIG" "one endpoint: the refusal counts from the largest database (MemberList)"
t_exit 3 "rewrite --dry-run with --endpoints c1 alone: the dry run is refused the same" "$BIN" rewrite \
	--endpoints "$ETCD_C1_ENDPOINT" --config "$CBC" --force --dry-run --quota-bytes "$Q" -o json
t_eq "$(jget "$T_OUT" 'd["db_size"]')" "$BIG" "one endpoint: JSON db_size is the largest member's"
# the controller runs the same guard (node/ctl.c): through c1 too, with the same quota
mkdir -p "$ETCD_TMP/ctl"
install -m 600 "$CBC" "$ETCD_TMP/ctl/current.yaml"
t_exit 3 "controller --once through c1: refused, the largest member would pass the quota" timeout 60 "$BIN" controller \
	--once --node q1 --dir "$ETCD_TMP/ctl" --lock-ttl 3 --endpoints "$(eps_first c1)" --quota-bytes "$Q"
t_stderr_has "$BIG" "controller: the refusal counts from the largest database"
t_stderr_has "etcd raises NOSPACE there" "controller: --quota-bytes is taken as given, not assumed"
etcdctl --endpoints "$ETCD_C_ENDPOINTS" del --prefix /etcdcrypt/ >/dev/null

# --- 4. a closed stdout pipe is exit 3, not death by SIGPIPE -------------------
echo "# section 4 at ${SECONDS} s"
"$BIN" audit --endpoints "$ETCD_C_ENDPOINTS" --list-keys -o json 2>"$T_ERR" | head -1 >/dev/null
RC=${PIPESTATUS[0]}
t_eq "$RC" 3 "audit --list-keys | head -1: exit 3 (closed pipe reported), not 141"
t_stderr_has "cannot write results to stdout" "closed pipe: says stdout could not be written"

# --- 5. interrupts while etcd does not answer ----------------------------------
echo "# section 5 at ${SECONDS} s"
etcd_sigstop c1; etcd_sigstop c2; etcd_sigstop c3
for cmd in audit rewrite; do
	args=(--endpoints "$ETCD_C_ENDPOINTS" --dial-timeout 30s --command-timeout 30s)
	[ $cmd = rewrite ] && args+=(--config "$CBC")
	"$BIN" $cmd "${args[@]}" >"$T_OUT" 2>"$T_ERR" &
	P=$!
	# the signal must find the handler in place (a loaded machine can take
	# longer than a fixed sleep to start the binary), then the dial under way
	catches_int "$P" || t_fail "$cmd: no SIGINT handler after 10 s"
	sleep 0.5
	T0=$(now)
	kill -INT "$P"
	for _ in $(seq 1 100); do kill -0 "$P" 2>/dev/null || break; sleep 0.05; done
	T=$(secs "$T0" "$(now)")
	kill -0 "$P" 2>/dev/null && kill -9 "$P"
	wait "$P"
	RC=$?
	t_eq "$RC" 1 "$cmd: SIGINT while dialing hung members: exit 1 (interrupted)"
	if lt "$T" 2.0; then t_pass "$cmd: stopped ${T} s after SIGINT"; else t_fail "$cmd: took ${T} s after SIGINT"; fi
	t_stderr_has "interrupted" "$cmd: says interrupted"
	if grep -q "did not stop cleanly" "$T_ERR"; then t_fail "$cmd: stopped by the 2 s watchdog, not cleanly"; else t_pass "$cmd: stopped cleanly (not by the watchdog)"; fi
done
etcd_sigcont c1; etcd_sigcont c2; etcd_sigcont c3
healthy || t_fail "cluster did not recover after SIGCONT"

# rewrite running, then every member killed: SIGINT ends the retries, summary printed
"$BIN" rewrite --endpoints "$ETCD_C_ENDPOINTS" --config "$FX/configs/multi-key.yaml" --max-rate 800 --batch 16 -o json \
	>"$ETCD_TMP/int.json" 2>"$ETCD_TMP/int.err" &
RW=$!
R0=$(rev "$ETCD_C_ENDPOINTS")
for _ in $(seq 1 100); do sleep 0.1; [ "$(rev "$ETCD_C_ENDPOINTS")" -gt $((R0 + 5)) ] && break; done
etcd_kill9 c1; etcd_kill9 c2; etcd_kill9 c3
sleep 1.5
kill -0 "$RW" 2>/dev/null && STILL=1 || STILL=0
T0=$(now)
kill -TERM "$RW"
for _ in $(seq 1 100); do kill -0 "$RW" 2>/dev/null || break; sleep 0.05; done
T=$(secs "$T0" "$(now)")
kill -0 "$RW" 2>/dev/null && kill -9 "$RW"
wait "$RW"
RC=$?
t_eq "$STILL" 1 "rewrite still retrying after every member was killed"
t_eq "$RC" 1 "SIGTERM while etcd is down: rewrite exits 1"
if lt "$T" 2.0; then t_pass "rewrite stopped ${T} s after SIGTERM"; else t_fail "rewrite took ${T} s after SIGTERM"; fi
t_eq "$(jget "$ETCD_TMP/int.json" 'd["stopped"]' 2>/dev/null)" interrupted "rewrite's summary printed, stopped: interrupted"
if grep -q "did not stop cleanly" "$ETCD_TMP/int.err"; then t_fail "rewrite stopped by the 2 s watchdog"; else t_pass "rewrite stopped cleanly (not by the watchdog)"; fi

# --- 6. majority lost: "no quorum" within the command timeout ------------------
echo "# section 6 at ${SECONDS} s"
ETCD_NOWAIT=1 etcd_restart c1; ETCD_NOWAIT=1 etcd_restart c2; ETCD_NOWAIT=1 etcd_restart c3
healthy || t_fail "cluster did not come back after the kill"
etcd_kill9 c1; etcd_kill9 c2
# until c3 says it has no leader (election timeout 1 s; up to 15 s under load)
for _ in $(seq 1 150); do
	etcdctl --endpoints "$ETCD_C3_ENDPOINT" --command-timeout 1s endpoint status -w json 2>/dev/null |
		python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[0]["Status"].get("leader", 0) == 0 else 1)' 2>/dev/null && break
	sleep 0.1
done
for cmd in audit rewrite; do
	args=(--endpoints "$ETCD_C_ENDPOINTS" --command-timeout ${CT}s)
	[ $cmd = rewrite ] && args+=(--config "$CBC")
	T0=$(now)
	t_exit 3 "$cmd with 2 of 3 members down: exit 3" "$BIN" $cmd "${args[@]}"
	T=$(secs "$T0" "$(now)")
	t_stderr_has "no quorum" "$cmd: says no quorum"
	# c1 comes first in --endpoints and refuses: its refusal must not hide why
	t_stderr_has "; $ETCD_C3_ENDPOINT: no leader; " "$cmd: the member without a leader comes first, before the refusals"
	if lt "$T" $((CT + 2)); then t_pass "$cmd: no quorum reported in ${T} s"; else t_fail "$cmd: took ${T} s"; fi
done

# --- 7. client certificates outside their validity dates -----------------------
echo "# section 7 at ${SECONDS} s"
etcd_start ctls tls || exit 1
D=$ETCD_CTLS_CERTS
(
	cd "$D"
	mkdir -p cadb && : > cadb/index.txt && echo 1000 > cadb/serial
	printf '[ca]\ndefault_ca=d\n[d]\ndatabase=cadb/index.txt\nserial=cadb/serial\nnew_certs_dir=cadb\ndefault_md=sha256\npolicy=p\nunique_subject=no\nx509_extensions=x\n[p]\ncommonName=supplied\n[x]\nextendedKeyUsage=clientAuth\n' > ca.cnf
	for n in expired future; do
		openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
	done
	openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt -notext \
		-startdate 20200101000000Z -enddate 20200201000000Z >/dev/null 2>&1
	openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in future.csr -out future.crt -notext \
		-startdate 20990101000000Z -enddate 20990201000000Z >/dev/null 2>&1
)
TLS=(--endpoints "https://$ETCD_CTLS_ENDPOINT" --cacert "$D/ca.crt")
t_exit 2 "expired client certificate: exit 2" "$BIN" audit "${TLS[@]}" --cert "$D/expired.crt" --key "$D/expired.key"
t_stderr_has "expired.crt': expired on Feb  1 00:00:00 2020" "expired cert: says so, with the date"
t_exit 2 "not-yet-valid client certificate: exit 2" "$BIN" audit "${TLS[@]}" --cert "$D/future.crt" --key "$D/future.key"
t_stderr_has "future.crt': not valid yet (not before Jan  1 00:00:00 2099" "future cert: says so, with the date"
t_exit 0 "the valid client certificate still works" "$BIN" audit "${TLS[@]}" --cert "$D/client.crt" --key "$D/client.key" --allow-empty

t_done
