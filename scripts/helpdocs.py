#!/usr/bin/env python3
"""helpdocs: the man page etcdcrypt(1) and the bash completion, both made from
the binary's own --help texts, so neither can drift from what the tool says.

    scripts/helpdocs.py man BINARY OUT.1
    scripts/helpdocs.py completion BINARY OUT

Where each part comes from:
  commands      `etcdcrypt --help` ("commands:" lines: name, summary), i.e. the
                dispatch table in cmd/main.c; nested verbs from
                `etcdcrypt CMD --help` ("verbs:" lines)
  per command   `etcdcrypt CMD [VERB] --help`: usage, description, options
  exit status   the table in docs/exit-codes.md
  environment   the flag/variable table at the top of cmd/etcdflags.h
  the rest      the prose in scripts/etcdcrypt.1.in (NAME, DESCRIPTION, FILES,
                EXAMPLES, SEE ALSO)

It relies on the layout every help text already follows (cmd/*.c): "usage:"
first, blank-line separated blocks, "options:"-style headings ending in ':'
followed by option lines "  -x, --flag ARG   description" whose continuation
lines are indented further. A help text that breaks this layout makes the
generator fail loudly rather than emit a wrong page."""
import datetime
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

OPTION_RE = re.compile(r"^ {2}(-\S.*?)(?: {2,}(.*))?$")
LIST_RE = re.compile(r"^ {2}([a-z][a-z0-9-]*) +(\S.*)$")


def run_help(binary, args):
    r = subprocess.run([binary] + args + ["--help"], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})
    if r.returncode != 0:
        return None
    return r.stdout


def listed(text, heading):
    """(name, summary) lines of the block under `heading:` (commands:, verbs:)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.strip() == heading + ":":
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = LIST_RE.match(line)
            if m:
                out.append((m.group(1), m.group(2)))
    return out


class Help:
    """One command's help text, split into usage, paragraphs and option lists."""

    def __init__(self, words, text):
        self.words = words
        self.usage = []
        self.blocks = []  # ("para", [lines]) | ("pre", [lines]) | ("opts", heading, [(flags, desc)])
        self.options = []  # every (flags, desc) pair, for completion
        self.exit_status = None
        blocks, cur = [], []
        for line in text.rstrip("\n").splitlines():
            if line.strip():
                cur.append(line.rstrip())
            elif cur:
                blocks.append(cur)
                cur = []
        if cur:
            blocks.append(cur)
        for b in blocks:
            self._block(b)

    def _block(self, b):
        first = b[0]
        if first.startswith("usage:"):
            self.usage = [first[len("usage:"):].strip()] + [l.strip() for l in b[1:]]
        elif first.startswith("exit status:"):
            self.exit_status = " ".join([first[len("exit status:"):].strip()] + [l.strip() for l in b[1:]])
        elif first.endswith(":") and not first.startswith(" ") and len(b) > 1 and OPTION_RE.match(b[1]):
            self.blocks.append(("opts", first[:-1], self._options(b[1:])))
        elif first.endswith(":") and not first.startswith(" ") and len(b) > 1 and LIST_RE.match(b[1]):
            self.blocks.append(("pre", b))  # a verbs: list; each verb gets its own subsection
        elif any(l.startswith(" ") for l in b):
            self.blocks.append(("pre", b))
        else:
            self.blocks.append(("para", b))

    def _options(self, lines):
        items = []
        for line in lines:
            m = OPTION_RE.match(line)
            if m and not line.startswith("   "):
                items.append([m.group(1).strip(), m.group(2) or ""])
            elif items and line.startswith("   "):
                items[-1][1] = (items[-1][1] + " " + line.strip()).strip()
            else:
                raise SystemExit(f"helpdocs: {' '.join(self.words)} --help: cannot read option line {line!r}")
        pairs = [(f, d) for f, d in items]
        self.options.extend(pairs)
        return pairs


def collect(binary):
    top = run_help(binary, [])
    if top is None:
        raise SystemExit(f"helpdocs: '{binary} --help' failed")
    cmds = listed(top, "commands")
    if not cmds:
        raise SystemExit("helpdocs: no 'commands:' list in etcdcrypt --help")
    out = []
    for name, summary in cmds:
        text = run_help(binary, [name])
        h = Help([name], text) if text is not None else None
        verbs = []
        if text is not None:
            for vname, vsummary in listed(text, "verbs"):
                vtext = run_help(binary, [name, vname])
                if vtext is None:
                    raise SystemExit(f"helpdocs: '{binary} {name} {vname} --help' failed")
                verbs.append((vname, vsummary, Help([name, vname], vtext)))
        out.append((name, summary, h, verbs))
    return top, out


# ---- roff ---------------------------------------------------------------

def esc(s):
    """Text for roff: backslashes, hyphens in options, a leading dot or quote."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    s = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in s)
    if s[:1] in (".", "'"):
        s = "\\&" + s
    return s


def flags_roff(flags):
    """'-o, --output FORMAT' -> bold flags, italic arguments."""
    parts = []
    for piece in re.split(r"(, )", flags):
        if piece == ", ":
            parts.append(", ")
            continue
        words = piece.split(" ", 1)
        f = "\\fB" + esc(words[0]) + "\\fR"
        if len(words) > 1:
            f += " \\fI" + esc(words[1]) + "\\fR"
        parts.append(f)
    return "".join(parts)


def roff_blocks(h, out, shared):
    for blk in h.blocks:
        kind = blk[0]
        if kind == "para" and blk[1][0].startswith("Run 'etcdcrypt"):
            continue  # points at the --help of verbs, which have their own subsections here
        if kind == "para":
            out.append(".PP")
            out.extend(esc(l.strip()) for l in blk[1])
        elif kind == "pre":
            out += [".PP", ".RS 2", ".nf"] + [esc(l) for l in blk[1]] + [".fi", ".RE"]
        else:
            heading, items = blk[1], blk[2]
            if heading.startswith("etcd connection"):
                shared.setdefault("etcd", items)
                out += [".PP", "The etcd connection flags (see \\fBETCD CONNECTION\\fR)."]
                continue
            out += [".PP", "\\fI" + esc(heading[:1].upper() + heading[1:]) + ":\\fR"]
            for flags, desc in items:
                out += [".TP", flags_roff(flags), esc(desc)]
    if h.exit_status:
        out += [".PP", "Exit status: " + esc(h.exit_status)]


def synopsis(h):
    out = [".nf"] + ["\\fBetcdcrypt\\fR " + esc(l[len("etcdcrypt "):]) if l.startswith("etcdcrypt ") else
                     "    " + esc(l) for l in h.usage] + [".fi"]
    return out


def exit_codes():
    rows = []
    with open(os.path.join(ROOT, "docs/exit-codes.md")) as f:
        for line in f:
            m = re.match(r"^\|\s*(\d+)\s*\|(.*?)\|(.*?)\|\s*$", line)
            if m:
                rows.append((m.group(1), m.group(2).strip(), m.group(3).strip()))
    if not rows:
        raise SystemExit("helpdocs: no exit status table in docs/exit-codes.md")
    return rows


def environment():
    rows = []
    with open(os.path.join(ROOT, "cmd/etcdflags.h")) as f:
        for line in f:
            m = re.match(r"^ \*\s+(--\S+)(?: (\S+))?\s+(ETCDCTL_\w+)(=\S+)?\s*(\(.*\))?", line)
            if m:
                rows.append((m.group(3), m.group(1), m.group(5) or ""))
    if not rows:
        raise SystemExit("helpdocs: no ETCDCTL_* table at the top of cmd/etcdflags.h")
    return rows


def unmd(s):
    """Markdown cell -> roff text: `code` becomes bold."""
    s = esc(s)
    return re.sub(r"`([^`]*)`", r"\\fB\1\\fR", s)


def man(binary, dest):
    version = subprocess.run([binary, "version"], capture_output=True, text=True).stdout.split()[-1]
    top, cmds = collect(binary)
    with open(os.path.join(HERE, "etcdcrypt.1.in")) as f:
        template = f.read()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc) if epoch else datetime.datetime.now(datetime.timezone.utc)
    shared = {}
    body = []
    for name, summary, h, verbs in cmds:
        body += [".SS " + esc(name), esc(summary) + "."]
        if h is not None:
            body += [".PP"] + synopsis(h)
            roff_blocks(h, body, shared)
        for vname, vsummary, vh in verbs:
            body += [".SS " + esc(f"{name} {vname}"), esc(vsummary) + "."]
            body += [".PP"] + synopsis(vh)
            roff_blocks(vh, body, shared)
    etcd = []
    if "etcd" in shared:
        etcd.append("Every command that talks to etcd takes etcdctl's connection flags; "
                    "the \\fBETCDCTL_*\\fR variables (see \\fBENVIRONMENT\\fR) are used when a flag is not given.")
        for flags, desc in shared["etcd"]:
            etcd += [".TP", flags_roff(flags), esc(desc)]
    status = []
    for code, meaning, examples in exit_codes():
        status += [".TP", "\\fB" + code + "\\fR", unmd(meaning) + ", e.g. " + unmd(examples) + "."]
    env = []
    for var, flag, note in environment():
        env += [".TP", "\\fB" + esc(var) + "\\fR", "as \\fB" + esc(flag) + "\\fR" + (" " + esc(note) if note else "") + "."]
    page = (template.replace("@VERSION@", version)
            .replace("@DATE@", date.strftime("%Y-%m-%d"))
            .replace("@COMMANDS@\n", "\n".join(body) + "\n")
            .replace("@ETCD@\n", "\n".join(etcd) + "\n")
            .replace("@EXIT_STATUS@\n", "\n".join(status) + "\n")
            .replace("@ENVIRONMENT@\n", "\n".join(env) + "\n"))
    if re.search(r"@[A-Z_]+@", page):
        raise SystemExit("helpdocs: a @PLACEHOLDER@ was left in the page")
    write(dest, page)


# ---- bash completion ------------------------------------------------------

def flag_words(options):
    """every --long and -s spelling, and which of them take an argument (and what kind)."""
    words, args = [], {}
    for flags, _desc in options:
        spellings = [p.split(" ", 1) for p in flags.split(", ")]
        arg = next((p[1] for p in spellings if len(p) > 1), None)  # "-o, --output FORMAT"
        for p in spellings:
            if not p[0].startswith("-"):
                continue
            words.append(p[0])
            if arg is not None:
                args[p[0]] = arg
    return words, args


def arg_kind(arg, usage):
    a = arg.strip("[]").upper()
    if re.search(r"(FILE|SNAPSHOT|PATH|CONFIG)\b", a):
        return "file"
    if "DIR" in a:
        return "dir"
    return "none"


def enumerated(usage_lines):
    """'-o table|json' or '--bytes 16|24|32' in a usage line -> {flag: [values]}."""
    out = {}
    for m in re.finditer(r"(-{1,2}[a-z][a-z-]*) ([A-Za-z0-9]+(?:\|[A-Za-z0-9]+)+)\b", " ".join(usage_lines)):
        out[m.group(1)] = m.group(2).split("|")
    return out


def completion(binary, dest):
    _top, cmds = collect(binary)
    lines = ["# bash completion for etcdcrypt; generated by scripts/helpdocs.py from",
             "# 'etcdcrypt ... --help' (do not edit: rebuild instead)."]
    lines.append("_etcdcrypt_commands='" + " ".join(c[0] for c in cmds) + "'")
    case_flags, case_verbs, case_args = [], [], []

    def add(words_key, h):
        fw, args = flag_words(h.options)
        enum = enumerated(h.usage)
        # -o and --output share their values
        for flags, _ in h.options:
            spell = [p.split(" ", 1)[0] for p in flags.split(", ")]
            for s in spell:
                if s in enum:
                    for t in spell:
                        enum.setdefault(t, enum[s])
        case_flags.append(f"\t'{words_key}') echo '{' '.join(sorted(set(fw)))}' ;;")
        for w, a in sorted(args.items()):
            if w in enum:
                case_args.append(f"\t'{words_key} {w}') echo 'words {' '.join(enum[w])}' ;;")
            else:
                case_args.append(f"\t'{words_key} {w}') echo '{arg_kind(a, h.usage)}' ;;")

    for name, _summary, h, verbs in cmds:
        if h is not None:
            add(name, h)
        if verbs:
            case_verbs.append(f"\t{name}) echo '{' '.join(v[0] for v in verbs)}' ;;")
        for vname, _s, vh in verbs:
            add(f"{name} {vname}", vh)
    lines += ["_etcdcrypt_flags() { # 'CMD [VERB]'", "\tcase \"$1\" in"] + case_flags + ["\tesac", "}"]
    lines += ["_etcdcrypt_verbs() { # CMD", "\tcase \"$1\" in"] + case_verbs + ["\tesac", "}"]
    lines += ["_etcdcrypt_arg() { # 'CMD [VERB] FLAG': file, dir, none or 'words W...'", "\tcase \"$1\" in"] + \
        case_args + ["\t*) echo unknown ;;", "\tesac", "}"]
    lines.append(COMPLETE_FN)
    write(dest, "\n".join(lines) + "\n")


COMPLETE_FN = r'''_etcdcrypt() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= verb= i w kind
	[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case "$w" in -*) continue ;; esac
		if [ -z "$cmd" ]; then
			cmd=$w
		elif [ -z "$verb" ] && [ -n "$(_etcdcrypt_verbs "$cmd")" ]; then
			verb=$w
		fi
	done
	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$_etcdcrypt_commands --help --version" -- "$cur"))
		return
	fi
	local key=$cmd
	[ -n "$verb" ] && key="$cmd $verb"
	if [ -n "$(_etcdcrypt_verbs "$cmd")" ] && [ -z "$verb" ]; then
		case "$cur" in
		-*) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "$(_etcdcrypt_verbs "$cmd")" -- "$cur")) ;;
		esac
		return
	fi
	case "$prev" in
	-*)
		kind=$(_etcdcrypt_arg "$key $prev")
		case "$kind" in
		file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
		dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
		"words "*) COMPREPLY=($(compgen -W "${kind#words }" -- "$cur")); return ;;
		none) return ;;
		esac
		;;
	esac
	case "$cur" in
	-*) COMPREPLY=($(compgen -W "$(_etcdcrypt_flags "$key")" -- "$cur")) ;;
	*) COMPREPLY=($(compgen -f -- "$cur")) ;;
	esac
}
complete -o filenames -F _etcdcrypt etcdcrypt'''


def write(dest, text):
    tmp = dest + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, dest)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("man", "completion"):
        raise SystemExit("usage: helpdocs.py man|completion BINARY OUT")
    (man if sys.argv[1] == "man" else completion)(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
