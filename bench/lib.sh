# bench/lib.sh: helpers for side-by-side benchmarks: interleaved runs,
# medians, peak RSS (GNU time), ratio rows.
# measure NAME CMD...  -> appends "seconds rss_kb" to $BENCH_DIR/NAME.runs
# With BENCH_ETCD_PID set, a 5th column: etcd's own CPU seconds (user + sys,
# from /proc/PID/stat) during the command: what the job cost the server.
measure() {
	local name=$1 e0 e1
	shift
	e0=$(etcd_cpu)
	/usr/bin/time -f "%e %M %U %S" -o "$BENCH_DIR/.time" "$@" >/dev/null 2>"$BENCH_DIR/.err" || {
		echo "bench: '$*' failed:" >&2
		cat "$BENCH_DIR/.err" >&2
		return 1
	}
	e1=$(etcd_cpu)
	awk -v e0="$e0" -v e1="$e1" '{ printf "%s %s %s %s %.2f\n", $1, $2, $3, $4, (e1 - e0) }' "$BENCH_DIR/.time" >> "$BENCH_DIR/$name.runs"
}

# etcd_cpu: CPU seconds etcd (BENCH_ETCD_PID) has used so far; 0 without it
etcd_cpu() {
	if [ -n "${BENCH_ETCD_PID:-}" ] && [ -r "/proc/$BENCH_ETCD_PID/stat" ]; then
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$BENCH_ETCD_PID/stat"
	else
		echo 0
	fi
}

# etcd_cpu_med NAME: median etcd CPU seconds of NAME's runs (column 5)
etcd_cpu_med() {
	awk '{ print $5 + 0 }' "$BENCH_DIR/$1.runs" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# median FILE COLUMN
median() {
	sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# row LABEL NAME BASE_NAME: median seconds, peak RSS, ratio to BASE
row() {
	local label=$1 name=$2 base=$3 t rss b
	t=$(median "$BENCH_DIR/$name.runs" 1)
	rss=$(sort -n -k2 "$BENCH_DIR/$name.runs" | tail -1 | awk '{ print $2 }')
	b=$(median "$BENCH_DIR/$base.runs" 1)
	awk -v l="$label" -v t="$t" -v r="$rss" -v b="$b" 'BEGIN {
		printf "  %-58s %9.3f s %9.1f MB %8.2fx\n", l, t, r / 1024, (b > 0 ? t / b : 0) }' | tee -a "$BENCH_OUT"
}

header() {
	printf '\n%s\n  %-58s %11s %12s %9s\n' "$1" "command" "median" "peak RSS" "ratio" | tee -a "$BENCH_OUT"
}

# cpu_us NAME N: median client CPU (user + sys, all threads) per item in us
cpu_us() {
	awk -v n="$2" '{ print ($3 + $4) * 1e6 / n }' "$BENCH_DIR/$1.runs" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# target LABEL VALUE OP LIMIT UNIT: one "target" line, met or not met
target() {
	awk -v l="$1" -v v="$2" -v op="$3" -v lim="$4" -v u="$5" 'BEGIN {
		ok = (op == "<=") ? (v <= lim) : (v >= lim)
		printf "  target %-46s %8.2f%s (%s %s%s): %s\n", l, v, u, op, lim, u, ok ? "met" : "NOT met" }' |
		tee -a "$BENCH_OUT"
}
