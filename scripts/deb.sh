#!/usr/bin/env bash
# scripts/deb.sh: the Debian package (make deb calls it, after make dist).
#   scripts/deb.sh BUILD VERSION DEB_ARCH DIST_DIR
# DIST_DIR is the staged release tree of scripts/dist.sh; the package carries
# its static binary, so it depends on nothing but libc6. Writes
# BUILD/deb/etcdcrypt_VERSION_DEB_ARCH.deb with dpkg-deb (no debhelper).
set -euo pipefail
BUILD=$1 VERSION=$2 ARCH=$3 DIST=$4
ROOT=$BUILD/deb/root
OUT=$BUILD/deb/etcdcrypt_${VERSION}_$ARCH.deb

glibc=$(sed -n 's/^needs: glibc \([0-9.]*\) .*/\1/p' "$DIST/BUILDINFO")
[ -n "$glibc" ] || { echo "deb: no glibc version in $DIST/BUILDINFO" >&2; exit 1; }

rm -rf "$ROOT" "$OUT"
install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/usr/share/man/man1" \
	"$ROOT/usr/share/bash-completion/completions" "$ROOT/lib/systemd/system" \
	"$ROOT/etc/default" "$ROOT/usr/share/doc/etcdcrypt/licenses" "$ROOT/usr/share/doc/etcdcrypt/examples"
install -m 0755 "$DIST/etcdcrypt" "$ROOT/usr/bin/etcdcrypt"
gzip -9n <"$DIST/etcdcrypt.1" >"$ROOT/usr/share/man/man1/etcdcrypt.1.gz"
install -m 0644 "$DIST/completion/etcdcrypt" "$ROOT/usr/share/bash-completion/completions/etcdcrypt"
install -m 0644 deploy/etcdcrypt.service "$ROOT/lib/systemd/system/etcdcrypt.service"
install -m 0600 deploy/etcdcrypt.default "$ROOT/etc/default/etcdcrypt" # may hold ETCDCTL_PASSWORD
install -m 0644 deploy/daemonset.yaml deploy/Containerfile "$ROOT/usr/share/doc/etcdcrypt/examples/"
install -m 0644 README.md "$ROOT/usr/share/doc/etcdcrypt/README.md"
install -m 0644 "$DIST"/docs/*.md "$ROOT/usr/share/doc/etcdcrypt/"
find "$DIST/LICENSES" -maxdepth 1 -type f -exec install -m 0644 -t "$ROOT/usr/share/doc/etcdcrypt/licenses/" {} +
{
	cat <<EOF
etcdcrypt

The etcdcrypt sources do not yet state a licence of their own.

/usr/bin/etcdcrypt is statically linked with libraries from these Debian
packages; each one's copyright and licence notice (Debian's
/usr/share/doc/<package>/copyright) is in /usr/share/doc/etcdcrypt/licenses/:

EOF
	for f in "$DIST"/LICENSES/*; do
		[ -f "$f" ] && echo "  $(basename "$f")"
	done
	echo
	echo "glibc is linked dynamically."
} >"$ROOT/usr/share/doc/etcdcrypt/copyright"

echo /etc/default/etcdcrypt >"$ROOT/DEBIAN/conffiles"
cat >"$ROOT/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# A new or changed unit file: let systemd see it. The service is not enabled
# here: set the etcd connection in /etc/default/etcdcrypt first.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
EOF
cp "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"

size=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat >"$ROOT/DEBIAN/control" <<EOF
Package: etcdcrypt
Version: $VERSION
Architecture: $ARCH
Maintainer: etcdcrypt developers <etcdcrypt@localhost>
Installed-Size: $size
Depends: libc6 (>= $glibc)
Section: admin
Priority: optional
Description: Kubernetes encryption at rest, checked and changed in etcd
 etcdcrypt turns on, rotates, verifies and turns off Kubernetes encryption
 at rest directly at the etcd level, below the kube-apiserver: audit every
 stored value with an EncryptionConfiguration, rewrite values to the write
 key with compare-and-swap writes, verify etcd snapshots offline, and show
 the HPE Cray CSM encryption status. One static binary (only glibc is
 shared), a systemd unit for the rewrite controller, man page and bash
 completion.
EOF
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT" >/dev/null
echo "deb: $OUT"
