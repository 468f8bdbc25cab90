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
  -p PORT         function port, 1-65535 (default 8080); metrics stay on 8081
                  unless -e metrics_port=N moves them
  -e NAME=VALUE   watchdog or function environment, may be repeated
                  (e.g. -e exec_timeout=30s -e max_inflight=4)
The build context is kept in build/<name of HANDLER_DIR>/, as faas-cli does.
The function listens on every interface, as in its container.
The SDK module comes from scripts/sdk.sh's proxy unless INPROC_SDK_PROXY
says one already runs (GOPROXY then has it).
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
metrics_port=8081
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
		metrics_port=*)
			metrics_port=${2#metrics_port=}
			export "${2?}"
			;;
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
case "$port" in
'' | *[!0-9]*) die "-p '$port': want a port number from 1 to 65535" ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then die "-p '$port': want a port number from 1 to 65535"; fi
[ "$port" != "$metrics_port" ] ||
	die "-p $port: that is the metrics port; pick another, or move metrics with -e metrics_port=N"

name=$(basename "$(cd "$handler" && pwd)")
ctx="build/$name"
rm -rf "$ctx"
sh "$root/scripts/shrinkwrap.sh" "$root/template/$lang" "$handler" "$ctx"
# A vendored function (see vendor-function.sh) brings vendor/ inside
# function/; the workspace looks for it at the top, as in the Dockerfile.
if [ -d "$ctx/function/vendor" ]; then mv "$ctx/function/vendor" "$ctx/vendor"; fi
echo "local-run: building $ctx (a first build downloads modules and compiles: up to a minute)" >&2
# go work use raises go.work's go line to the function's, as the Dockerfile does.
# shellcheck disable=SC2016 # expanded by the inner sh, from its arguments
build='cd "$1" && go work use && CGO_ENABLED=0 go build -trimpath -o handler .'
if [ -n "${INPROC_SDK_PROXY:-}" ]; then
	sh -c "$build" sh "$ctx"
else
	sh "$root/scripts/sdk.sh" run -- sh -c "$build" sh "$ctx"
fi || die "building $ctx failed (see above)"
echo "local-run: $name listening on port $port of every interface: http://127.0.0.1:$port/ (metrics http://127.0.0.1:$metrics_port/metrics); Ctrl-C to stop" >&2
port=$port exec "$ctx/handler"
