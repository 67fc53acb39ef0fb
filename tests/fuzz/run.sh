#!/usr/bin/env bash
# tests/fuzz/run.sh (make fuzz): builds the libFuzzer targets with clang and
# ASan/UBSan and runs each for FUZZ_SECONDS (default 300) on a corpus seeded
# from real snapshots: the reference fixtures/k8s-vectors/snapshot.db, a
# small snapshot saved from a throwaway etcd (when etcd is installed), and
# cut-down copies of both. Crashes are left in $FUZZ_DIR/crashes.
#   FUZZ_SECONDS=120 bash tests/fuzz/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${FUZZ_SECONDS:-300}
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
mkdir -p "$FUZZ_DIR/corpus" "$FUZZ_DIR/crashes"

if ! command -v clang >/dev/null; then
	echo "fuzz: clang missing; installing it" >&2
	apt-get install -y clang >/dev/null || { apt-get update >/dev/null && apt-get install -y clang >/dev/null; }
fi

SRCS="core/bolt/bolt.c core/bolt/snapshot.c core/base/pbwire.c core/base/err.c core/base/file.c core/base/hex.c core/xform/digest.c"
clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -Icore -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer \
	-o "$FUZZ_DIR/fuzz_snapshot" tests/fuzz/fuzz_snapshot.c $SRCS \
	$(pkg-config --cflags --libs libcrypto)

# fuzz_value: stored values through every provider's read rules (KMS via the
# keyring; the plugin client is stubbed out: tests/fuzz/kms_stub.c)
VALUE_SRCS="$(ls core/base/*.c core/conf/encconf*.c core/xform/*.c)"
clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -Icore -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer \
	-o "$FUZZ_DIR/fuzz_value" tests/fuzz/fuzz_value.c tests/fuzz/kms_stub.c $VALUE_SRCS \
	$(pkg-config --cflags --libs libcrypto yaml-0.1 libsodium jansson)
mkdir -p "$FUZZ_DIR/values"
python3 - "$FUZZ_DIR/values" <<'PY'
import base64, json, os, sys
for line in open("fixtures/k8s-vectors/vectors.jsonl"):
    v = json.loads(line)
    open(os.path.join(sys.argv[1], v["id"]), "wb").write(base64.b64decode(v["stored_value_b64"]))
PY

# seeds: real snapshots and cut-down variants (small inputs mutate faster)
seed() { cp "$1" "$FUZZ_DIR/corpus/$2"; }
seed fixtures/k8s-vectors/snapshot.db ref.db
head -c 16384 fixtures/k8s-vectors/snapshot.db >"$FUZZ_DIR/corpus/ref-head.db"
if command -v etcd >/dev/null && [ ! -e "$FUZZ_DIR/corpus/small.db" ]; then
	source tests/lib/etcd.sh
	trap 'etcd_stop_all; rm -rf "$ETCD_TMP"' EXIT
	if etcd_start fuzzseed plain; then
		E=$ETCD_FUZZSEED_ENDPOINT
		for i in 1 2 3; do etcdctl --endpoints "$E" put "/registry/secrets/ns/s$i" "k8s:enc:aescbc:v1:k:$i" >/dev/null; done
		etcdctl --endpoints "$E" put /registry/secrets/ns/s1 '{"kind":"Secret"}' >/dev/null
		etcdctl --endpoints "$E" del /registry/secrets/ns/s2 >/dev/null
		etcdctl --endpoints "$E" compact 3 >/dev/null
		etcdctl --endpoints "$E" snapshot save "$FUZZ_DIR/corpus/small.db" >/dev/null 2>&1 || true
		etcd_stop fuzzseed
	fi
fi

echo "fuzz: fuzz_snapshot for ${SECONDS_TO_RUN}s (corpus $FUZZ_DIR/corpus)"
"$FUZZ_DIR/fuzz_snapshot" -max_total_time="$SECONDS_TO_RUN" -max_len=300000 -rss_limit_mb=2048 \
	-artifact_prefix="$FUZZ_DIR/crashes/" -print_final_stats=1 "$FUZZ_DIR/corpus" 2>&1 | tail -25
echo "fuzz: fuzz_value for ${SECONDS_TO_RUN}s (seeded with every reference vector)"
ETCDCRYPT_FIXTURES=$PWD/fixtures "$FUZZ_DIR/fuzz_value" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 \
	-rss_limit_mb=2048 -artifact_prefix="$FUZZ_DIR/crashes/" -print_final_stats=1 "$FUZZ_DIR/values" 2>&1 | tail -8
echo "fuzz: clean (no crash in ${SECONDS_TO_RUN}s per target)"
