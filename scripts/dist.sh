#!/usr/bin/env bash
# scripts/dist.sh: the self-contained release tarball (make dist calls it).
#   scripts/dist.sh BUILD VERSION ARCH
# Takes BUILD/static/etcdcrypt (linked by make: everything static but glibc,
# with a link map next to it), BUILD/etcdcrypt.1 and BUILD/etcdcrypt.bash, and
# writes BUILD/dist/etcdcrypt-VERSION-linux-ARCH.tar.gz holding:
#   etcdcrypt              the binary, stripped
#   etcdcrypt.1            the man page
#   completion/etcdcrypt   bash completion
#   README.md, docs/, deploy/
#   BUILDINFO              version, build host, the glibc version it needs
#   LICENSES/<package>     the Debian copyright file of every package whose
#                          static library went into the binary (from the map)
# It refuses a binary that needs any shared library besides glibc's.
set -euo pipefail
BUILD=$1 VERSION=$2 ARCH=$3
BIN=$BUILD/static/etcdcrypt
NAME=etcdcrypt-$VERSION-linux-$ARCH
STAGE=$BUILD/dist/$NAME
OUT=$BUILD/dist/$NAME.tar.gz

die() { echo "dist: $*" >&2; exit 1; }

# glibc's own libraries are the only ones a Linux system is sure to have
GLIBC_LIBS='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libmvec\.so\.1|ld-linux[-a-z0-9_]*\.so\.[0-9]+)$'
needed=$(objdump -p "$BIN" | awk '$1 == "NEEDED" { print $2 }')
for lib in $needed; do
	[[ $lib =~ $GLIBC_LIBS ]] || die "$BIN needs $lib, which is not part of glibc"
done
glibc=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ -n "$glibc" ] || die "cannot tell which glibc $BIN needs"

rm -rf "$STAGE" "$OUT"
mkdir -p "$STAGE/completion" "$STAGE/LICENSES" "$STAGE/docs" "$STAGE/deploy"
strip -o "$STAGE/etcdcrypt" "$BIN"
cp "$BUILD/etcdcrypt.1" "$STAGE/etcdcrypt.1"
cp "$BUILD/etcdcrypt.bash" "$STAGE/completion/etcdcrypt"
cp README.md "$STAGE/"
cp docs/*.md "$STAGE/docs/"
rm -f "$STAGE/docs/notes.md" # working notes, not user documentation
cp deploy/* "$STAGE/deploy/"

# every static archive the linker took a member from -> its Debian package
# (our own libetcdcrypt.a aside); an archive no package owns stops the build
own=$(realpath "$BUILD")
pkgs=$(grep -oE '^/[^ (]+\.a\(' "$BIN.map" | sed 's/($//' | sort -u | xargs -r realpath | sort -u |
	while read -r a; do
		case "$a" in "$own"/*) continue ;; esac
		dpkg -S "$a" | cut -d: -f1 || die "no Debian package owns $a"
	done | sort -u)
[ -n "$pkgs" ] || die "no static library found in $BIN.map"
for p in $pkgs; do
	f=/usr/share/doc/$p/copyright
	[ -r "$f" ] || die "no copyright file for $p ($f)"
	cp "$f" "$STAGE/LICENSES/$p"
done
# the full licence texts Debian's copyright files point to (not on other distros)
for lic in $(grep -ho '/usr/share/common-licenses/[A-Za-z0-9.+_-]*[A-Za-z0-9]' "$STAGE"/LICENSES/* | sort -u); do
	[ -r "$lic" ] || continue
	mkdir -p "$STAGE/LICENSES/common-licenses"
	cp "$lic" "$STAGE/LICENSES/common-licenses/"
done

cat >"$STAGE/BUILDINFO" <<EOF
etcdcrypt $VERSION for linux-$ARCH
built on: $(. /etc/os-release && echo "$PRETTY_NAME") with $(cc --version | head -1)
needs: glibc $glibc or newer (the build host's glibc; shared libraries: $(echo $needed))
statically linked from these Debian packages (licences in LICENSES/):
$(for p in $pkgs; do echo "  $p $(dpkg-query -W -f='${Version}' "$p")"; done)
EOF

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tar -C "$BUILD/dist" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
	-cf - "$NAME" | gzip -9n >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "dist: $OUT (needs glibc >= $glibc)"
