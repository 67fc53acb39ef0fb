#!/usr/bin/env bash
# t_docs: the man page and the bash completion are generated from the
# binary's --help texts (scripts/helpdocs.py). The page renders without a
# groff or man warning and has a subsection for every command and verb and
# every flag their --help lists; completion completes commands, verbs, flags
# and flag values. A command and a flag that only a stand-in binary's --help
# knows appear in both, so a new command cannot be missed.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-$PWD/build/etcdcrypt}
W=$(mktemp -d /tmp/etcdcrypt-docs.XXXXXX)
trap 'rm -rf "$W" "$T_OUT" "$T_ERR"' EXIT

t_exit 0 "helpdocs man" python3 scripts/helpdocs.py man "$BIN" "$W/etcdcrypt.1"
t_exit 0 "helpdocs completion" python3 scripts/helpdocs.py completion "$BIN" "$W/etcdcrypt.bash"
MAN=$W/etcdcrypt.1

t_run groff -man -ww -z -Tutf8 "$MAN"
t_eq "$T_RC/$(cat "$T_ERR")" "0/" "groff -ww: no warning"
t_run env MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$MAN"
t_eq "$T_RC/$(cat "$T_ERR")" "0/" "man --warnings -l: no warning"
t_stdout_has "ETCDCRYPT(1)" "man -l renders the page"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS "ETCD CONNECTION" "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
	grep -qx "\.SH $s" "$MAN" && t_pass "section $s" || t_fail "section $s"
done

# every command and verb of the help texts, with every flag it lists
python3 - "$BIN" "$MAN" <<'PY'
import re, subprocess, sys
binary, page = sys.argv[1:3]
text = open(page).read()
def helptext(*args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""
def listed(t, heading):
    m = re.search(rf"^{heading}:\n((?:  .*\n)+)", t, re.M)
    return re.findall(r"^  ([a-z][a-z0-9-]*) ", m.group(1), re.M) if m else []
bad = 0
words = []
for c in listed(helptext(), "commands"):
    words.append([c])
    words += [[c, v] for v in listed(helptext(c), "verbs")]
for w in words:
    name = " ".join(w)
    if not helptext(*w).startswith("usage: etcdcrypt " + name):
        print(f"not ok - 'etcdcrypt {name} --help' does not exit 0 with a usage line"); bad += 1
    if f".SS {name.replace('-', chr(92) + '-')}\n" not in text:
        print(f"not ok - no subsection for '{name}'"); bad += 1
    for flag in re.findall(r"^  (?:-\w, )?(--[a-z][a-z0-9-]*)", helptext(*w), re.M):
        if "\\fB" + flag.replace("-", "\\-") + "\\fR" not in text:
            print(f"not ok - '{name}': {flag} missing"); bad += 1
print(f"{'ok' if bad == 0 else 'not ok'} - {len(words)} commands and verbs, each with every flag of its --help")
sys.exit(1 if bad else 0)
PY
[ $? -eq 0 ] && t_pass "man page covers every command, verb and flag" || t_fail "man page covers every command, verb and flag"
for v in ETCDCTL_ENDPOINTS ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_USER ETCDCTL_PASSWORD; do
	grep -q "^\\\\fB${v}\\\\fR" "$MAN" && t_pass "ENVIRONMENT: $v" || t_fail "ENVIRONMENT: $v"
done
for code in 0 1 2 3; do
	sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$MAN" | grep -qx "\\\\fB$code\\\\fR" && t_pass "EXIT STATUS: $code" ||
		t_fail "EXIT STATUS: $code"
done

# completion: COMPREPLY for a command, a verb, a flag and a flag's values
comp() { # FILE WORDS...: prints COMPREPLY for completing the last word
	local f=$1
	shift
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _etcdcrypt; echo "${COMPREPLY[*]}"' \
		_ "$f" "$@"
}
C=$W/etcdcrypt.bash
t_eq "$(bash -c "source '$C'; complete -p etcdcrypt")" "complete -o filenames -F _etcdcrypt etcdcrypt" \
	"completion registers _etcdcrypt"
t_eq "$(comp "$C" etcdcrypt au)" "audit" "complete 'au' -> audit"
t_eq "$(comp "$C" etcdcrypt rew)" "rewrite" "complete 'rew' -> rewrite"
t_eq "$(comp "$C" etcdcrypt audit --con)" "--config" "complete 'audit --con' -> --config"
t_eq "$(comp "$C" etcdcrypt rewrite --dr)" "--dry-run" "complete 'rewrite --dr' -> --dry-run"
t_eq "$(comp "$C" etcdcrypt status --endp)" "--endpoints" "complete etcd flags too"
t_eq "$(comp "$C" etcdcrypt config gen)" "generate-key" "complete a verb"
t_eq "$(comp "$C" etcdcrypt config enable --secr)" "--secretbox" "complete a verb's flag"
t_eq "$(comp "$C" etcdcrypt audit -o '')" "table json" "complete -o's values"
t_eq "$(comp "$C" etcdcrypt config generate-key --bytes '')" "16 24 32" "complete --bytes' values"
mkdir -p "$W/cfgdir"
t_eq "$(cd "$W" && comp "$C" etcdcrypt status --nodes-dir cfg)" "cfgdir" "complete a DIR argument with directories"
t_eq "$(comp "$C" etcdcrypt audit --page-size '')" "" "no completion for a number"

# a stand-in binary whose --help knows one more command: it shows up
cat >"$W/fake" <<EOF
#!/bin/sh
if [ "\$1" = --help ]; then
	"$BIN" --help | sed 's/^commands:\$/commands:\n  frobnicate  frob every stored value/'
elif [ "\$1" = frobnicate ]; then
	printf 'usage: etcdcrypt frobnicate [--frob-level N] [-o table|json]\n\nFrobs.\n\noptions:\n  --frob-level N          how hard\n  -o, --output FORMAT     table or json\n\nexit status: 0 frobbed\n'
else
	exec "$BIN" "\$@"
fi
EOF
chmod +x "$W/fake"
python3 scripts/helpdocs.py man "$W/fake" "$W/fake.1" && python3 scripts/helpdocs.py completion "$W/fake" "$W/fake.bash"
grep -q '^\.SS frobnicate$' "$W/fake.1" && grep -q 'fB\\-\\-frob\\-level\\fR' "$W/fake.1" &&
	t_pass "a new command and its flag appear in the man page" || t_fail "a new command and its flag appear in the man page"
t_eq "$(comp "$W/fake.bash" etcdcrypt frob)" "frobnicate" "a new command is completed"
t_eq "$(comp "$W/fake.bash" etcdcrypt frobnicate --frob)" "--frob-level" "a new flag is completed"

# the page make builds is the one checked here (same generator, same binary)
if [ -f "$(dirname "$BIN")/etcdcrypt.1" ]; then
	t_run cmp "$(dirname "$BIN")/etcdcrypt.1" "$MAN"
	t_eq "$T_RC" 0 "build/etcdcrypt.1 is current"
fi
t_done
