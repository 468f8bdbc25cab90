#!/bin/sh
# Installs the Debian packages the e2e harness needs to build and run
# function images: buildah and podman, and Docker Engine (docker.io, started
# by scripts/ci/docker-engine.sh) with a registry (docker-registry). Packages
# already present are left alone, so a second run is fast and needs no
# network. iptables is needed by netavark for -p port mappings.
set -eu

PACKAGES="buildah podman runc busybox-static ca-certificates iptables docker.io docker-registry"

usage() {
	cat <<EOF
Usage: $(basename "$0") [-h] [PACKAGE...]

Installs the apt packages named, or without any those of the e2e tests,
when they are missing:
  $PACKAGES
(scripts/test.sh also installs "prometheus" this way, for promtool.)

Runs 'apt-get update' only when something must be installed.
Needs root (or sudo). Exits non-zero with a message when an install fails.
EOF
}

prog='install-tools'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

help_if_asked "${1:-}"
case "${1:-}" in
-*) die_usage "unknown option '$1'" ;;
esac
e2e=true
if [ $# -gt 0 ]; then
	PACKAGES="$*"
	e2e=false
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian-based systems only"

missing=""
for pkg in $PACKAGES; do
	installed "$pkg" || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
	echo "install-tools: all present: $PACKAGES"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "need root or sudo to install:$missing"
	SUDO="sudo"
fi

echo "install-tools: installing:$missing"
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get update -q || die "apt-get update failed"
# shellcheck disable=SC2086
# Named packages come without their recommends (prometheus would bring a
# node exporter); the e2e set keeps them, as podman's setup relies on them.
recommends=""
$e2e || recommends="--no-install-recommends"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $recommends $missing ||
	die "apt-get install failed for:$missing"

for pkg in $missing; do
	installed "$pkg" || die "package $pkg still not installed after apt-get install"
done
if $e2e; then
	for cmd in buildah podman runc busybox dockerd docker-registry; do
		command -v "$cmd" >/dev/null 2>&1 || die "command '$cmd' not found on PATH after install"
	done
fi
echo "install-tools: done"
