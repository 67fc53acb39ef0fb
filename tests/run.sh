#!/usr/bin/env bash
# tests/run.sh: runs the tests of etcdcrypt in two tiers.
#   bash tests/run.sh --unit-only UNIT_BINARY...   the unit tier: no etcd
#   bash tests/run.sh BINARY...                    both tiers
#   bash tests/run.sh --suites-only BINARY...      the suites, with etcds, no scripts
# The unit tier runs the given suites with no etcd on the machine: nothing is
# started and no ETCDCRYPT_TEST_* endpoint is exported (a suite under
# tests/etcd/ is refused). Both tiers: starts three throwaway etcds on
# loopback (plain, TLS with client certs, auth), exports their endpoints to
# the Check suites, runs the suites, then the integration scripts
# tests/integration/t_*.sh (which start their own etcds), and stops every
# etcd it started by PID. VALGRIND=1 runs the suites under valgrind (no
# scripts). Ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/lib/etcd.sh

cleanup() {
	etcd_stop_all
	rm -rf "$ETCD_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
failures=()

record() { # NAME STATUS
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$1")
	fi
}

UNIT_ONLY=0
SCRIPTS=1
if [ "${1:-}" = "--unit-only" ]; then
	UNIT_ONLY=1
	SCRIPTS=0
	shift
elif [ "${1:-}" = "--suites-only" ]; then
	SCRIPTS=0
	shift
fi

if [ "$UNIT_ONLY" = 1 ]; then
	unset ETCDCRYPT_TEST_ENDPOINT ETCDCRYPT_TEST_TLS_ENDPOINT ETCDCRYPT_TEST_TLS_CERTS ETCDCRYPT_TEST_AUTH_ENDPOINT
	for bin in "$@"; do
		case "$bin" in
		*/tests/etcd/*) echo "tests/run.sh: $bin needs etcd: not a unit suite" >&2; exit 2 ;;
		esac
	done
else
	etcd_start unit plain || exit 3
	etcd_start unittls tls || exit 3
	ETCD_EXTRA_FLAGS="--auth-token-ttl 2" etcd_start unitauth auth || exit 3
	export ETCDCRYPT_TEST_ENDPOINT=$ETCD_UNIT_ENDPOINT
	export ETCDCRYPT_TEST_TLS_ENDPOINT=$ETCD_UNITTLS_ENDPOINT
	export ETCDCRYPT_TEST_TLS_CERTS=$ETCD_UNITTLS_CERTS
	export ETCDCRYPT_TEST_AUTH_ENDPOINT=$ETCD_UNITAUTH_ENDPOINT
fi
: "${ETCDCRYPT_FIXTURES:=$PWD/fixtures}"
export ETCDCRYPT_FIXTURES

for bin in "$@"; do
	case "$bin" in
	*/tests/etcd/*) name="etcd/$(basename "$bin")" ;;
	*) name=$(basename "$bin") ;;
	esac
	echo "=== $name"
	if [ "${VALGRIND:-0}" = 1 ]; then
		CK_FORK=no CK_DEFAULT_TIMEOUT=600 valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=99 --suppressions=tests/valgrind.supp "$bin"
	else
		"$bin"
	fi
	rc=$?
	record "$name" "$rc"
done

if [ "${VALGRIND:-0}" != 1 ] && [ "$SCRIPTS" = 1 ]; then
	for t in tests/integration/t_*.sh; do
		[ -e "$t" ] || continue
		echo "=== $(basename "$t")"
		bash "$t"
		rc=$?
		record "$(basename "$t")" "$rc"
	done
fi

echo
if [ "$failed" -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
