# shellcheck shell=sh disable=SC2154 # prog: set by the script that sources this file
# Shell helpers shared by the scripts under scripts/ (POSIX sh), sourced
# after the script sets prog, the name its messages start with:
#
#	prog='NAME'
#	# shellcheck source=scripts/lib/common.sh
#	. "$(dirname "$0")/lib/common.sh"      # from scripts/
#	. "$(dirname "$0")/../lib/common.sh"   # from scripts/ci/
#
# Exit status, in every script: 0 on success, 1 when the work fails (die),
# 2 for bad arguments (die_usage).

# die prints "PROG: MESSAGE" on stderr and exits 1.
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

# die_usage prints "PROG: MESSAGE (see --help)" on stderr and exits 2.
die_usage() {
	printf '%s: %s (see --help)\n' "$prog" "$*" >&2
	exit 2
}

# need_arg OPTION [VALUE...], called as need_arg "$@" while $1 is an option
# that takes a value, fails with a usage error when no value follows it.
need_arg() {
	[ $# -ge 2 ] || die_usage "option $1 needs a value"
}

# help_if_asked ARG prints the script's help (its usage function) and exits
# 0 when ARG is -h or --help. Scripts where -h is an option of their own
# handle --help themselves.
help_if_asked() {
	case "${1:-}" in
	-h | --help)
		usage
		exit 0
		;;
	esac
}
