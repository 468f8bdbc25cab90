#!/bin/sh
# Starts and stops a Docker Engine of its own (Debian's docker.io dockerd),
# for the tests and the demo on a machine with no Docker service: its data
# root, exec root, socket and pid file all live in one folder, and it is
# stopped by its pid, so it never touches a system Docker.
set -eu

usage() {
	cat <<EOF
Usage: scripts/ci/docker-engine.sh start DIR
       scripts/ci/docker-engine.sh stop DIR

start  runs dockerd with --data-root DIR/data, --exec-root DIR/exec,
       --pidfile DIR/dockerd.pid and the socket DIR/docker.sock, without
       iptables rules, its bridge on \$DOCKER_BIP (default 10.213.0.1/24),
       and waits until it answers (up to 60s). It prints two lines to source:
         DOCKER_HOST=unix://DIR/docker.sock
         DOCKER_BRIDGE_IP=<the bridge address, where build containers reach
                          this machine: serve their module proxy there>
       dockerd's log is DIR/dockerd.log. As root; installs nothing (see
       scripts/ci/install-tools.sh).
stop   sends SIGTERM to the pid in DIR/dockerd.pid and waits for it to exit
       (up to 30s, then SIGKILL).
Exit status: 0 on success, 1 when dockerd fails, 2 for bad arguments.
EOF
}

prog='docker-engine'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

help_if_asked "${1:-}"
case "${1:-}" in
start | stop) ;;
*) die_usage "want 'start DIR' or 'stop DIR', got '$*'" ;;
esac
[ $# -eq 2 ] || die_usage "$1 takes one folder, got $(($# - 1)) argument(s)"
cmd=$1
dir=$2
bip=${DOCKER_BIP:-10.213.0.1/24}
pidfile="$dir/dockerd.pid"

if [ "$cmd" = stop ]; then
	[ -f "$pidfile" ] || die "no $pidfile: no dockerd started in $dir"
	pid=$(cat "$pidfile")
	kill -TERM "$pid" 2>/dev/null || exit 0
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 300 ]; then
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	exit 0
fi

command -v dockerd >/dev/null 2>&1 || die "dockerd not found (Debian: apt-get install docker.io; scripts/ci/install-tools.sh does)"
[ "$(id -u)" -eq 0 ] || die "dockerd needs root"
case "$bip" in
*.*.*.*/*) ;;
*) die "DOCKER_BIP='$bip': want an address with its prefix, e.g. 10.213.0.1/24" ;;
esac
mkdir -p "$dir" || die "cannot make $dir"
dir=$(cd "$dir" && pwd)
pidfile="$dir/dockerd.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	die "a dockerd already runs from $dir (pid $(cat "$pidfile")); stop it first"
fi
sock="$dir/docker.sock"
dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
	-H "unix://$sock" --iptables=false --ip6tables=false --bip "$bip" \
	>"$dir/dockerd.log" 2>&1 &
i=0
until [ -S "$sock" ] && DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 600 ] || ! kill -0 $! 2>/dev/null; then
		tail -n 20 "$dir/dockerd.log" >&2
		die "dockerd did not answer on $sock within 60s (log: $dir/dockerd.log)"
	fi
	sleep 0.1
done
echo "DOCKER_HOST=unix://$sock"
echo "DOCKER_BRIDGE_IP=${bip%/*}"
