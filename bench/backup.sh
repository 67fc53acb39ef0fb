# bench/backup.sh: `backup verify` side by side, sourced by bench/run.sh
# (uses its BIN, LOADGEN, RUNS, BENCH_DIR and bench/lib.sh helpers).
#   bench_backup N   loads N synthetic secrets into a throwaway etcd, saves a
#                    snapshot with `etcdctl snapshot save`, then times (runs
#                    interleaved) `etcdcrypt backup verify --config` (trailer
#                    hash + bbolt walk + full decryption), `etcdctl snapshot
#                    status` (walks the same file), `openssl dgst -sha256`
#                    (the floor: one read and one SHA-NI hash) and
#                    `sha256sum`. Target: verify within 1.2x of openssl dgst.
bench_backup() { # N
	local n=$1 ep snap
	etcd_start benchbk plain
	ep=$ETCD_BENCHBK_ENDPOINT
	$LOADGEN --endpoints "$ep" --count "$n" --config bench/config.yaml >/dev/null
	snap=$ETCD_TMP/bench-$n.snapshot.db
	etcdctl --endpoints "$ep" --command-timeout 600s snapshot save "$snap" >/dev/null 2>&1
	etcd_stop benchbk
	rm -f "$BENCH_DIR"/*.runs
	cat "$snap" >/dev/null # warm the page cache once; every run then reads it warm
	for _ in $(seq 1 "$RUNS"); do
		measure dgst openssl dgst -sha256 "$snap"
		measure sha sha256sum "$snap"
		measure verify $BIN backup verify "$snap" --config bench/config.yaml
		measure status etcdctl snapshot status "$snap"
	done
	header "backup verify, snapshot of $n secrets ($(($(stat -c %s "$snap") / 1048576)) MiB)"
	row "openssl dgst -sha256 SNAPSHOT (floor: one read, one hash)" dgst dgst
	row "sha256sum SNAPSHOT" sha dgst
	row "etcdcrypt backup verify --config (hash + walk + decrypt all)" verify dgst
	row "etcdctl snapshot status (bbolt walk, crc32)" status dgst
	target "backup verify / openssl dgst -sha256" \
		"$(awk -v v="$(median "$BENCH_DIR/verify.runs" 1)" -v s="$(median "$BENCH_DIR/dgst.runs" 1)" 'BEGIN { print v / s }')" "<=" 1.2 x
	awk -v v="$(median "$BENCH_DIR/verify.runs" 1)" -v s="$(median "$BENCH_DIR/sha.runs" 1)" \
		'BEGIN { printf "  => verify is %.2fx sha256sum\n", v / s }' | tee -a "$BENCH_OUT"
	rm -f "$snap"
}
