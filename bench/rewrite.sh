# bench/rewrite.sh: the rewrite benchmark, sourced by bench/run.sh.
# Side by side, per N and storage (tmpfs, disk):
#   etcdcrypt rewrite (decrypt, encrypt, verify, batched CAS Txns)
#   (a) per-key CAS baseline: one Range + one Txn per secret, sequential
#       (run on BENCH_CAS_LIMIT secrets and scaled to N)
#   (b) etcd's write ceiling: batched plain puts of the same bytes
#   (c) the same with a mod_revision compare per put: (c)/(b) is what the
#       compares cost, rewrite/(c) what reading the values costs etcd
# Each rewrite run alternates bench/config.yaml and bench/config-b.yaml so
# that every run rewrites every value; the database is compacted and
# defragmented (untimed) between runs.

# measure_self NAME SCALE CMD...: the command prints "seconds: S keys: K"
measure_self() {
	local name=$1 scale=$2 s
	shift 2
	/usr/bin/time -f "%M %U %S" -o "$BENCH_DIR/.time" "$@" >"$BENCH_DIR/.out" 2>"$BENCH_DIR/.err" || {
		echo "bench: '$*' failed:" >&2
		cat "$BENCH_DIR/.err" >&2
		return 1
	}
	s=$(awk '/^seconds:/ { print $2 }' "$BENCH_DIR/.out")
	awk -v s="$s" -v f="$scale" '{ printf "%.3f %s %s %s\n", s * f, $1, $2, $3 }' "$BENCH_DIR/.time" >> "$BENCH_DIR/$name.runs"
}

squash() { # ENDPOINT: compact and defragment so runs start alike
	local rev
	rev=$(etcdctl --endpoints "$1" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
	etcdctl --endpoints "$1" compact "$rev" >/dev/null 2>&1 || true
	etcdctl --endpoints "$1" --command-timeout 300s defrag >/dev/null 2>&1 || echo "bench: defrag failed (runs may differ)" >&2
}

bench_rewrite() { # N STORAGE
	local n=$1 where=$2 ep cas_n=${BENCH_CAS_LIMIT:-5000} cfg r
	local saved_tmp=$ETCD_TMP
	if [ "$where" = disk ]; then
		ETCD_TMP=$(mktemp -d /var/tmp/etcdcrypt-bench.XXXXXX)
	fi
	[ "$cas_n" -gt "$n" ] && cas_n=$n
	etcd_start rwbench plain
	ep=$ETCD_RWBENCH_ENDPOINT
	$LOADGEN --endpoints "$ep" --count "$n" --config bench/config.yaml >/dev/null
	$BIN rewrite --endpoints "$ep" --config bench/config.yaml --quota-bytes 8G >/dev/null || true
	squash "$ep"
	rm -f "$BENCH_DIR"/*.runs
	for r in $(seq 1 "$RUNS"); do
		if [ $((r % 2)) -eq 1 ]; then cfg=bench/config-b.yaml; else cfg=bench/config.yaml; fi
		measure rw $BIN rewrite --endpoints "$ep" --config "$cfg" --quota-bytes 8G
		squash "$ep"
		measure_self ceiling 1 build/bench/rwbase --endpoints "$ep" --mode ceiling --batch 128 --inflight 8
		squash "$ep"
		measure_self bcas 1 build/bench/rwbase --endpoints "$ep" --mode batched-cas --batch 128 --inflight 8
		squash "$ep"
		measure_self cas "$(awk -v a="$n" -v b="$cas_n" 'BEGIN { print a / b }')" \
			build/bench/rwbase --endpoints "$ep" --mode cas --limit "$cas_n"
		squash "$ep"
	done
	header "rewrite, $n secrets of ~2.5 KiB, etcd data on $where (every run rewrites every value)"
	row "etcd write ceiling: batched plain puts, 128/Txn, 8 in flight (b)" ceiling ceiling
	row "batched CAS puts, no reads, no crypto (c)" bcas ceiling
	row "etcdcrypt rewrite (read, decrypt, encrypt, verify, CAS)" rw ceiling
	row "per-key Range + CAS Txn, sequential ($cas_n, scaled) (a)" cas ceiling
	awk -v rw="$(median "$BENCH_DIR/rw.runs" 1)" -v c="$(median "$BENCH_DIR/cas.runs" 1)" \
		-v ce="$(median "$BENCH_DIR/ceiling.runs" 1)" -v n="$n" \
		-v cpu="$(awk '{ print $3 + $4 }' "$BENCH_DIR/rw.runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')" \
		'BEGIN { printf "  => %.0f secrets/s; %.1fx the per-key baseline (target >= 10x); %.0f%% of the ceiling (target >= 70%%); %.1f us CPU per secret\n",
			n / rw, c / rw, 100 * ce / rw, 1e6 * cpu / n }' | tee -a "$BENCH_OUT"
	echo "  client CPU (user+sys) per secret: rewrite $(cpu_us rw "$n" | awk '{ printf "%.1f", $1 }') us, (b) $(cpu_us ceiling "$n" | awk '{ printf "%.1f", $1 }') us, (c) $(cpu_us bcas "$n" | awk '{ printf "%.1f", $1 }') us" | tee -a "$BENCH_OUT"
	target "rewrite speed / batched CAS (c)" \
		"$(awk -v r="$(median "$BENCH_DIR/rw.runs" 1)" -v b="$(median "$BENCH_DIR/bcas.runs" 1)" 'BEGIN { print b / r }')" ">=" 1.1 x
	target "rewrite client CPU (user+sys) per secret" "$(cpu_us rw "$n")" "<=" 8 " us"
	etcd_stop rwbench
	if [ "$where" = disk ]; then
		rm -rf "$ETCD_TMP"
		ETCD_TMP=$saved_tmp
	fi
}
