# bench/kms.sh: the KMS v2 audit row, sourced by bench/run.sh.
# The same N secrets in two etcds: one with every value under one aesgcm key
# (the baseline), one with every value KMS v2 through a real plugin process
# (tests/kms/plugin.py on a unix socket; one seed, as one apiserver writes),
# audited in interleaved runs. Target: the KMS v2 audit within 1.2x of the
# aesgcm one. The plugin's own call counts (its stats file, not etcdcrypt's)
# are printed with the row.

bench_kms() { # N
	local n=$1 gep kep keks calls stat d0 s0
	etcd_start kmsgcm plain
	etcd_start kmsv2 plain
	gep=$ETCD_KMSGCM_ENDPOINT
	kep=$ETCD_KMSV2_ENDPOINT
	keks=$ETCD_TMP/bench-keks.json
	python3 -c 'import base64, json, os, sys
json.dump({"plugins": {"bench-kms": {"api_version": "v2", "keks_b64": {"bench-kek": base64.b64encode(os.urandom(32)).decode()}}}}, open(sys.argv[1], "w"))' "$keks"
	kms_start bench bench-kms v2 "$keks"
	local kf=(--kms-endpoint "bench-kms=unix://$KMS_BENCH_SOCK")
	for ep in "$gep" "$kep"; do
		$LOADGEN --endpoints "$ep" --count "$n" --config bench/config-gcm.yaml >/dev/null
		$BIN rewrite --endpoints "$ep" --config bench/config-gcm.yaml --quota-bytes 8G >/dev/null # all aesgcm
	done
	$BIN rewrite --endpoints "$kep" --config bench/config-kms.yaml "${kf[@]}" --quota-bytes 8G >/dev/null # all KMS v2
	squash "$gep"
	squash "$kep"
	rm -f "$BENCH_DIR"/*.runs
	d0=$(kms_count bench Decrypt)
	s0=$(kms_count bench Status)
	for _ in $(seq 1 "$RUNS"); do
		measure gcm $BIN audit --endpoints "$gep" --config bench/config-gcm.yaml
		measure kms2 $BIN audit --endpoints "$kep" --config bench/config-kms.yaml "${kf[@]}"
	done
	calls=$(( ($(kms_count bench Decrypt) - d0) / RUNS ))
	stat=$(( ($(kms_count bench Status) - s0) / RUNS ))
	header "audit, $n secrets of ~2.5 KiB: KMS v2 through a plugin vs aesgcm (same secrets, two etcds)"
	row "etcdcrypt audit, every value aesgcm (baseline)" gcm gcm
	row "etcdcrypt audit, every value KMS v2 (plugin, unix socket)" kms2 gcm
	awk -v k="$(median "$BENCH_DIR/kms2.runs" 1)" -v g="$(median "$BENCH_DIR/gcm.runs" 1)" -v d="$calls" \
		-v s="$stat" -v n="$n" \
		'BEGIN { printf "  => KMS v2 audit is %.2fx the aesgcm audit (target <= 1.2x); plugin calls per audit of %d values: %d Decrypt, %d Status\n", k / g, n, d, s }' |
		tee -a "$BENCH_OUT"
	kms_stop_all
	etcd_stop kmsgcm
	etcd_stop kmsv2
}
