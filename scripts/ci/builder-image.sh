#!/bin/sh
# Builds a local stand-in for the official Go builder image from this
# machine's own Go toolchain, for machines that cannot pull base images.
# It has a local name of its own, never that of the official image: builds
# name it with --build-arg GO_IMAGE=localhost/inproc-go/golang:local.
set -eu

DEFAULT_IMAGE="localhost/inproc-go/golang:local"
LABEL_KEY="io.inproc-go.builder.go-version"

usage() {
	cat <<EOF
Usage: $(basename "$0") [-h] [--force] [IMAGE_NAME]

Builds a local Go builder image with buildah from a FROM-scratch Containerfile:
  /bin/busybox (busybox-static) and its applets as symlinks in /bin
  the host Go toolchain (\$(go env GOROOT)) at /usr/local/go
  /etc/ssl/certs/ca-certificates.crt from the host
  ENV PATH=/usr/local/go/bin:/go/bin:/bin:/usr/bin GOPATH=/go GOTOOLCHAIN=local

IMAGE_NAME defaults to $DEFAULT_IMAGE.
The build is skipped when the image exists and was made from the same Go
version, unless --force is given.

Environment:
  BUSYBOX   path of a static busybox binary (default /bin/busybox)
  GO        go command whose GOROOT is copied (default go)
EOF
}

prog='builder-image'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

force=0
image=""
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	-f | --force) force=1 ;;
	-*) die_usage "unknown option '$1'" ;;
	*)
		[ -z "$image" ] || die_usage "only one IMAGE_NAME may be given"
		image="$1"
		;;
	esac
	shift
done
image="${image:-$DEFAULT_IMAGE}"

GO="${GO:-go}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"

command -v buildah >/dev/null 2>&1 || die "buildah not found (run scripts/ci/install-tools.sh)"
command -v "$GO" >/dev/null 2>&1 || die "go not found on PATH"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (install busybox-static)"
[ -r "$CA_BUNDLE" ] || die "$CA_BUNDLE not found (install ca-certificates)"

goroot="$("$GO" env GOROOT)"
goversion="$("$GO" env GOVERSION)"
[ -x "$goroot/bin/go" ] || die "no go binary under GOROOT $goroot"

if [ "$force" -eq 0 ] && buildah inspect --type image "$image" >/dev/null 2>&1; then
	have="$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$LABEL_KEY\"}}" "$image" 2>/dev/null || true)"
	if [ "$have" = "$goversion" ]; then
		echo "builder-image: $image exists ($goversion), skipping (use --force to rebuild)"
		exit 0
	fi
	echo "builder-image: $image was built from '${have:-unknown}', rebuilding for $goversion"
fi

# The context lives next to GOROOT's filesystem when possible so that
# cp -l can hard-link the toolchain instead of copying 250 MB.
ctx="$(mktemp -d "${TMPDIR:-/tmp}/builder-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT INT TERM
root="$ctx/rootfs"
mkdir -p "$root/bin" "$root/usr/bin" "$root/usr/local" "$root/etc/ssl/certs" \
	"$root/tmp" "$root/root" "$root/go/bin" "$root/go/src"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"

cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	case "$applet" in
	busybox | '[[') continue ;;
	esac
	ln -s busybox "$root/bin/$applet"
done
# Scripts with "#!/usr/bin/env" shebangs expect env there.
ln -s ../../bin/busybox "$root/usr/bin/env"
cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"

# HOME is taken from /etc/passwd, so GOCACHE lands in /root/.cache,
# where the templates' cache mounts point.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF

# test/, api/, doc/ and misc/ are not needed to build; leaving them out
# keeps the layer smaller and the commit faster.
mkdir -p "$root/usr/local/go"
for entry in "$goroot"/* "$goroot"/.[!.]*; do
	[ -e "$entry" ] || continue
	case "${entry##*/}" in
	test | api | doc | misc) continue ;;
	esac
	cp -al "$entry" "$root/usr/local/go/" 2>/dev/null || cp -a "$entry" "$root/usr/local/go/" ||
		die "copying $entry failed"
done

cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/go/bin:/go/bin:/bin:/usr/bin GOPATH=/go GOTOOLCHAIN=local
LABEL $LABEL_KEY=$goversion
WORKDIR /go
CMD ["/bin/sh"]
EOF

echo "builder-image: building $image from $goroot ($goversion)"
start="$(date +%s)"
buildah bud --isolation chroot --layers=false --pull=never \
	-f "$ctx/Containerfile" -t "$image" "$ctx" ||
	die "buildah bud failed for $image"
echo "builder-image: built $image in $(($(date +%s) - start))s"
