#!/bin/sh
# Copies the files every template shares from common/ into each template
# folder, since faas-cli copies only template/<lang>/ into a build context.
# The SDK is not copied: templates require it by version (scripts/sdk.sh).
set -eu

usage() {
	cat <<USAGE
usage: scripts/sync-templates.sh [--check]

Copies common/* (Dockerfile, go.work, options.go, options_jwt.go,
options_otel.go, .gitignore) into every template/<lang>/ folder.
  --check   change nothing; exit 1 naming each file that differs
USAGE
}

prog='sync-templates'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

help_if_asked "${1:-}"
check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*) die_usage "unknown argument '$1' (accepted: --check, -h)" ;;
esac
[ $# -le 1 ] || die_usage "too many arguments (accepted: --check, -h)"

cd "$(dirname "$0")/.."
status=0
for dir in template/*/; do
	dir=${dir%/}
	for src in common/* common/.[!.]*; do
		[ -f "$src" ] || continue
		dest="$dir/${src#common/}"
		if $check; then
			cmp -s "$src" "$dest" || {
				echo "drift: $dest differs from $src" >&2
				status=1
			}
		else
			cp "$src" "$dest"
		fi
	done
	$check || echo "synced $dir"
done
if [ $status -ne 0 ]; then
	echo "run scripts/sync-templates.sh to copy common/ into the templates again" >&2
fi
exit $status
