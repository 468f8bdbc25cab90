#!/bin/sh
# Benchmarks the in-process templates against bare net/http and a
# two-process (of-watchdog-like) baseline: see docs/benchmark.md.
# Installs what is missing, builds the local Go builder image, then runs the
# Go program in tests/bench, which builds the images, measures and writes
# benchmark.md and benchmark.svg.
set -eu

usage() {
	cat <<EOF
Usage: $(basename "$0") [options]

Builds four echo images (bare net/http, golang-middleware-inproc,
golang-http-inproc, a two-process reverse-proxy baseline) and measures
binary and image size, memory idle and after load, idle thread wakeups,
start to healthy, wrk throughput and p50/p99 latency, and CPU per call
(the container's and the log shipper's), in interleaved rounds. Writes
docs/benchmark.md and docs/benchmark.svg (or to --out).

Options:
  --rounds N        rounds, every variant once per round (default 5)
  --duration SECS   measured seconds per point, e.g. 5 or 5s (default 5s)
  --warmup SECS     warm-up seconds before each point, 0 for none (default 2s)
  --conns LIST      comma-separated connection counts (default 1,16,64)
  --starts N        start-to-healthy samples per variant and round (default 3)
  --quiet-wait SECS before each point, wait up to SECS for a second of low CPU
                    pressure from other work, 0 for no wait (default 30s)
  --shipper-cpu WHERE
                    where the log shipper (conmon) runs: server (default;
                    the server's core, as on a node, so CPU per call counts
                    the log bytes), client (wrk's core: hides its share) or
                    unpinned
  --smoke           quick check (about a minute with a warm build cache):
                    1 round, 1s points, 1 and 16 connections, output to a
                    temp dir; fails unless every figure was produced
  --out DIR         write benchmark.md and benchmark.svg to DIR
  --keep-binaries DIR  copy every variant's binaries to DIR
  --no-install      do not install missing packages (fail instead)
  -h, --help        show this text

Needs root (rootful podman), 2 CPUs, and: podman, buildah, runc, wrk,
taskset. Missing packages are installed with apt-get (scripts/ci/install-tools.sh
for podman and buildah, wrk here). Every load targets 127.0.0.1 only.
Exit status: 0 on success, 1 when the run fails, 2 for bad arguments.
EOF
}

die() {
	echo "bench: $*" >&2
	exit 1
}

bad_usage() {
	echo "bench: $*" >&2
	echo "Run '$(basename "$0") --help' for usage." >&2
	exit 2
}

# check_seconds VALUE OPTION fails unless VALUE is whole seconds (wrk's
# unit), with or without a trailing "s"; secs is then set to "Ns".
check_seconds() {
	n="${1%s}"
	case "$n" in
	'' | *[!0-9]*) bad_usage "$2 '$1': want whole seconds, e.g. 5 or 5s" ;;
	esac
	secs="${n}s"
}

check_positive() {
	case "$1" in
	'' | *[!0-9]* | 0*) bad_usage "$2 '$1': want a positive whole number" ;;
	esac
}

need_value() {
	[ "$2" -ge 2 ] || bad_usage "option $1 needs a value"
}

root="$(cd "$(dirname "$0")/.." && pwd)"
# The templates' builds fetch the SDK module from the repository's own proxy.
case " $* " in
*" -h "* | *" --help "*) ;;
*) [ -n "${INPROC_SDK_PROXY:-}" ] || exec sh "$root/scripts/sdk.sh" run -- sh "$root/scripts/bench.sh" "$@" ;;
esac
command_line="scripts/bench.sh"
for a in "$@"; do
	command_line="$command_line $a"
done

install=1
# Flags for the Go program, collected as a string of single-quoted words
# (POSIX sh has no arrays) and expanded with eval at the end.
flags=""
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
add() {
	for f in "$@"; do
		flags="$flags $(quote "$f")"
	done
}

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--rounds)
		need_value "$1" $#
		check_positive "$2" "$1"
		add -rounds "$2"
		shift
		;;
	--starts)
		need_value "$1" $#
		check_positive "$2" "$1"
		add -starts "$2"
		shift
		;;
	--duration)
		need_value "$1" $#
		check_seconds "$2" "$1"
		case "$secs" in
		0*) bad_usage "--duration '$2': want at least 1 second" ;;
		esac
		add -duration "$secs"
		shift
		;;
	--warmup)
		need_value "$1" $#
		check_seconds "$2" "$1"
		add -warmup "$secs"
		shift
		;;
	--quiet-wait)
		need_value "$1" $#
		check_seconds "$2" "$1"
		add -quiet-wait "$secs"
		shift
		;;
	--conns)
		need_value "$1" $#
		case "$2" in
		'' | ,* | *, | *,,* | *[!0-9,]*) bad_usage "--conns '$2': want a comma-separated list such as 1,16,64" ;;
		esac
		add -conns "$2"
		shift
		;;
	--shipper-cpu)
		need_value "$1" $#
		case "$2" in
		server | client | unpinned) ;;
		*) bad_usage "--shipper-cpu '$2': want server, client or unpinned" ;;
		esac
		add -shipper-cpu "$2"
		shift
		;;
	--out)
		need_value "$1" $#
		add -out "$2"
		shift
		;;
	--keep-binaries)
		need_value "$1" $#
		add -keep-binaries "$2"
		shift
		;;
	--smoke) add -smoke ;;
	--no-install) install=0 ;;
	*) bad_usage "unknown argument: $1" ;;
	esac
	shift
done

[ "$(id -u)" -eq 0 ] || die "needs root: the images are built and run with rootful buildah and podman"
command -v go >/dev/null 2>&1 || die "go not found on PATH"

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

# The program is built first and run directly, not with "go run", which
# does not pass SIGINT or SIGTERM on: the benchmark must get them to remove
# its containers.
bin="$(mktemp "${TMPDIR:-/tmp}/inproc-bench.XXXXXX")"
trap 'rm -f "$bin"' EXIT
(cd "$root/tests" && go build -o "$bin" ./bench) || die "building tests/bench failed"

eval "set -- $flags"
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
