# tests/lib/kms.sh: start and stop the test KMS plugin (tests/kms/plugin.py).
# Source it after tests/lib/etcd.sh, then:
#   kms_start ID PLUGIN v1|v2 [KEKS_FILE] [extra plugin.py args...]
#        starts a plugin serving PLUGIN's KEKs (default: fixtures' fake-kms.json)
#        on $ETCD_TMP/kms-ID.sock; sets KMS_<ID>_{PID,SOCK,CTL,STATS};
#        KMS_<ID>_CTL is its control file (JSON, read on every call)
#   kms_ctl ID JSON       replaces the control file
#   kms_count ID METHOD   calls of METHOD so far (waits 0.1 s for the stats file)
#   kms_stop_all          stops every plugin this shell started (by PID)
# The plugin runs on Debian's /usr/bin/python3 (python3-grpcio).
KMS_PY=${KMS_PY:-/usr/bin/python3}
KMS_STARTED=()

kms_start() { # ID PLUGIN API [KEKS] [ARGS...]
	local id=$1 plugin=$2 api=$3 keks=${4:-${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors/fake-kms.json} i
	shift 4 2>/dev/null || shift $#
	local up="${id^^}" sock="$ETCD_TMP/kms-$id.sock" ctl="$ETCD_TMP/kms-$id.ctl" stats="$ETCD_TMP/kms-$id.stats"
	up=${up//-/_}
	echo '{}' > "$ctl"
	rm -f "$sock" "$stats"
	"$KMS_PY" tests/kms/plugin.py --socket "$sock" --keks "$keks" --plugin "$plugin" --api "$api" \
		--control "$ctl" --stats "$stats" "$@" 2>"$ETCD_TMP/kms-$id.log" &
	local pid=$!
	KMS_STARTED+=("$pid")
	eval "KMS_${up}_PID=$pid KMS_${up}_SOCK=$sock KMS_${up}_CTL=$ctl KMS_${up}_STATS=$stats"
	for i in $(seq 1 100); do
		[ -S "$sock" ] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "KMS plugin $id failed to start:" >&2
			cat "$ETCD_TMP/kms-$id.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "KMS plugin $id: no socket after 10 s" >&2
	return 1
}

kms_ctl() { # ID JSON
	local up="${1^^}" f
	up=${up//-/_}
	eval "f=\$KMS_${up}_CTL"
	printf '%s\n' "$2" > "$f.tmp" && mv "$f.tmp" "$f"
}

kms_count() { # ID METHOD
	local up="${1^^}" f
	up=${up//-/_}
	eval "f=\$KMS_${up}_STATS"
	sleep 0.1 # the plugin rewrites its stats file within 10 ms of a call
	python3 -c 'import json,os,sys; p=sys.argv[1]; print(json.load(open(p)).get(sys.argv[2], 0) if os.path.exists(p) else 0)' "$f" "$2"
}

kms_stop_all() {
	local pid
	for pid in "${KMS_STARTED[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	KMS_STARTED=()
}
