#!/bin/sh
# Builds the docker buildx CLI plugin and buildkitd from the Go module proxy
# (Debian has no package of buildx; buildkitd lets buildx build for several
# platforms without pulling a builder image). A binary of the pinned
# version already in place is kept, so a second run takes no time.
set -eu

BUILDX_VERSION=v0.38.2
BUILDKIT_VERSION=v0.34.2

usage() {
	cat <<EOF
Usage: scripts/ci/install-buildx.sh [BIN_DIR]

Builds, with go, into BIN_DIR (default \${XDG_CACHE_HOME:-\$HOME/.cache}/inproc-go/bin):
  docker-buildx  github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION
  buildkitd      github.com/moby/buildkit/cmd/buildkitd@$BUILDKIT_VERSION
and prints two lines to source:
  INPROC_BUILDX=BIN_DIR/docker-buildx
  INPROC_BUILDKITD=BIN_DIR/buildkitd
Install docker-buildx as a CLI plugin by linking it from
~/.docker/cli-plugins/docker-buildx. Build output goes to stderr.
EOF
}

prog='install-buildx'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

help_if_asked "${1:-}"
case "${1:-}" in
-*) die_usage "unknown option '$1'" ;;
esac
[ $# -le 1 ] || die_usage "want at most one BIN_DIR, got $#"
bin=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/inproc-go/bin}
command -v go >/dev/null 2>&1 || die "go not found on PATH"
mkdir -p "$bin" || die "cannot make $bin"
bin=$(cd "$bin" && pwd)

# has BINARY MODULE VERSION: the binary exists and was built from MODULE@VERSION.
has() {
	[ -x "$1" ] && go version -m "$1" 2>/dev/null | grep -q "[[:space:]]$2[[:space:]]*$3"
}

if has "$bin/docker-buildx" github.com/docker/buildx "$BUILDX_VERSION"; then
	echo "install-buildx: docker-buildx $BUILDX_VERSION present" >&2
else
	echo "install-buildx: building docker-buildx $BUILDX_VERSION (a few minutes)" >&2
	tmp=$(mktemp -d)
	GOBIN=$tmp go install "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION" >&2 || die "building buildx failed"
	mv "$tmp/buildx" "$bin/docker-buildx"
	rm -rf "$tmp"
fi

if has "$bin/buildkitd" github.com/moby/buildkit "$BUILDKIT_VERSION"; then
	echo "install-buildx: buildkitd $BUILDKIT_VERSION present" >&2
else
	echo "install-buildx: building buildkitd $BUILDKIT_VERSION (a few minutes)" >&2
	# buildkit's go.mod has exclude directives, which "go install pkg@version"
	# refuses; a module of our own that requires it builds the same command,
	# with the same excludes.
	tmp=$(mktemp -d)
	cat >"$tmp/go.mod" <<EOF
module buildkitd-build

go 1.25

exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
EOF
	(cd "$tmp" && go get "github.com/moby/buildkit/cmd/buildkitd@$BUILDKIT_VERSION" >&2 &&
		go build -o "$bin/buildkitd" github.com/moby/buildkit/cmd/buildkitd >&2) || die "building buildkitd failed"
	rm -rf "$tmp"
fi

echo "INPROC_BUILDX=$bin/docker-buildx"
echo "INPROC_BUILDKITD=$bin/buildkitd"
