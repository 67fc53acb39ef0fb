#!/usr/bin/env bash
# t_dist: `make dist`, `make deb` and `make install` produce what a
# control-plane node needs. The tarball's binary, alone in an empty
# directory and run with an empty environment, audits the reference snapshot
# in a real etcd exactly as the normal build does and talks mTLS to another;
# ldd shows only glibc. The .deb's contents and fields are listed and
# checked; make install puts the same files under PREFIX.
# Reuses the build's objects: only the static link and the packing run here.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/etcd.sh
source tests/lib/tap.sh
BIN=${ETCDCRYPT_BIN:-$PWD/build/etcdcrypt}
BUILD=${ETCDCRYPT_BUILD:-$PWD/build}
FX=${ETCDCRYPT_FIXTURES:-fixtures}/k8s-vectors
W=$(mktemp -d /tmp/etcdcrypt-dist.XXXXXX)
trap 'etcd_stop_all; rm -rf "$ETCD_TMP" "$W" "$T_OUT" "$T_ERR"' EXIT

# A sanitizer build's objects cannot be linked statically: pack from a
# release build of its own then (slower, but only in sanitizer runs).
DB=$BUILD
if nm "$BIN" 2>/dev/null | grep -q '__asan_init\|__ubsan_handle'; then
	DB=$BUILD/dist-build
	echo "# $BIN is a sanitizer build: building release objects in $DB"
fi
VERSION=$(sed -n 's/^#define ETCDCRYPT_VERSION "\(.*\)"/\1/p' cmd/cmd.h)
ARCH=$(dpkg --print-architecture)
NAME=etcdcrypt-$VERSION-linux-$ARCH
TGZ=$DB/dist/$NAME.tar.gz
DEB=$DB/deb/etcdcrypt_${VERSION}_$ARCH.deb

# make check's own make flags (SANITIZE=..., jobserver) must not leak in
t_run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SANITIZE make -j2 BUILD="$DB" SANITIZE= dist deb
if [ "$T_RC" -ne 0 ] || [ ! -f "$TGZ" ] || [ ! -f "$DEB" ]; then
	t_fail "make dist deb builds $TGZ and $DEB" "exit $T_RC"
	t_done
	exit 1
fi
t_pass "make dist deb: $(basename "$TGZ"), $(basename "$DEB")"

# ---- the tarball -------------------------------------------------------------
tar -tzf "$TGZ" >"$W/list"
missing=
for f in etcdcrypt etcdcrypt.1 completion/etcdcrypt README.md BUILDINFO deploy/etcdcrypt.service \
	deploy/daemonset.yaml LICENSES/libgrpc-dev LICENSES/libssl-dev LICENSES/libsodium-dev \
	LICENSES/libjansson-dev LICENSES/libyaml-dev LICENSES/libprotobuf-c-dev LICENSES/libabsl-dev \
	LICENSES/common-licenses/Apache-2.0; do
	grep -qx "$NAME/$f" "$W/list" || missing="$missing $f"
done
t_eq "${missing:-none}" none "tarball holds binary, man page, completion, README, deploy files, licences"
mkdir -p "$W/x" "$W/empty"
tar -C "$W/x" -xzf "$TGZ"
cp "$W/x/$NAME/etcdcrypt" "$W/empty/etcdcrypt"
D=$W/empty/etcdcrypt

ldd "$D" >"$W/ldd" 2>&1
others=$(awk '{print $1}' "$W/ldd" | sed 's|.*/||' |
	grep -vxE 'linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libmvec\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1' || true)
t_eq "${others:-none}" none "ldd shows only glibc libraries ($(awk '{print $1}' "$W/ldd" | tr '\n' ' '))"
need=$(objdump -T "$D" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
t_run grep -F "needs: glibc $need or newer" "$W/x/$NAME/BUILDINFO"
t_eq "$T_RC" 0 "BUILDINFO states the glibc it needs ($need)"

t_run env -i "$D" version
t_eq "$(cat "$T_OUT")" "etcdcrypt $VERSION" "env -i: version"

ETCD_RESTORE=$FX/snapshot.db etcd_start dsnap plain || exit 1
cp "$FX/configs/multi-key.yaml" "$W/empty/multi-key.yaml"
(cd "$W/empty" && env -i ./etcdcrypt audit --endpoints "$ETCD_DSNAP_ENDPOINT" --config multi-key.yaml \
	-o json >"$W/static.json" 2>"$W/static.err")
rc=$?
(cd "$W/empty" && "$BIN" audit --endpoints "$ETCD_DSNAP_ENDPOINT" --config multi-key.yaml -o json >"$W/normal.json" 2>/dev/null)
t_eq "$rc" 1 "env -i: audit of the reference snapshot (6 unreadable values: exit 1)"
python3 - "$W/static.json" "$W/normal.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for r in (a, b):
    r.pop("seconds", None)  # timing is the one field that may differ
differ = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
if differ: print("# fields that differ:", differ)
sec = {r["resource"]: r for r in a["resources"]}["secrets"]
ok = a == b and sec["total"] == 52 and sec["unreadable_count"] == 6
print(("ok" if ok else "not ok") + f" - static and normal builds report the same ({sec['total']} secrets, {sec['unreadable_count']} unreadable)")
sys.exit(0 if ok else 1)
PY
[ $? -eq 0 ] && t_pass "static audit == normal audit" || t_fail "static audit == normal audit" "$(head -3 "$W/static.err")"

# TLS with client certificates: the statically linked OpenSSL inside gRPC
etcd_start dtls tls || exit 1
C=$ETCD_DTLS_CERTS
etcdctl --endpoints "https://$ETCD_DTLS_ENDPOINT" --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" \
	put /registry/secrets/default/dist-check plain-value >/dev/null
t_run env -i "$D" get /registry/secrets/default/dist-check --endpoints "https://$ETCD_DTLS_ENDPOINT" \
	--cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" -o json
t_eq "$T_RC" 0 "env -i: get over mTLS"
t_stdout_has '"provider": "identity"' "env -i: the value read over mTLS is classified"
t_exit 3 "env -i: a client cert from another CA is refused (exit 3)" env -i "$D" get /registry/secrets/default/dist-check \
	--endpoints "https://$ETCD_DTLS_ENDPOINT" --cacert "$C/ca.crt" --cert "$C/other.crt" --key "$C/other.key" \
	--dial-timeout 2s

# ---- the .deb ------------------------------------------------------------------
dpkg-deb -c "$DEB" | awk '{print $1 " " $2 " " $6}' >"$W/deb.list"
for want in "-rwxr-xr-x root/root ./usr/bin/etcdcrypt" \
	"-rw-r--r-- root/root ./usr/share/man/man1/etcdcrypt.1.gz" \
	"-rw-r--r-- root/root ./usr/share/bash-completion/completions/etcdcrypt" \
	"-rw-r--r-- root/root ./lib/systemd/system/etcdcrypt.service" \
	"-rw------- root/root ./etc/default/etcdcrypt" \
	"-rw-r--r-- root/root ./usr/share/doc/etcdcrypt/copyright" \
	"-rw-r--r-- root/root ./usr/share/doc/etcdcrypt/README.md" \
	"-rw-r--r-- root/root ./usr/share/doc/etcdcrypt/licenses/libgrpc-dev" \
	"-rw-r--r-- root/root ./usr/share/doc/etcdcrypt/examples/daemonset.yaml"; do
	if grep -qxF -- "$want" "$W/deb.list"; then t_pass "deb: $want"; else t_fail "deb: $want" "$(cat "$W/deb.list")"; fi
done
t_eq "$(dpkg-deb -f "$DEB" Package)" etcdcrypt "deb: Package"
t_eq "$(dpkg-deb -f "$DEB" Version)" "$VERSION" "deb: Version"
t_eq "$(dpkg-deb -f "$DEB" Architecture)" "$ARCH" "deb: Architecture"
t_eq "$(dpkg-deb -f "$DEB" Depends)" "libc6 (>= $need)" "deb: depends on nothing but libc6"
t_eq "$(dpkg-deb -I "$DEB" conffiles)" /etc/default/etcdcrypt "deb: /etc/default/etcdcrypt is a conffile"
mkdir -p "$W/debroot"
dpkg-deb -x "$DEB" "$W/debroot"
t_run env -i "$W/debroot/usr/bin/etcdcrypt" version
t_eq "$(cat "$T_OUT")" "etcdcrypt $VERSION" "deb: the packaged binary runs"
t_run cmp "$W/debroot/usr/bin/etcdcrypt" "$D"
t_eq "$T_RC" 0 "deb: the packaged binary is the dist binary"
t_run sh -c "zcat '$W/debroot/usr/share/man/man1/etcdcrypt.1.gz' | groff -man -ww -z -Tutf8"
t_eq "$T_RC/$(cat "$T_ERR")" "0/" "deb: the man page renders without warnings"

# ---- make install ------------------------------------------------------------
t_run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make BUILD="$BUILD" install PREFIX=/opt/ec DESTDIR="$W/inst"
t_eq "$T_RC" 0 "make install PREFIX=/opt/ec DESTDIR=..."
missing=
for f in bin/etcdcrypt share/man/man1/etcdcrypt.1.gz share/bash-completion/completions/etcdcrypt \
	lib/systemd/system/etcdcrypt.service etc/default/etcdcrypt share/doc/etcdcrypt/README.md \
	share/doc/etcdcrypt/examples/daemonset.yaml; do
	[ -f "$W/inst/opt/ec/$f" ] || missing="$missing $f"
done
t_eq "${missing:-none}" none "make install: binary, man page, completion, unit, defaults, docs"
t_run grep -x 'ExecStart=/opt/ec/bin/etcdcrypt controller $ETCDCRYPT_CONTROLLER_ARGS' \
	"$W/inst/opt/ec/lib/systemd/system/etcdcrypt.service"
t_eq "$T_RC" 0 "make install: the unit runs the installed binary"
t_run grep -x 'EnvironmentFile=/opt/ec/etc/default/etcdcrypt' "$W/inst/opt/ec/lib/systemd/system/etcdcrypt.service"
t_eq "$T_RC" 0 "make install: the unit reads the installed environment file"
t_done
