#!/bin/sh
# Lint the repository: shell scripts, GitHub workflows, Go formatting, go vet
# and known vulnerabilities. Every check either runs or fails; none is skipped
# without saying so.
set -eu

ACTIONLINT_PKG="github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
GOVULNCHECK_PKG="golang.org/x/vuln/cmd/govulncheck@v1.9.0"
# The vulnerability data, as of its commit date, from the module proxy.
VULNDB_VERSION="v0.0.0-20261105234957-e22db6528018"
# Standard-library findings depend on the Go that analyses: this machine's
# 1.26.8 lacks two fixes of 1.26.10, which the golang:1.26 builder image has;
# 1.27.3 is the newer Go the module proxy serves here.
VULN_GOTOOLCHAIN="${VULN_GOTOOLCHAIN:-go1.27.3}"
GO_MODULES="watchdog scripts tests"
ALL_CHECKS="shell actions gofmt vet vuln"

usage() {
	cat <<EOF
Usage: scripts/lint.sh [-h] [CHECK...]

Lint the repository. With no CHECK, run all of them; otherwise run only the
ones named. Exits non-zero if any check fails.

Checks:
  shell    shellcheck every *.sh (and every file with a sh/bash shebang)
           under scripts/ and .ci/, and .ci/run
  actions  actionlint ($ACTIONLINT_PKG) on .github/workflows,
           with shellcheck on the run: blocks
  gofmt    gofmt -l over every Go file outside vendor/ directories
  vet      go vet ./... in each Go module of: $GO_MODULES
  vuln     govulncheck ./... ($GOVULNCHECK_PKG)
           in watchdog/ and in each template as faas-cli lays it out
           (template/<lang>/ copied to a temporary directory, -tags jwt,otel),
           with Go \$VULN_GOTOOLCHAIN ($VULN_GOTOOLCHAIN), against \$GOVULNDB
           or else a database built from golang.org/x/vulndb@$VULNDB_VERSION
           (cached under ~/.cache/inproc-go).

Options:
  -h, --help  show this help and exit

shellcheck is installed with apt-get when it is missing (as root, or via sudo).
EOF
}

prog='lint'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

checks=""
for arg in "$@"; do
	case "$arg" in
	-h | --help) help_if_asked "$arg" ;;
	-*)
		die_usage "unknown option: $arg"
		;;
	shell | actions | gofmt | vet | vuln)
		case " $checks " in
		*" $arg "*) ;;
		*) checks="$checks $arg" ;;
		esac
		;;
	*)
		die_usage "unknown check: '$arg' (want one of: $ALL_CHECKS)"
		;;
	esac
done
[ -n "$checks" ] || checks="$ALL_CHECKS"

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# govulncheck builds each template, which downloads the SDK module.
case " $checks " in
*" vuln "*) [ -n "${INPROC_SDK_PROXY:-}" ] || exec sh scripts/sdk.sh run -- sh scripts/lint.sh "$@" ;;
esac

log() { printf '==> %s\n' "$*"; }
warn() { printf '%s: %s\n' "$prog" "$*" >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

# ensure_shellcheck installs shellcheck with apt-get if it is not on PATH.
ensure_shellcheck() {
	command -v shellcheck >/dev/null 2>&1 && return 0
	warn "shellcheck not found; installing it with apt-get"
	if ! command -v apt-get >/dev/null 2>&1; then
		warn "shellcheck is missing and apt-get is not available: install shellcheck"
		return 1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		sudo=""
	elif command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		warn "shellcheck is missing and installing it needs root: install shellcheck"
		return 1
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || return 1
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends shellcheck >&2 || return 1
	command -v shellcheck >/dev/null 2>&1 || {
		warn "shellcheck is still not on PATH after apt-get install"
		return 1
	}
}

# is_shell_script succeeds for *.sh files and files with a sh-family shebang.
is_shell_script() {
	case "$1" in
	*.sh) return 0 ;;
	esac
	[ -f "$1" ] || return 1
	IFS= read -r first <"$1" 2>/dev/null || return 1
	case "$first" in
	'#!'*/sh | '#!'*/sh\ * | '#!'*/bash | '#!'*/bash\ * | '#!'*/dash | '#!'*/dash\ * | \
		'#!'*'env sh' | '#!'*'env sh '* | '#!'*'env bash' | '#!'*'env bash '*)
		return 0
		;;
	esac
	return 1
}

check_shell() {
	log "shellcheck: scripts/ .ci/"
	ensure_shellcheck || return 1
	: >"$tmp/scripts"
	for dir in scripts .ci; do
		[ -d "$dir" ] || {
			warn "no $dir/ directory: nothing of it to check"
			continue
		}
		find "$dir" -type f ! -path '*/vendor/*' | sort >"$tmp/candidates"
		while IFS= read -r f; do
			if is_shell_script "$f"; then
				printf '%s\n' "$f" >>"$tmp/scripts"
			fi
		done <"$tmp/candidates"
	done
	if [ ! -f .ci/run ]; then
		warn ".ci/run does not exist, so it was not checked"
	elif ! grep -qx '.ci/run' "$tmp/scripts"; then
		printf '%s\n' .ci/run >>"$tmp/scripts"
	fi
	if [ ! -s "$tmp/scripts" ]; then
		warn "found no shell scripts to check under scripts/ or .ci/"
		return 1
	fi
	printf '    %s\n' "$(tr '\n' ' ' <"$tmp/scripts")"
	# -x: follow the "# shellcheck source=" directives (scripts/lib/common.sh).
	tr '\n' '\0' <"$tmp/scripts" | xargs -0 shellcheck -x
}

check_actions() {
	log "actionlint: .github/workflows"
	ensure_shellcheck || return 1
	: >"$tmp/workflows"
	if [ -d .github/workflows ]; then
		find .github/workflows -type f \( -name '*.yml' -o -name '*.yaml' \) | sort >"$tmp/workflows"
	fi
	if [ ! -s "$tmp/workflows" ]; then
		warn "no workflow files (*.yml, *.yaml) under .github/workflows"
		return 1
	fi
	printf '    %s\n' "$(tr '\n' ' ' <"$tmp/workflows")"
	# Pass shellcheck explicitly: actionlint silently skips run: blocks when
	# it cannot find it.
	tr '\n' '\0' <"$tmp/workflows" |
		xargs -0 go run "$ACTIONLINT_PKG" -shellcheck "$(command -v shellcheck)"
}

# list_go_files writes every Go file outside vendor/ directories, one a line.
# In a git work tree it lists tracked and untracked-but-not-ignored files.
list_go_files() {
	if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$ROOT" ls-files --cached --others --exclude-standard -- '*.go' |
			while IFS= read -r f; do
				[ -f "$f" ] && printf '%s\n' "$f"
			done
	else
		find . -name .git -prune -o -name vendor -prune -o -type f -name '*.go' -print
	fi | grep -v -e '^vendor/' -e '/vendor/' | sort -u
}

check_gofmt() {
	log "gofmt -l"
	list_go_files >"$tmp/gofiles" || true
	if [ ! -s "$tmp/gofiles" ]; then
		warn "found no Go files to check"
		return 1
	fi
	printf '    %s Go files\n' "$(wc -l <"$tmp/gofiles" | tr -d ' ')"
	if ! tr '\n' '\0' <"$tmp/gofiles" | xargs -0 gofmt -l >"$tmp/unformatted"; then
		cat "$tmp/unformatted"
		warn "gofmt could not parse some files (see above)"
		return 1
	fi
	if [ -s "$tmp/unformatted" ]; then
		warn "these files are not gofmt-formatted (run gofmt -w on them):"
		sed 's/^/    /' "$tmp/unformatted" >&2
		return 1
	fi
}

check_vet() {
	rc=0
	for mod in $GO_MODULES; do
		if [ ! -f "$mod/go.mod" ]; then
			warn "no $mod/go.mod: module $mod not vetted"
			continue
		fi
		log "go vet ./... in $mod/"
		(cd "$mod" && go vet ./...) || rc=1
	done
	return "$rc"
}

# local_vulndb prints a file:// URL of the Go vulnerability database, built
# from the golang.org/x/vulndb module (served by the module proxy; vuln.go.dev
# may be out of reach) with its own indexdb command, cached per version.
local_vulndb() {
	cache="${XDG_CACHE_HOME:-$HOME/.cache}/inproc-go/vulndb-$VULNDB_VERSION"
	if [ ! -f "$cache/index/db.json" ]; then
		src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -d "$src/data/osv" ] || {
			warn "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv"
			return 1
		}
		rm -rf "$cache"
		mkdir -p "$(dirname "$cache")"
		(cd "$tmp" && go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -out "$cache" -vulns "$src/data/osv") >&2 || return 1
	fi
	echo "file://$cache"
}

# govulncheck_in DIR LABEL [FLAGS] runs govulncheck ./... in DIR.
govulncheck_in() {
	log "govulncheck ${3:-}./... in $2"
	# shellcheck disable=SC2086 # FLAGS is a word list
	(cd "$1" && GOTOOLCHAIN=$VULN_GOTOOLCHAIN go run "$GOVULNCHECK_PKG" -db "$vuln_db" ${3:-} ./...) >"$tmp/vuln.out" 2>&1 || {
		sed 's/^/    /' "$tmp/vuln.out"
		return 1
	}
	sed 's/^/    /' "$tmp/vuln.out"
}

check_vuln() {
	vuln_db=${GOVULNDB:-}
	if [ -z "$vuln_db" ]; then
		vuln_db=$(local_vulndb) || {
			warn "could not build the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
			return 1
		}
	fi
	rc=0
	govulncheck_in watchdog "watchdog/" || rc=1
	for dir in template/*/; do
		[ -f "$dir/go.mod" ] || continue
		ctx="$tmp/vuln-context"
		rm -rf "$ctx"
		mkdir -p "$ctx"
		cp -R "$dir." "$ctx/"
		# the jwt,otel build is a superset of every other one
		govulncheck_in "$ctx" "template/$(basename "$dir")/ as faas-cli lays it out" "-tags jwt,otel " || rc=1
	done
	return "$rc"
}

failed=""
for c in $checks; do
	if ! "check_$c"; then
		failed="$failed $c"
		warn "check '$c' FAILED"
	fi
done

if [ -n "$failed" ]; then
	warn "failed checks:$failed"
	exit 1
fi
log "lint: all checks passed (${checks# })"
