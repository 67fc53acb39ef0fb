# bench/scale.sh: `make bench-scale`, sourced by bench/run.sh (BENCH_ONLY=scale).
# One run of every job at BENCH_SCALE_BASE (100k) and at N (1M) secrets on
# tmpfs: etcdctl get --keys-only, audit, etcdctl get -w protobuf (fails at 1M:
# its reply exceeds gRPC's 2 GiB message limit), rewrite --compact-every,
# audit --history, snapshot save + backup verify (with openssl dgst beside it).
# Prints time and peak RSS of each, and the targets: time at N <= 11x the
# base time (for 10x the secrets), peak RSS <= 1.2x the base, audit and
# rewrite < 100 MB, backup verify < 100 MB of anonymous memory.
# Guards (the machine must survive): a watchdog stops etcd and the run when
# MemAvailable falls under BENCH_MIN_FREE_MB (default 4096) or etcd's
# anonymous RSS passes BENCH_ETCD_MAX_MB (default 14336); every command has a timeout and
# the whole scale run stops at BENCH_SCALE_SECONDS (default 2400) or at the
# epoch BENCH_SCALE_DEADLINE, whichever is earlier.

SCALE_STOP=""

scale_left() {
	local now end
	now=$(date +%s)
	end=$((SCALE_T0 + ${BENCH_SCALE_SECONDS:-2400}))
	[ -n "${BENCH_SCALE_DEADLINE:-}" ] && [ "$BENCH_SCALE_DEADLINE" -lt "$end" ] && end=$BENCH_SCALE_DEADLINE
	echo $((end - now))
}

# watchdog ETCD_PID FLAG_FILE: stops etcd before the machine runs out of memory
scale_watchdog() {
	local pid=$1 flag=$2 avail rss peak=0
	while kill -0 "$pid" 2>/dev/null; do
		avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
		# anonymous memory: etcd's RSS also counts its mapping of the bbolt file,
		# which on tmpfs is already in MemAvailable's account
		rss=$(awk '/^RssAnon:/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "$rss" -gt "$peak" ] && peak=$rss && echo "$peak" > "$flag.peak"
		if [ "$avail" -lt "${BENCH_MIN_FREE_MB:-4096}" ] || [ "$rss" -gt "${BENCH_ETCD_MAX_MB:-14336}" ]; then
			echo "memory guard: MemAvailable ${avail} MB, etcd anonymous RSS ${rss} MB: stopping etcd" > "$flag"
			kill -TERM "$pid" 2>/dev/null
			# and the command being measured (a client would retry for minutes)
			[ -s "$flag.cmd" ] && pkill -TERM -P "$(cat "$flag.cmd")" 2>/dev/null
			sleep 5
			kill -KILL "$pid" 2>/dev/null
			return
		fi
		sleep 1
	done
}

# scale_run NAME CMD...: one timed run into NAME.N: seconds, peak RSS KB,
# user s, sys s, exit status, peak anonymous RSS KB (sampled every 0.1 s)
scale_run() {
	local name=$1 left rc=0 bg pid kid v anon=0
	shift
	left=$(scale_left)
	if [ -n "$SCALE_STOP" ] || [ "$left" -le 10 ]; then
		[ -z "$SCALE_STOP" ] && SCALE_STOP="time bound reached"
		return 0
	fi
	/usr/bin/time -f "%e %M %U %S" -o "$BENCH_DIR/.time" timeout -k 10 "$left" "$@" >/dev/null 2>"$BENCH_DIR/$name.$SCALE_N.err" &
	bg=$!
	echo "$bg" > "$SCALE_FLAG.cmd"
	while kill -0 "$bg" 2>/dev/null; do
		pid=$bg
		while kid=$(pgrep -P "$pid" | head -1) && [ -n "$kid" ]; do pid=$kid; done
		v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		[ "${v:-0}" -gt "$anon" ] && anon=$v
		sleep 0.1
	done
	wait "$bg" || rc=$?
	echo "$(tail -1 "$BENCH_DIR/.time") $rc $anon" > "$BENCH_DIR/$name.$SCALE_N"
	[ -s "$SCALE_FLAG" ] && SCALE_STOP=$(cat "$SCALE_FLAG")
	return 0
}

scale_one() { # N
	local n=$1 ep snap wd
	SCALE_N=$n
	SCALE_FLAG=$BENCH_DIR/guard.$n
	: > "$SCALE_FLAG"
	etcd_start scale plain
	ep=$ETCD_SCALE_ENDPOINT
	scale_watchdog "$ETCD_SCALE_PID" "$SCALE_FLAG" &
	wd=$!
	scale_run load $LOADGEN --endpoints "$ep" --count "$n" --config bench/config.yaml
	scale_run keys etcdctl --endpoints "$ep" --command-timeout 600s get --prefix --keys-only /registry/secrets/
	# a busy host can take etcd past the 5 s default per request at 1M
	scale_run audit $BIN audit --endpoints "$ep" --command-timeout 60s --config bench/config.yaml
	scale_run rewrite $BIN rewrite --endpoints "$ep" --command-timeout 60s --config bench/config-b.yaml --quota-bytes 8G \
		--compact-every "${BENCH_COMPACT_EVERY:-100000}"
	# etcd's own write speed at this size: the same 100k batched plain puts
	# (no reads, no crypto) into the database of n secrets
	scale_run ceil build/bench/rwbase --endpoints "$ep" --mode ceiling --batch 128 --inflight 8 --limit 100000
	scale_run history $BIN audit --history --endpoints "$ep" --command-timeout 600s --config bench/config-b.yaml
	# on disk: etcd's data and its anonymous memory already take most of
	# the RAM at 1M (a tmpfs snapshot tripped the memory guard)
	snap=$(mktemp "${BENCH_SNAP_DIR:-/var/tmp}/etcdcrypt-scale-$n.XXXXXX")
	scale_run save etcdctl --endpoints "$ep" --command-timeout 600s snapshot save "$snap"
	# last: etcd builds the whole reply in memory (the guard may stop it)
	scale_run dump etcdctl --endpoints "$ep" --command-timeout 600s get --prefix /registry/secrets/ -w protobuf
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
	cp "$SCALE_FLAG.peak" "$BENCH_DIR/etcdpeak.$n" 2>/dev/null || true
	etcd_stop scale
	if [ -f "$snap" ]; then
		stat -c %s "$snap" > "$BENCH_DIR/snapsize.$n"
		cat "$snap" >/dev/null
		scale_run dgst openssl dgst -sha256 "$snap"
		scale_run verify $BIN backup verify "$snap" --config bench/config-b.yaml
		scale_run sha sha256sum "$snap"
		scale_run status etcdctl snapshot status "$snap"
		rm -f "$snap"
	fi
}

scale_row() { # LABEL NAME [LIMIT_MB [anon]]: anon judges anonymous memory (column 6), not RSS
	local f0=$BENCH_DIR/$2.$SCALE_BASE f1=$BENCH_DIR/$2.$SCALE_BIG mcol=2
	[ "${4:-}" = anon ] && mcol=6
	if [ ! -f "$f1" ]; then
		printf "  %-40s %s\n" "$1" "not run (${SCALE_STOP:-skipped})" | tee -a "$BENCH_OUT"
		return
	fi
	awk -v l="$1" -v lim="${3:-0}" -v k="$((SCALE_BIG / SCALE_BASE))" -v f0="$f0" -v mc="$mcol" 'BEGIN {
		t0 = r0 = 0; if ((getline line < f0) > 0) { split(line, a, " "); t0 = a[1]; r0 = a[mc] }
	}
	{
		t = $1; r = $mc; rc = $5
		st = rc == 0 ? "" : sprintf(" (exit %d)", rc)
		tr = t0 > 0 ? t / t0 : 0; rr = r0 > 0 ? r / r0 : 0
		printf "  %-40s %8.2f s %8.1f MB %8.2f s %8.1f MB  %5.1fx %s %5.2fx %s%s%s\n", l, t0, r0 / 1024, t, r / 1024,
			tr, (tr <= 1.1 * k ? "ok " : "NOT"), rr, (rr <= 1.2 ? "ok " : "NOT"),
			(lim > 0 ? (r / 1024 < lim ? sprintf(" <%dMB ok", lim) : sprintf(" <%dMB NOT met", lim)) : ""), st
	}' "$f1" | tee -a "$BENCH_OUT"
}

bench_scale() { # N
	SCALE_BIG=$1
	SCALE_BASE=${BENCH_SCALE_BASE:-100000}
	SCALE_T0=$(date +%s)
	# etcd keeps snapshot-count raft entries in memory: with 128-put Txns of
	# 2.5 KiB values the default (100,000) is gigabytes at 1M secrets
	case " $ETCD_EXTRA_FLAGS " in *" --snapshot-count "*) ;;
	*) ETCD_EXTRA_FLAGS="$ETCD_EXTRA_FLAGS --snapshot-count ${BENCH_SNAPSHOT_COUNT:-5000}" ;;
	esac
	echo "scale: $SCALE_BASE then $SCALE_BIG secrets on tmpfs; time bound $(scale_left) s" | tee -a "$BENCH_OUT"
	if [ -n "${BENCH_SCALE_REUSE:-}" ]; then # the base figures of an earlier run (its BENCH_DIR files)
		cp "$BENCH_SCALE_REUSE"/*."$SCALE_BASE" "$BENCH_DIR"/
	else
		scale_one "$SCALE_BASE"
	fi
	scale_one "$SCALE_BIG"
	printf '\nscale: one run each, %s vs %s secrets of ~2.5 KiB (etcd on tmpfs)\n' "$SCALE_BASE" "$SCALE_BIG" | tee -a "$BENCH_OUT"
	printf '  %-40s %10s %11s %10s %11s  %-9s %-9s\n' "job" "time@base" "RSS@base" "time@N" "RSS@N" "time<=11x" "RSS<=1.2x" | tee -a "$BENCH_OUT"
	scale_row "loadgen (not a target)" load
	scale_row "etcdctl get --prefix --keys-only" keys
	scale_row "etcdcrypt audit --config" audit 100
	scale_row "etcdcrypt rewrite --compact-every" rewrite 100
	scale_row "etcd ceiling: 100k batched puts (b)" ceil
	scale_row "etcdcrypt audit --history" history
	scale_row "etcdctl snapshot save" save
	scale_row "etcdctl get --prefix -w protobuf" dump
	scale_row "openssl dgst -sha256 SNAPSHOT" dgst
	scale_row "backup verify --config (anon. memory)" verify 100 anon
	scale_row "sha256sum SNAPSHOT" sha
	scale_row "etcdctl snapshot status SNAPSHOT" status
	for n in "$SCALE_BASE" "$SCALE_BIG"; do
		[ -f "$BENCH_DIR/audit.$n" ] && [ -f "$BENCH_DIR/keys.$n" ] &&
			awk -v n="$n" -v a="$(cut -d' ' -f1 "$BENCH_DIR/audit.$n")" -v k="$(cut -d' ' -f1 "$BENCH_DIR/keys.$n")" \
				-v cpu="$(awk '{ print $3 + $4 }' "$BENCH_DIR/audit.$n")" \
				'BEGIN { printf "  %d: audit %.2fx etcdctl --keys-only (target <= 1.5x: %s), %.1f us client CPU per secret (target <= 4 us: %s)\n", n, a / k, (a / k <= 1.5 ? "met" : "NOT met"), 1e6 * cpu / n, (1e6 * cpu / n <= 4 ? "met" : "NOT met") }' | tee -a "$BENCH_OUT"
		[ -f "$BENCH_DIR/rewrite.$n" ] &&
			awk -v n="$n" '{ printf "  %d: rewrite %.0f secrets/s, %.1f us client CPU per secret (target <= 8 us: %s)\n", n, n / $1, 1e6 * ($3 + $4) / n, (1e6 * ($3 + $4) / n <= 8 ? "met" : "NOT met") }' \
				"$BENCH_DIR/rewrite.$n" | tee -a "$BENCH_OUT"
		[ -f "$BENCH_DIR/verify.$n" ] && [ -f "$BENCH_DIR/dgst.$n" ] &&
			awk -v n="$n" -v v="$(cut -d' ' -f1 "$BENCH_DIR/verify.$n")" -v d="$(cut -d' ' -f1 "$BENCH_DIR/dgst.$n")" \
				-v an="$(cut -d' ' -f6 "$BENCH_DIR/verify.$n")" -v sz="$(cat "$BENCH_DIR/snapsize.$n" 2>/dev/null || echo 0)" \
				-v rss="$(cut -d' ' -f2 "$BENCH_DIR/verify.$n")" \
				'BEGIN { printf "  %d: backup verify %.2fx openssl dgst (target <= 1.2x: %s) of %.0f MB; %.1f MB anonymous peak (target < 100 MB: %s); RSS %.0f MB (the file mapped in: page cache)\n", n, v / d, (v / d <= 1.2 ? "met" : "NOT met"), sz / 1048576, an / 1024, (an / 1024 < 100 ? "met" : "NOT met"), rss / 1024 }' | tee -a "$BENCH_OUT"
		[ -f "$BENCH_DIR/dump.$n" ] && [ "$(cut -d' ' -f5 "$BENCH_DIR/dump.$n")" != 0 ] &&
			echo "  $n: etcdctl get -w protobuf failed: $(grep -v '^$' "$BENCH_DIR/dump.$n.err" | tail -1 | cut -c1-160)" | tee -a "$BENCH_OUT"
		[ -f "$BENCH_DIR/etcdpeak.$n" ] && echo "  $n: etcd peak RSS $(cat "$BENCH_DIR/etcdpeak.$n") MB" | tee -a "$BENCH_OUT"
	done
	[ -f "$BENCH_DIR/ceil.$SCALE_BASE" ] && [ -f "$BENCH_DIR/ceil.$SCALE_BIG" ] && [ -f "$BENCH_DIR/rewrite.$SCALE_BIG" ] &&
		awk -v c0="$(cut -d' ' -f1 "$BENCH_DIR/ceil.$SCALE_BASE")" -v c1="$(cut -d' ' -f1 "$BENCH_DIR/ceil.$SCALE_BIG")" \
			-v r0="$(cut -d' ' -f1 "$BENCH_DIR/rewrite.$SCALE_BASE")" -v r1="$(cut -d' ' -f1 "$BENCH_DIR/rewrite.$SCALE_BIG")" \
			-v k="$((SCALE_BIG / SCALE_BASE))" -v n="$SCALE_BIG" \
			'BEGIN { printf "  %d: etcd writes the same 100k batched puts %.1fx slower than at the base size; rewrite per secret %.1fx slower (%.1fx the time for %dx the secrets)\n", n, c1 / c0, (r1 / k) / r0, r1 / r0, k }' | tee -a "$BENCH_OUT"
	[ -n "$SCALE_STOP" ] && echo "  stopped early: $SCALE_STOP" | tee -a "$BENCH_OUT"
	return 0
}
