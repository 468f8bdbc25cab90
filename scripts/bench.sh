#!/bin/sh
# Benchmarks the in-process templates against bare net/http, the contract's
# floor and a two-process (of-watchdog-like) baseline: see docs/benchmark.md.
# A thin wrapper: installs what is missing and builds the local Go builder
# image, then runs the Go program in tests/bench, which checks the options,
# builds the images, measures and writes benchmark.md and benchmark.svg.
set -eu

usage() {
	cat <<EOF
Usage: $(basename "$0") [options]

Builds five echo images (bare net/http; the contract's floor, bare plus
the templates' http.Server limits and X-Call-Id and X-Duration-Seconds on
every answer; golang-middleware-inproc; golang-http-inproc; a two-process
reverse-proxy baseline) and measures binary and image size, memory idle
and after load, idle thread wakeups, start to healthy, wrk throughput and
p50/p99 latency, and CPU per call (the container's and the log shipper's),
for plain calls and calls as the OpenFaaS gateway sends them, in
interleaved rounds; every figure also as a ratio to bare and to the floor.
Writes docs/benchmark.md and docs/benchmark.svg (or to --out).

Options:
  --rounds N        rounds, every variant once per round (default 5)
  --duration SECS   measured seconds per point, e.g. 5 or 5s (default 5s)
  --warmup SECS     warm-up seconds before each point, 0 for none (default 2s)
  --conns LIST      comma-separated connection counts (default 1,16,64)
  --shapes LIST     call shapes measured at each connection count: plain,
                    gateway (default plain,gateway)
  --starts N        start-to-healthy samples per variant and round (default 3)
  --quiet-wait SECS before each point, wait up to SECS for a second of low CPU
                    pressure from other work, 0 for no wait (default 30s)
  --shipper-cpu WHERE
                    where the log shipper (conmon) runs: server (default;
                    the server's core, as on a node, so CPU per call counts
                    the log bytes), client (wrk's core: hides its share) or
                    unpinned
  --smoke           quick check (a few minutes with a warm build cache):
                    1 round, 1s points, 1 and 16 connections, output to a
                    temp dir; fails unless every figure was produced
  --out DIR         write benchmark.md and benchmark.svg to DIR
  --keep-binaries DIR  copy every variant's binaries to DIR
  --no-install      do not install missing packages (fail instead)
  -h, --help        show this text

Every option but --no-install and --help goes to the Go program in
tests/bench, which checks them all before anything is installed or built;
its other flags (cd tests && go run ./bench -h) are accepted too.

Needs root (rootful podman), 2 CPUs, and: podman, buildah, runc, wrk,
taskset. Missing packages are installed with apt-get (scripts/ci/install-tools.sh
for podman and buildah, wrk here). Every load targets 127.0.0.1 only.
Exit status: 0 on success, 1 when the run fails, 2 for bad arguments.
EOF
}

prog='bench'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

# -h or --help anywhere prints the help: the other options are the Go
# program's, which may take values.
for a in "$@"; do
	help_if_asked "$a"
done

root="$(cd "$(dirname "$0")/.." && pwd)"
# The templates' builds fetch the SDK module from the repository's own proxy.
[ -n "${INPROC_SDK_PROXY:-}" ] || exec sh "$root/scripts/sdk.sh" run -- sh "$root/scripts/bench.sh" "$@"
command_line="scripts/bench.sh"
for a in "$@"; do
	command_line="$command_line $a"
done

# Keep every argument but --no-install, in order: each pass moves the first
# argument to the end, or drops it.
install=1
n=$#
while [ "$n" -gt 0 ]; do
	a="$1"
	shift
	n=$((n - 1))
	case "$a" in
	--no-install) install=0 ;;
	*) set -- "$@" "$a" ;;
	esac
done

command -v go >/dev/null 2>&1 || die "go not found on PATH"
# The program is built first and run directly, not with "go run", which
# does not pass SIGINT or SIGTERM on: the benchmark must get them to remove
# its containers. Its -check exits 2 on a bad option before anything else.
bin="$(mktemp "${TMPDIR:-/tmp}/inproc-bench.XXXXXX")"
trap 'rm -f "$bin"' EXIT
(cd "$root/tests" && go build -o "$bin" ./bench) || die "building tests/bench failed"
rc=0
"$bin" -check -repo "$root" "$@" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

[ "$(id -u)" -eq 0 ] || die "needs root: the images are built and run with rootful buildah and podman"

if [ "$install" -eq 1 ]; then
	sh "$root/scripts/ci/install-tools.sh" || die "scripts/ci/install-tools.sh failed"
	if ! command -v wrk >/dev/null 2>&1; then
		echo "bench: installing wrk" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk ||
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; } ||
			die "apt-get install wrk failed"
	fi
fi
for tool in podman buildah runc wrk taskset; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (run without --no-install, or install it)"
done

sh "$root/scripts/ci/builder-image.sh" localhost/inproc-go/golang:local >&2 || die "scripts/ci/builder-image.sh failed"

BENCH_COMMAND="$command_line" "$bin" -repo "$root" "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' INT
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM
# wait returns early when a trapped signal arrives: wait again until the
# benchmark has removed its containers and exited.
while :; do
	rc=0
	wait "$pid" || rc=$?
	kill -0 "$pid" 2>/dev/null || break
done
exit "$rc"
