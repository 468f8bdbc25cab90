#!/bin/sh
# Soak test: many calls through the real watchdog process, checking that
# nothing fails and nothing drifts. CI runs a smoke size (-n 5000).
set -eu

usage() {
	cat <<USAGE
usage: scripts/soak.sh [-n CALLS] [-c CALLERS]

Builds watchdog/testdata/integration (watchdog.Main around an echo handler)
and drives it on 127.0.0.1 with tests/soak: CALLS calls from CALLERS
concurrent callers, each on its own keep-alive connection, after a warm-up.
Prints a report and fails if
  - any call is not answered 200 with its body echoed,
  - VmRSS, RssAnon (/proc/PID/status) or go_goroutines (metrics port) grow
    by more than 10% from the first quarter of the calls to the last,
  - the process does not exit 0 on SIGTERM.

  -n CALLS     calls to make, 100 to 100000000 (default 200000)
  -c CALLERS   concurrent callers, 1 to 1024 (default 64)
  -h, --help   show this help and exit
USAGE
}

prog='soak'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

# whole_number NAME VALUE MIN MAX: fail unless MIN <= VALUE <= MAX.
whole_number() {
	case "$2" in
	'' | *[!0-9]*) die_usage "$1 '$2': want a whole number from $3 to $4" ;;
	esac
	if [ "${#2}" -gt 9 ] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		die_usage "$1 '$2': want a whole number from $3 to $4"
	fi
}

calls=200000
callers=64
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) help_if_asked "$1" ;;
	-n | -c)
		need_arg "$@"
		case "$1" in
		-n)
			whole_number -n "$2" 100 100000000
			calls=$2
			;;
		-c)
			whole_number -c "$2" 1 1024
			callers=$2
			;;
		esac
		shift 2
		;;
	*)
		die_usage "unknown argument: '$1'"
		;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

(cd "$root/watchdog" && go build -o "$tmp/function" ./testdata/integration)
(cd "$root/tests" && go build -o "$tmp/soak" ./soak)
"$tmp/soak" -bin "$tmp/function" -n "$calls" -c "$callers"
