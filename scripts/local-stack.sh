#!/bin/sh
# Runs every function of a stack.yaml natively behind gateway-shaped routes
# (scripts/localstack/, Go): run it from the folder that holds stack.yaml.
# The tool is built once into a cache folder and exec'd, so Ctrl-C and the
# pid a script holds are its own.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
-h | --help | help)
	exec go -C "$root/scripts" run ./localstack -h
	;;
esac
prog='local-stack'
# shellcheck source=scripts/lib/common.sh
. "$root/scripts/lib/common.sh"
command -v go >/dev/null 2>&1 || die "Go is needed; none on PATH"
bin="${XDG_CACHE_HOME:-$HOME/.cache}/inproc-go/local-stack"
mkdir -p "$(dirname "$bin")"
# Built under a name of its own, then renamed, as sdk.sh does.
go -C "$root/scripts" build -o "$bin.$$" ./localstack || {
	rm -f "$bin.$$"
	die "building scripts/localstack failed"
}
mv -f "$bin.$$" "$bin"
# Builds fetch the SDK module from scripts/sdk.sh's proxy, which runs as
# long as the stack does, unless one runs already.
if [ -n "${INPROC_SDK_PROXY:-}" ]; then
	exec "$bin" -repo "$root" "$@"
fi
exec sh "$root/scripts/sdk.sh" run -- "$bin" -repo "$root" "$@"
