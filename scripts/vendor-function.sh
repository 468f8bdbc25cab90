#!/bin/sh
# Vendors a function's module dependencies into its handler folder, in the
# form the templates' Dockerfile expects: a workspace vendor dir, made by
# "go work vendor" in the build context faas-cli would lay out.
set -eu

usage() {
	cat <<EOF
Usage: $(basename "$0") -l LANG -d HANDLER_DIR [-t TEMPLATE_DIR]

Lays out the build context the way faas-cli does (TEMPLATE_DIR/LANG copied,
HANDLER_DIR overlaid onto its function/ folder), runs "go work vendor" there
and moves the resulting vendor/ to HANDLER_DIR/vendor, replacing any old one.
The image build moves it back to the workspace root; build it with
  --build-arg GOFLAGS=-mod=vendor   (and GOPROXY=off to be sure no module is
                                     downloaded)
Run it again after every change to the handler's go.mod.

Options:
  -l LANG          template name, e.g. golang-middleware-inproc
  -d HANDLER_DIR   the function's handler folder (holds its go.mod)
  -t TEMPLATE_DIR  the folder holding the templates; default: ./template when
                   it has LANG (as after "faas-cli template store pull"),
                   else the template/ folder of this repository
  -h, --help       show this text

Modules are downloaded with your own go environment (GOPROXY, GOPRIVATE,
GONOSUMDB, ~/.netrc ...), the SDK from scripts/sdk.sh's proxy unless
INPROC_SDK_PROXY says one already runs. GO names the go command (default: go).
EOF
}

prog='vendor-function'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

lang=""
handler=""
templates=""
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
		templates="$2"
		shift
		;;
	*) die_usage "unknown argument: $1" ;;
	esac
	shift
done

[ -n "$lang" ] || die_usage "missing -l LANG"
[ -n "$handler" ] || die_usage "missing -d HANDLER_DIR"
case "$lang" in
*/* | . | ..) die_usage "LANG '$lang' must be a template name, not a path" ;;
esac
if [ -z "$templates" ]; then
	if [ -d "template/$lang" ]; then
		templates="template"
	else
		templates="$(cd "$(dirname "$0")/.." && pwd)/template"
	fi
fi
template="$templates/$lang"
[ -d "$template" ] || die "template '$lang' not found at $template (pull it, or pass -t TEMPLATE_DIR)"
[ -f "$template/go.work" ] || die "template '$lang' has no go.work: not an in-process Go template"
[ -d "$handler" ] || die "handler dir '$handler' not found"
[ -f "$handler/go.mod" ] || die "handler dir '$handler' has no go.mod"
GO="${GO:-go}"
command -v "$GO" >/dev/null 2>&1 || die "go command '$GO' not found"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/vendor-function.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
trap 'exit 1' INT TERM

# The handler's old vendor/ is left out: it is what this script replaces.
sh "$(dirname "$0")/shrinkwrap.sh" "$template" "$handler" "$ctx" || die "laying out the build context in $ctx failed"
rm -rf "$ctx/function/vendor" "$ctx/vendor"

echo "vendor-function: go work vendor for $handler ($lang)" >&2
# The SDK module comes from scripts/sdk.sh's proxy unless one already runs.
# shellcheck disable=SC2016 # expanded by the inner sh, from its arguments
vendor='cd "$1" && GOWORK="$1/go.work" "$2" work use && GOWORK="$1/go.work" "$2" work vendor'
if [ -n "${INPROC_SDK_PROXY:-}" ]; then
	sh -c "$vendor" sh "$ctx" "$GO"
else
	sh "$(dirname "$0")/sdk.sh" run -- sh -c "$vendor" sh "$ctx" "$GO"
fi || die "go work vendor failed (see above)"

modules="$ctx/vendor/modules.txt"
[ -f "$modules" ] || die "go work vendor made no vendor/modules.txt"
[ "$(head -n 1 "$modules")" = "## workspace" ] ||
	die "vendor/modules.txt does not start with '## workspace': not a workspace vendor dir"

rm -rf "$handler/vendor" || die "removing the old $handler/vendor failed"
mv "$ctx/vendor" "$handler/vendor" || die "moving vendor/ into $handler failed"
count="$(grep -c '^# ' "$handler/vendor/modules.txt" || true)"
echo "vendor-function: vendored $count modules into $handler/vendor; build with --build-arg GOFLAGS=-mod=vendor" >&2
