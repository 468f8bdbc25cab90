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
usage: scripts/local-run.sh -l LANG -d HANDLER_DIR [-t TEMPLATE_DIR] [-p PORT] [-a]
                            [-e NAME=VALUE]...

  -l LANG          template, one of: $(templates)
  -d HANDLER_DIR   the function's folder (what "faas-cli new" made)
  -t TEMPLATE_DIR  the folder holding the templates; default: ./template when
                   it has LANG (as after "faas-cli template pull"), else the
                   template/ folder of this repository
  -p PORT          function port, 1-65535 (default 8080); metrics stay on 8081
                   unless -e metrics_port=N moves them
  -a               listen on every interface, as in a container; without it
                   the function and its metrics listen on 127.0.0.1 only
  -e NAME=VALUE    watchdog or function environment, may be repeated
                   (e.g. -e exec_timeout=30s -e max_inflight=4)
  -h, --help       show this text
The build context is kept in build/<name of HANDLER_DIR>/, as faas-cli does.
The SDK module comes from scripts/sdk.sh's proxy unless INPROC_SDK_PROXY
says one already runs (GOPROXY then has it).
Ctrl-C drains and exits; a second Ctrl-C exits at once.
Exit status: 2 for bad arguments, 1 when the build fails, else the
function's own (0 after Ctrl-C's drain).
USAGE
}

prog='local-run'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

lang=""
handler=""
template_dir=""
port=8080
metrics_port=8081
listen_address=127.0.0.1
while [ $# -gt 0 ]; do
	case "$1" in
	-l | -d | -t | -p | -e) need_arg "$@" ;;
	esac
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	-a)
		listen_address=""
		shift
		continue
		;;
	-l) lang=$2 ;;
	-d) handler=$2 ;;
	-t) template_dir=$2 ;;
	-p) port=$2 ;;
	-e)
		case "$2" in
		metrics_port=*)
			metrics_port=${2#metrics_port=}
			export "${2?}"
			;;
		listen_address=*) listen_address=${2#listen_address=} ;;
		[A-Za-z_]*=*) export "${2?}" ;;
		*) die_usage "-e '$2': want NAME=VALUE" ;;
		esac
		;;
	*) die_usage "unknown argument '$1'; options: -l -d -t -p -a -e -h" ;;
	esac
	shift 2
done

root=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$lang" ] || die_usage "-l LANG is required, one of: $(templates)"
[ -n "$handler" ] || die_usage "-d HANDLER_DIR is required"
case "$lang" in
*/* | . | ..) die_usage "-l '$lang': want a template name, not a path" ;;
esac
if [ -z "$template_dir" ]; then
	template_dir="$root/template"
	if [ -d "template/$lang" ]; then template_dir="template"; fi
fi
[ -d "$template_dir/$lang" ] || die_usage "-l '$lang': no template at $template_dir/$lang; want one of: $(templates) (pull it, or pass -t TEMPLATE_DIR)"
[ -d "$handler" ] || die_usage "-d '$handler': no such folder"
command -v go >/dev/null 2>&1 || die "Go is needed; none on PATH"
case "$port" in
'' | *[!0-9]*) die_usage "-p '$port': want a port number from 1 to 65535" ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then die_usage "-p '$port': want a port number from 1 to 65535"; fi
[ "$port" != "$metrics_port" ] ||
	die_usage "-p $port: that is the metrics port; pick another, or move metrics with -e metrics_port=N"

name=$(basename "$(cd "$handler" && pwd)")
ctx="build/$name"
rm -rf "$ctx"
echo "local-run: template $template_dir/$lang" >&2
sh "$root/scripts/shrinkwrap.sh" "$template_dir/$lang" "$handler" "$ctx"
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
where="every interface" host=127.0.0.1
if [ -n "$listen_address" ]; then
	where="$listen_address only (-a: every interface)" host=$listen_address
	case "$host" in *:*) host="[$host]" ;; esac
fi
echo "local-run: $name listening on port $port of $where: http://$host:$port/ (metrics http://$host:$metrics_port/metrics); Ctrl-C to stop" >&2
listen_address=$listen_address port=$port exec "$ctx/handler"
