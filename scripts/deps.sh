#!/usr/bin/env bash
# Installs the Debian packages etcdcrypt needs to build, test and demo, when
# they are missing. Safe to run repeatedly; does nothing when all are present.
# Usage: scripts/deps.sh [--check]   (--check: list what is missing, install nothing)
set -euo pipefail

PKGS=(build-essential pkg-config libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
      libssl-dev openssl libyaml-dev libsodium-dev check libsubunit-dev libjansson-dev
      etcd-server etcd-client python3 python3-cryptography python3-nacl python3-grpcio valgrind procps time
      # make dist links these statically (their .a files), make deb/doc and their tests
      g++ libabsl-dev libre2-dev libc-ares-dev zlib1g-dev binutils
      man-db groff-base systemd python3-yaml python3-prometheus-client)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing: ${missing[*]}"
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "etcdcrypt: missing Debian packages: ${missing[*]}; run 'sudo scripts/deps.sh'" >&2
	exit 2
fi
echo "etcdcrypt: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
