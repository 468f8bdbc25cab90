#!/bin/sh
# Lays out a function's build context as "faas-cli build --shrinkwrap" does:
# the template's files, then the handler's folder over its function/ folder.
# build-function.sh, vendor-function.sh, local-run.sh and demo.sh share it.
set -eu

usage() {
	cat <<EOF
Usage: $(basename "$0") TEMPLATE_DIR HANDLER_DIR OUT_DIR

Copies TEMPLATE_DIR (e.g. template/golang-middleware-inproc) into OUT_DIR,
then HANDLER_DIR (what "faas-cli new" made) over OUT_DIR/function/: template
files the handler does not replace stay, as with faas-cli. OUT_DIR must not
exist, or be an empty folder.
Exit status: 0 on success, 1 when copying fails, 2 for bad arguments.
EOF
}

bad_args() {
	echo "shrinkwrap: $*" >&2
	exit 2
}

case "${1:-}" in
--help | -h)
	usage
	exit 0
	;;
esac
[ $# -eq 3 ] || bad_args "want TEMPLATE_DIR HANDLER_DIR OUT_DIR, got $# argument(s) (see --help)"
template=$1
handler=$2
out=$3
[ -f "$template/Dockerfile" ] || bad_args "TEMPLATE_DIR '$template' is not a template folder (no Dockerfile)"
[ -d "$handler" ] || bad_args "HANDLER_DIR '$handler' is not a folder"
if [ -e "$out" ] && { [ ! -d "$out" ] || [ -n "$(ls -A "$out")" ]; }; then
	bad_args "OUT_DIR '$out' exists and is not an empty folder"
fi

# "dir/." copies the contents, dotfiles included, with GNU and busybox cp.
if ! { mkdir -p "$out/function" && cp -R "$template/." "$out/" && cp -R "$handler/." "$out/function/"; }; then
	echo "shrinkwrap: copying $template and $handler into $out failed" >&2
	exit 1
fi
