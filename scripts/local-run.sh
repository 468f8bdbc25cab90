#!/bin/sh
# Runs a function on this machine, without containers, behind the same
# in-process watchdog as in its image: lays out the build context as
# "faas-cli build --shrinkwrap" does, builds the static binary and runs it.
set -eu

templates() {
	for d in "$(cd "$(dirname "$0")/.." && pwd)"/template/*/; do printf '%s ' "$(basename "$d")"; done
}

usage() {
	cat <<USAGE
usage: scripts/local-run.sh -l LANG -h HANDLER_DIR [-p PORT] [-e NAME=VALUE]...

  -l LANG         template, one of: $(templates)
  -h HANDLER_DIR  the function's folder (what "faas-cli new" made)
  -p PORT         function port (default 8080); metrics stay on 8081
  -e NAME=VALUE   watchdog or function environment, may be repeated
                  (e.g. -e exec_timeout=30s -e max_inflight=4)
The build context is kept in build/<name of HANDLER_DIR>/, as faas-cli does.
Ctrl-C drains and exits; a second Ctrl-C exits at once.
USAGE
}

die() {
	echo "local-run: $*" >&2
	exit 2
}

lang=""
handler=""
port=8080
while [ $# -gt 0 ]; do
	case "$1" in
	-l | -h | -p | -e) [ $# -ge 2 ] || die "option $1 needs a value (see --help)" ;;
	esac
	case "$1" in
	-l) lang=$2 ;;
	-h) handler=$2 ;;
	-p) port=$2 ;;
	-e)
		case "$2" in
		[A-Za-z_]*=*) export "${2?}" ;;
		*) die "-e '$2': want NAME=VALUE" ;;
		esac
		;;
	--help)
		usage
		exit 0
		;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift 2
done

root=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$lang" ] || die "-l LANG is required (see --help)"
[ -n "$handler" ] || die "-h HANDLER_DIR is required (see --help)"
[ -d "$root/template/$lang" ] || die "-l '$lang': no such template; want one of: $(templates)"
[ -d "$handler" ] || die "-h '$handler': no such folder"
command -v go >/dev/null 2>&1 || die "Go is needed; none on PATH"

name=$(basename "$(cd "$handler" && pwd)")
ctx="build/$name"
rm -rf "$ctx"
sh "$root/scripts/shrinkwrap.sh" "$root/template/$lang" "$handler" "$ctx"
# A vendored function (see vendor-function.sh) brings vendor/ inside
# function/; the workspace looks for it at the top, as in the Dockerfile.
if [ -d "$ctx/function/vendor" ]; then mv "$ctx/function/vendor" "$ctx/vendor"; fi
(cd "$ctx" && CGO_ENABLED=0 go build -trimpath -o handler .)
echo "local-run: $name on http://127.0.0.1:$port (metrics :8081/metrics); Ctrl-C to stop" >&2
port=$port exec "$ctx/handler"
