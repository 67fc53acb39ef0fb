#!/usr/bin/env bash
# make bench: side-by-side benchmarks of etcdcrypt against the baselines the
# issues name, on a throwaway etcd whose data dir is on tmpfs. Every figure
# is a median of interleaved runs, printed with its ratio to the baseline
# (the host is noisy: compare ratios, not absolute times).
#   BENCH_SIZES="10000 100000"  BENCH_RUNS=5  bash bench/run.sh
#   BENCH_ONLY=kms BENCH_SIZES=20000 bash bench/run.sh   (one row group: audit, kms,
#                                                       rewrite or backup)
#   BENCH_ONLY=scale BENCH_SCALE_N=1000000 bash bench/run.sh  (make bench-scale: one
#       run of every job at N, peak RSS and time against the 100k figures)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/etcdcrypt
LOADGEN=build/bench/loadgen
export ETCDCTL_API=3
SIZES=${BENCH_SIZES:-10000 100000}
RUNS=${BENCH_RUNS:-5}
LOOP_N=${BENCH_LOOP_N:-1000}
mkdir -p bench/out
BENCH_OUT=bench/out/results.txt
: > "$BENCH_OUT"
TMPFS=/dev/shm
[ -d "$TMPFS" ] || TMPFS=/tmp
export ETCD_TMP=$(mktemp -d "$TMPFS/etcdcrypt-bench.XXXXXX")
BENCH_DIR=$(mktemp -d /tmp/etcdcrypt-bench-runs.XXXXXX)
source tests/lib/etcd.sh
source tests/lib/kms.sh
source bench/lib.sh
trap 'kms_stop_all; etcd_stop_all; rm -rf "$ETCD_TMP" "$BENCH_DIR"' EXIT
ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
export ETCD_EXTRA_FLAGS="--quota-backend-bytes 8589934592 ${BENCH_ETCD_FLAGS:-}"

echo "etcdcrypt bench: $(date -u +%FT%TZ), $(nproc) cores, etcd $(etcd --version | head -1 | awk '{print $3}'), runs=$RUNS" | tee -a "$BENCH_OUT"

# encryption.sh --status: one etcdctl process per secret
per_secret_loop() { # ENDPOINT N
	etcdctl --endpoints "$1" get --prefix --keys-only /registry/secrets/ | grep . | head -n "$2" |
		while read -r k; do etcdctl --endpoints "$1" get "$k" --print-value-only | head -c 32 >/dev/null; done
}

bench_audit() { # N
	local n=$1 ep
	etcd_start bench plain
	ep=$ETCD_BENCH_ENDPOINT
	$LOADGEN --endpoints "$ep" --count "$n" --config bench/config.yaml >/dev/null
	rm -f "$BENCH_DIR"/*.runs
	export BENCH_ETCD_PID=$ETCD_BENCH_PID
	for _ in $(seq 1 "$RUNS"); do
		measure dump etcdctl --endpoints "$ep" --command-timeout 300s get --prefix /registry/secrets/ -w protobuf
		measure keys etcdctl --endpoints "$ep" --command-timeout 300s get --prefix --keys-only /registry/secrets/
		measure audit $BIN audit --endpoints "$ep" --config bench/config.yaml
		measure classify $BIN audit --endpoints "$ep"
	done
	measure loop bash -c "$(declare -f per_secret_loop); per_secret_loop $ep $LOOP_N"
	# extrapolate the loop to N secrets
	awk -v f="$n" -v l="$LOOP_N" '{ printf "%.3f %s %s %s\n", $1 * f / l, $2, $3, $4 }' "$BENCH_DIR/loop.runs" > "$BENCH_DIR/loopx.runs"
	header "audit, $n secrets of ~2.5 KiB (20% plaintext, 80% aesgcm/aescbc x2/secretbox)"
	row "etcdctl get --prefix -w protobuf (dump only, baseline)" dump dump
	row "etcdctl get --prefix --keys-only (keys only)" keys dump
	row "etcdcrypt audit --config (full decryption)" audit dump
	row "etcdcrypt audit (classify only)" classify dump
	row "per-secret etcdctl loop ($LOOP_N secrets, extrapolated)" loopx dump
	awk -v a="$(median "$BENCH_DIR/audit.runs" 1)" -v l="$(median "$BENCH_DIR/loopx.runs" 1)" \
		'BEGIN { printf "  => audit is %.0fx faster than the per-secret loop\n", l / a }' | tee -a "$BENCH_OUT"
	target "audit / etcdctl get --keys-only" \
		"$(awk -v a="$(median "$BENCH_DIR/audit.runs" 1)" -v k="$(median "$BENCH_DIR/keys.runs" 1)" 'BEGIN { print a / k }')" "<=" 1.5 x
	target "audit client CPU (user+sys) per secret" "$(cpu_us audit "$n")" "<=" 4 " us"
	echo "  (etcdctl dump client CPU $(cpu_us dump "$n" | awk '{ printf "%.1f", $1 }') us/secret, keys-only $(cpu_us keys "$n" | awk '{ printf "%.1f", $1 }') us/key)" | tee -a "$BENCH_OUT"
	echo "  etcd's own CPU per run (median): keys-only $(etcd_cpu_med keys) s, audit --config $(etcd_cpu_med audit) s, classify $(etcd_cpu_med classify) s, dump $(etcd_cpu_med dump) s" | tee -a "$BENCH_OUT"
	unset BENCH_ETCD_PID
	etcd_stop bench
}

source bench/rewrite.sh
source bench/kms.sh
[ -f bench/backup.sh ] && source bench/backup.sh
if want audit; then
	for n in $SIZES; do
		bench_audit "$n"
	done
fi
if want kms; then
	for n in $SIZES; do
		bench_kms "$n"
	done
fi
if want rewrite; then
	for n in $SIZES; do
		bench_rewrite "$n" tmpfs
	done
	bench_rewrite "${BENCH_DISK_SIZE:-10000}" disk
fi
if want backup && declare -f bench_backup >/dev/null; then
	bench_backup "${BENCH_BACKUP_SIZE:-100000}"
fi
if [ "$ONLY" = scale ]; then
	source bench/scale.sh
	bench_scale "${BENCH_SCALE_N:-1000000}"
fi
echo
echo "results saved in $BENCH_OUT"
