#!/bin/sh
# Builds a function image the way "faas-cli build --shrinkwrap" followed by
# "docker build" would, but with buildah so no Docker daemon is needed.
set -eu

usage() {
	cat <<EOF
Usage: $(basename "$0") -l LANG -d HANDLER_DIR -t IMAGE_TAG [options] [-- BUILDAH_ARGS...]

Copies template/LANG/ into a fresh build dir, overlays HANDLER_DIR onto its
function/ folder (template files the handler does not replace stay), then runs
  buildah bud --isolation chroot --layers --pull=never -t IMAGE_TAG ...
with --build-arg ADDITIONAL_PACKAGE= first, as faas-cli passes it, and
--platform linux/<this machine's arch>, which sets TARGETOS and TARGETARCH
as BuildKit does.
On success the build dir is printed on stdout; build output goes to stderr.

Options:
  -l LANG             template name (a folder under REPO_ROOT/template)
  -d HANDLER_DIR      the function's handler folder
  -t IMAGE_TAG        tag of the resulting image
  -b NAME=VALUE       build arg, may be repeated (--build-arg is accepted too)
  --secret SPEC       passed to buildah, e.g. id=netrc,src=/path, may be repeated
  -o BUILD_DIR        build dir to use (must not exist; default: a new temp dir)
  -r REPO_ROOT        repository root (default: the one this script is in)
  -h, --help          show this text
Anything after -- is passed to buildah bud as is (e.g. --no-cache).
EOF
}

prog='build-function'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

lang=""
handler=""
tag=""
out=""
repo_root=""
# POSIX sh has no arrays: buildah's extra arguments are collected as one
# string of single-quoted words and expanded with eval just before the call.
# faas-cli always passes ADDITIONAL_PACKAGE (empty unless stack.yaml sets it).
extra="--build-arg 'ADDITIONAL_PACKAGE='"
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	-l)
		need_arg "$@"
		lang="$2"
		shift
		;;
	-d)
		need_arg "$@"
		handler="$2"
		shift
		;;
	-t)
		need_arg "$@"
		tag="$2"
		shift
		;;
	-o)
		need_arg "$@"
		out="$2"
		shift
		;;
	-r)
		need_arg "$@"
		repo_root="$2"
		shift
		;;
	-b | --build-arg)
		need_arg "$@"
		case "$2" in
		*=*) ;;
		*) die_usage "build arg '$2' is not NAME=VALUE" ;;
		esac
		extra="$extra --build-arg $(quote "$2")"
		shift
		;;
	--build-arg=*) extra="$extra --build-arg $(quote "${1#--build-arg=}")" ;;
	--secret)
		need_arg "$@"
		extra="$extra --secret $(quote "$2")"
		shift
		;;
	--secret=*) extra="$extra --secret $(quote "${1#--secret=}")" ;;
	--)
		shift
		for a in "$@"; do
			extra="$extra $(quote "$a")"
		done
		break
		;;
	*) die_usage "unknown argument: $1" ;;
	esac
	shift
done

[ -n "$lang" ] || die_usage "missing -l LANG"
[ -n "$handler" ] || die_usage "missing -d HANDLER_DIR"
[ -n "$tag" ] || die_usage "missing -t IMAGE_TAG"
if [ -z "$repo_root" ]; then
	repo_root="$(cd "$(dirname "$0")/../.." && pwd)"
fi

template="$repo_root/template/$lang"
[ -d "$template" ] || die "template '$lang' not found at $template"
[ -f "$template/Dockerfile" ] || die "template '$lang' has no Dockerfile"
[ -d "$handler" ] || die "handler dir '$handler' not found"
command -v buildah >/dev/null 2>&1 || die "buildah not found (run scripts/ci/install-tools.sh)"

if [ -z "$out" ]; then
	out="$(mktemp -d "${TMPDIR:-/tmp}/build-function.XXXXXX")"
else
	[ ! -e "$out" ] || die "build dir '$out' already exists"
fi
sh "$repo_root/scripts/shrinkwrap.sh" "$template" "$handler" "$out" || die "laying out the build dir $out failed"

arch=$(buildah info --format '{{.host.arch}}') || die "buildah info failed"
echo "build-function: building $tag (linux/$arch) from $out" >&2
eval "set -- $extra"
# bud runs buildah once, its output shown as it comes and kept in $log.
log="$(mktemp "${TMPDIR:-/tmp}/build-function-log.XXXXXX")"
rc="$log.rc"
trap 'rm -f "$log" "$rc"' EXIT
bud() {
	{
		buildah bud --isolation chroot --layers --pull=never --platform "linux/$arch" -t "$tag" "$@" "$out" 2>&1
		echo $? >"$rc"
	} | tee "$log" >&2
	[ "$(cat "$rc")" = 0 ]
}
if ! bud "$@"; then
	# The runtime's copy of itself into a sealed memfd can fail with EBUSY
	# (runc 1.1's cloned binary, as Debian 12 ships it; opencontainers/runc
	# #4640): a race, not the build. Once more, from the layer cache.
	grep -q 'sealing memfd copy' "$log" || die "buildah bud failed for $tag (build dir: $out)"
	echo "build-function: buildah's runtime failed sealing its memfd copy (a race of runc 1.1); building once more" >&2
	bud "$@" || die "buildah bud failed for $tag (build dir: $out)"
fi
echo "$out"
