#!/bin/sh
# Lays out a function's build context as "faas-cli build --shrinkwrap" does:
# the template's files, then the handler's folder over its function/ folder.
# vendor-function.sh, local-run.sh, demo.sh and ci/build-function.sh share it.
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

prog='shrinkwrap'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

help_if_asked "${1:-}"
[ $# -eq 3 ] || die_usage "want TEMPLATE_DIR HANDLER_DIR OUT_DIR, got $# argument(s)"
template=$1
handler=$2
out=$3
[ -f "$template/Dockerfile" ] || die_usage "TEMPLATE_DIR '$template' is not a template folder (no Dockerfile)"
[ -d "$handler" ] || die_usage "HANDLER_DIR '$handler' is not a folder"
if [ -e "$out" ] && { [ ! -d "$out" ] || [ -n "$(ls -A "$out")" ]; }; then
	die_usage "OUT_DIR '$out' exists and is not an empty folder"
fi

# "dir/." copies the contents, dotfiles included, with GNU and busybox cp.
{ mkdir -p "$out/function" && cp -R "$template/." "$out/" && cp -R "$handler/." "$out/function/"; } ||
	die "copying $template and $handler into $out failed"
