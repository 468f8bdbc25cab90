#!/bin/sh
# Runs the SDK module tool (scripts/sdk/, Go): serves watchdog/ as the Go
# module the templates pin, checks the pins and bumps them. It is built once
# into a cache folder and exec'd, so a script that starts "sdk.sh serve" in
# the background holds the server's own pid.
set -eu

case "${1:-}" in
-h | --help | help | "")
	root=$(cd "$(dirname "$0")/.." && pwd)
	exec go -C "$root/scripts" run ./sdk help
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
command -v go >/dev/null 2>&1 || {
	echo "sdk: Go is needed to build scripts/sdk; none on PATH" >&2
	exit 1
}
bin="${XDG_CACHE_HOME:-$HOME/.cache}/inproc-go/sdk"
mkdir -p "$(dirname "$bin")"
# Built under a name of its own, then renamed: scripts running at the same
# time (go test runs packages in parallel) never see a half-written binary.
go -C "$root/scripts" build -o "$bin.$$" ./sdk || {
	echo "sdk: building scripts/sdk failed" >&2
	rm -f "$bin.$$"
	exit 1
}
mv -f "$bin.$$" "$bin"
# The repository is the one this script is in, wherever it is called from.
cmd=$1
shift
exec "$bin" "$cmd" -repo "$root" "$@"
