# tests/lib/etcd.sh: start and stop throwaway etcd servers on loopback for tests.
# Source it, then:
#   etcd_start NAME [plain|tls|auth]   starts etcd, sets ETCD_<NAME>_{PID,ENDPOINT,DIR}
#                                       (tls: also ETCD_<NAME>_CERTS = dir with ca.crt client.crt client.key)
#                                       (auth: user root / password "rootpw", user app / "apppw")
#   ETCD_RESTORE=SNAPSHOT etcd_start ... restores an etcdctl snapshot file first
#   etcd_kill9 NAME / etcd_restart NAME  SIGKILL it / start it again on the same data dir and ports
#                                       (ETCD_NOWAIT=1: do not wait until it is healthy)
#   etcd_stop NAME                      stops it by PID and removes its data dir
#   etcd_stop_all                       stops every etcd this shell started (stopped ones too)
#   etcd_cluster_start NAME N           starts an N-member cluster on loopback: members NAME1..NAMEN
#                                       (each with ETCD_<NAMEi>_{PID,ENDPOINT,DIR}, usable with
#                                       etcd_kill9/etcd_restart/etcd_stop), ETCD_<NAME>_ENDPOINTS
#                                       = all client endpoints comma-separated
#   etcd_sigstop NAME / etcd_sigcont NAME  hang a member (SIGSTOP: TCP still accepts) / resume it
#   etcd_leader ENDPOINTS               prints the client endpoint of the current leader
#   free_port                           prints a free loopback TCP port
# Every etcd gets its own data dir under $ETCD_TMP (default: a mktemp dir).

: "${ETCD_TMP:=$(mktemp -d /tmp/etcdcrypt-test.XXXXXX)}"
ETCD_STARTED=()

free_port() {
	local port hex
	while :; do
		port=$((20000 + RANDOM % 40000))
		hex=$(printf '%04X' "$port")
		if ! grep -qi ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

etcd_gen_certs() { # DIR
	local d=$1
	mkdir -p "$d"
	(
		cd "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj /CN=etcdcrypt-test-ca 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext
		printf 'extendedKeyUsage=clientAuth\n' > client.ext
		for n in server client; do
			openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
			openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt \
				-days 2 -extfile $n.ext 2>/dev/null
		done
		# a second, unrelated CA and client cert: for "wrong cert" tests
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 \
			-subj /CN=other-ca 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout other.key -out other.csr -subj /CN=other 2>/dev/null
		openssl x509 -req -in other.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial \
			-out other.crt -days 2 -extfile client.ext 2>/dev/null
		chmod 600 ./*.key
	)
}

etcd_start() { # NAME [MODE]
	local name=$1 mode=${2:-plain} cport pport dir scheme=http extra=() i
	dir="$ETCD_TMP/etcd-$name"
	rm -rf "$dir"
	mkdir -p "$dir"
	cport=$(free_port)
	pport=$(free_port)
	if [ "$mode" = tls ]; then
		etcd_gen_certs "$dir/certs"
		scheme=https
		extra=(--cert-file "$dir/certs/server.crt" --key-file "$dir/certs/server.key"
		       --trusted-ca-file "$dir/certs/ca.crt" --client-cert-auth)
	fi
	if [ -n "${ETCD_RESTORE:-}" ]; then
		ETCDCTL_API=3 etcdctl snapshot restore "$ETCD_RESTORE" --data-dir "$dir/data" --name "$name" \
			--initial-cluster "$name=http://127.0.0.1:$pport" \
			--initial-advertise-peer-urls "http://127.0.0.1:$pport" >"$dir/restore.log" 2>&1 || {
			echo "etcd $name: snapshot restore of $ETCD_RESTORE failed; see $dir/restore.log" >&2
			return 1
		}
	fi
	local up="${name^^}"
	up=${up//-/_}
	local args=(--name "$name" --data-dir "$dir/data"
		--listen-client-urls "$scheme://127.0.0.1:$cport"
		--advertise-client-urls "$scheme://127.0.0.1:$cport"
		--listen-peer-urls "http://127.0.0.1:$pport"
		--initial-advertise-peer-urls "http://127.0.0.1:$pport"
		--initial-cluster "$name=http://127.0.0.1:$pport"
		--logger zap --log-outputs "$dir/etcd.log"
		${ETCD_EXTRA_FLAGS:-} "${extra[@]}")
	printf '%q ' "${args[@]}" > "$dir/args"
	etcd "${args[@]}" >/dev/null 2>&1 &
	local pid=$!
	ETCD_STARTED+=("$pid")
	eval "ETCD_${up}_PID=$pid ETCD_${up}_ENDPOINT=127.0.0.1:$cport ETCD_${up}_DIR=$dir"
	[ "$mode" = tls ] && eval "ETCD_${up}_CERTS=$dir/certs"
	local ctl=(etcdctl --endpoints "$scheme://127.0.0.1:$cport" --dial-timeout 1s)
	[ "$mode" = tls ] && ctl+=(--cacert "$dir/certs/ca.crt" --cert "$dir/certs/client.crt" --key "$dir/certs/client.key")
	for i in $(seq 1 100); do
		if "${ctl[@]}" endpoint health >/dev/null 2>&1; then
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "etcd $name failed to start; log: $dir/etcd.log" >&2
			tail -5 "$dir/etcd.log" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ "$mode" = auth ]; then
		"${ctl[@]}" user add root:rootpw >/dev/null
		"${ctl[@]}" user grant-role root root >/dev/null
		"${ctl[@]}" user add app:apppw >/dev/null
		"${ctl[@]}" role add app >/dev/null
		"${ctl[@]}" role grant-permission app readwrite /registry/ --prefix=true >/dev/null
		"${ctl[@]}" user grant-role app app >/dev/null
		"${ctl[@]}" auth enable >/dev/null
	fi
}

etcd_kill9() { # NAME
	local up="${1^^}" pid
	up=${up//-/_}
	eval "pid=\${ETCD_${up}_PID:-}"
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "$pid" ] && wait "$pid" 2>/dev/null
	return 0
}

etcd_restart() { # NAME: same data dir, same ports, same flags
	local up="${1^^}" dir ep pid i
	up=${up//-/_}
	eval "dir=\${ETCD_${up}_DIR}; ep=\${ETCD_${up}_ENDPOINT}"
	eval "exec etcd $(cat "$dir/args")" >/dev/null 2>&1 &
	pid=$!
	ETCD_STARTED+=("$pid")
	eval "ETCD_${up}_PID=$pid"
	[ -n "${ETCD_NOWAIT:-}" ] && return 0
	for i in $(seq 1 100); do
		etcdctl --endpoints "$ep" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "etcd $1 did not come back" >&2
	return 1
}

etcd_stop() { # NAME
	local up="${1^^}" pid dir
	up=${up//-/_}
	eval "pid=\${ETCD_${up}_PID:-}; dir=\${ETCD_${up}_DIR:-}"
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	[ -n "$dir" ] && rm -rf "$dir"
	eval "ETCD_${up}_PID="
}

etcd_stop_all() {
	local pid
	for pid in "${ETCD_STARTED[@]}"; do
		kill "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true # a SIGSTOPped member only dies once resumed
		wait "$pid" 2>/dev/null || true
	done
	ETCD_STARTED=()
}

etcd_sigstop() { # NAME
	local up="${1^^}" pid
	up=${up//-/_}
	eval "pid=\${ETCD_${up}_PID:-}"
	[ -n "$pid" ] && kill -STOP "$pid"
}

etcd_sigcont() { # NAME
	local up="${1^^}" pid
	up=${up//-/_}
	eval "pid=\${ETCD_${up}_PID:-}"
	[ -n "$pid" ] && kill -CONT "$pid"
}

etcd_cluster_start() { # NAME N
	local name=$1 n=$2 i m up dir cluster="" eps="" pid
	local -a cports pports
	for i in $(seq 1 "$n"); do
		cports[i]=$(free_port)
		pports[i]=$(free_port)
		cluster+="${cluster:+,}$name$i=http://127.0.0.1:${pports[i]}"
		eps+="${eps:+,}127.0.0.1:${cports[i]}"
	done
	for i in $(seq 1 "$n"); do
		m=$name$i
		up=${m^^}
		up=${up//-/_}
		dir="$ETCD_TMP/etcd-$m"
		rm -rf "$dir"
		mkdir -p "$dir"
		local args=(--name "$m" --data-dir "$dir/data"
			--listen-client-urls "http://127.0.0.1:${cports[i]}"
			--advertise-client-urls "http://127.0.0.1:${cports[i]}"
			--listen-peer-urls "http://127.0.0.1:${pports[i]}"
			--initial-advertise-peer-urls "http://127.0.0.1:${pports[i]}"
			--initial-cluster "$cluster" --initial-cluster-state new
			--initial-cluster-token "$name-$$"
			--logger zap --log-outputs "$dir/etcd.log"
			${ETCD_EXTRA_FLAGS:-})
		printf '%q ' "${args[@]}" > "$dir/args"
		etcd "${args[@]}" >/dev/null 2>&1 &
		pid=$!
		ETCD_STARTED+=("$pid")
		eval "ETCD_${up}_PID=$pid ETCD_${up}_ENDPOINT=127.0.0.1:${cports[i]} ETCD_${up}_DIR=$dir"
	done
	up=${name^^}
	up=${up//-/_}
	eval "ETCD_${up}_ENDPOINTS=$eps"
	for i in $(seq 1 150); do
		if etcdctl --endpoints "$eps" --dial-timeout 1s --command-timeout 2s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "etcd cluster $name did not become healthy; logs in $ETCD_TMP/etcd-$name*/etcd.log" >&2
	return 1
}

etcd_leader() { # ENDPOINTS
	etcdctl --endpoints "$1" --dial-timeout 1s --command-timeout 2s endpoint status -w json 2>/dev/null |
		python3 -c 'import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["header"]["member_id"] == s["Status"]["leader"]:
        print(s["Endpoint"])'
}
