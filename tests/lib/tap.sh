# tests/lib/tap.sh: tiny assertion helpers for the integration scripts.
# Each check prints "ok N - what" or "not ok N - what" plus the evidence;
# t_done prints the count and exits non-zero if any check failed.
T_N=0
T_FAILED=0
T_OUT=$(mktemp /tmp/etcdcrypt-t.XXXXXX)
T_ERR=$(mktemp /tmp/etcdcrypt-t.XXXXXX)
trap 'rm -f "$T_OUT" "$T_ERR"' EXIT

t_pass() { T_N=$((T_N + 1)); echo "ok $T_N - $1"; }
t_fail() {
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $1"
	shift
	[ $# -gt 0 ] && printf '    %s\n' "$@"
	echo "    --- stdout:"; sed 's/^/    | /' "$T_OUT" | head -40
	echo "    --- stderr:"; sed 's/^/    | /' "$T_ERR" | head -20
}

# t_run CMD...: runs CMD capturing stdout/stderr; sets T_RC
t_run() { "$@" >"$T_OUT" 2>"$T_ERR"; T_RC=$?; }

# t_exit EXPECTED "what" CMD...: CMD must exit with EXPECTED
t_exit() {
	local want=$1 what=$2
	shift 2
	t_run "$@"
	if [ "$T_RC" -eq "$want" ]; then t_pass "$what"; else t_fail "$what" "exit $T_RC, expected $want"; fi
}

# t_stdout_has "text" "what": the last t_run's stdout contains text
t_stdout_has() {
	if grep -qF -- "$1" "$T_OUT"; then t_pass "$2"; else t_fail "$2" "stdout lacks: $1"; fi
}
t_stdout_lacks() {
	if ! grep -qF -- "$1" "$T_OUT"; then t_pass "$2"; else t_fail "$2" "stdout has: $1"; fi
}
t_stderr_has() {
	if grep -qF -- "$1" "$T_ERR"; then t_pass "$2"; else t_fail "$2" "stderr lacks: $1"; fi
}
# stderr is exactly one line
t_stderr_one_line() {
	local n
	n=$(wc -l <"$T_ERR")
	if [ "$n" -eq 1 ]; then t_pass "$1"; else t_fail "$1" "stderr has $n lines"; fi
}
t_eq() { # ACTUAL EXPECTED "what"
	if [ "$1" = "$2" ]; then t_pass "$3"; else t_fail "$3" "got '$1', expected '$2'"; fi
}

t_done() {
	echo "# $T_N checks, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
}
