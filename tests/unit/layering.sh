#!/usr/bin/env bash
# layering: fails when an #include runs against the layer graph of
# docs/architecture.md, when a folder includes another folder's private
# header (*_int.h), or when an outside library's header is included outside
# the folder(s) that own it. Part of make check-unit; needs no build.
#
#   cmd -> node -> audit | rewrite | status -> scan -> core/{etcd,conf,xform,bolt,kms} -> core/base
#   inside core: xform may use conf (providers are built from a config) and
#   kms (a KMS plugin unwraps DEKs); kms may use etcd (one gRPC runtime,
#   reference-counted there); bolt may use xform (the snapshot trailer's
#   SHA-256, xform/digest.h).
set -u
cd "$(dirname "$0")/../.."

# folder -> the folders its #include "dir/file.h" may name (besides itself)
allowed() {
	case "$1" in
	core/base) echo "" ;;
	core/etcd | core/conf) echo "base" ;;
	core/kms) echo "base etcd" ;;
	core/xform) echo "base conf kms" ;;
	core/bolt) echo "base xform" ;;
	scan) echo "base etcd conf xform bolt kms" ;;
	status | audit | rewrite) echo "base etcd conf xform bolt kms scan" ;;
	node) echo "base etcd conf xform bolt kms scan status audit rewrite" ;;
	cmd) echo "base etcd conf xform bolt kms scan status audit rewrite node" ;;
	*) echo "?" ;;
	esac
}

# an outside library's headers -> the files allowed to include them (globs)
owners() {
	case "$1" in
	grpc/* | grpcpp/* | protobuf-c/* | *.pb-c.h) echo "core/etcd/* core/kms/*" ;;
	# OpenSSL: the providers and digests; etcd_tls.c checks PEM certificates
	# and keys before gRPC sees them (docs/architecture.md, "who owns what")
	openssl/*) echo "core/xform/* core/etcd/etcd_tls.c" ;;
	sodium.h | sodium/*) echo "core/xform/*" ;;
	yaml.h) echo "core/conf/*" ;;
	# jansson: cmd renders reports; xform parses keyring files and checks
	# JSON plaintexts; node reads and writes the records it publishes in etcd
	jansson.h) echo "cmd/* core/xform/* node/*" ;;
	*) echo "" ;; # libc / POSIX: anyone
	esac
}

fails=0
fail() {
	echo "layering: $1" >&2
	fails=$((fails + 1))
}

in_list() { # WORD LIST...
	local w=$1
	shift
	for x in "$@"; do [ "$x" = "$w" ] && return 0; done
	return 1
}

files=$(find core scan status audit rewrite node cmd -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
	dir=$(dirname "$f")
	short=${dir#core/}
	ok=$(allowed "$dir")
	if [ "$ok" = "?" ]; then
		fail "$f: folder $dir is not in the layer graph (tests/unit/layering.sh)"
		continue
	fi
	# quoted includes: "dir/x.h" names a layer; "x.h" is the same folder
	while IFS= read -r inc; do
		case "$inc" in
		*.pb-c.h) tdir=""; lib=$inc ;;
		*/*) tdir=${inc%%/*}; lib="" ;;
		*) tdir=""; lib="" ;;
		esac
		if [ -n "$lib" ]; then
			glob_ok=0
			for g in $(owners "$lib"); do
				# shellcheck disable=SC2053
				[[ $f == $g ]] && glob_ok=1
			done
			[ "$glob_ok" = 1 ] || fail "$f: includes \"$inc\" (generated protobuf-c) outside core/etcd"
			continue
		fi
		[ -z "$tdir" ] && continue
		if [ "$tdir" != "$short" ] && ! in_list "$tdir" $ok; then
			fail "$f: includes \"$inc\": $dir may not include $tdir (runs upward or sideways)"
		fi
		case "$inc" in
		*_int.h) [ "$tdir" = "$short" ] || fail "$f: includes \"$inc\", private to $tdir" ;;
		esac
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	# angle includes: outside libraries only in their owners
	while IFS= read -r inc; do
		own=$(owners "$inc")
		[ -z "$own" ] && continue
		glob_ok=0
		for g in $own; do
			# shellcheck disable=SC2053
			[[ $f == $g ]] && glob_ok=1
		done
		[ "$glob_ok" = 1 ] || fail "$f: includes <$inc>, owned by $own"
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$f")
done

if [ "$fails" -gt 0 ]; then
	echo "layering: $fails violation(s); the graph is in docs/architecture.md" >&2
	exit 1
fi
echo "layering: $(echo "$files" | wc -l) files, includes run one way, outside libraries in their owners"
