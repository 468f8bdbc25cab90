#!/bin/sh
# Runs every test of the repository: what .ci/run calls and the README names.
set -eu

usage() {
	cat <<USAGE
usage: scripts/test.sh [--unit]

Runs, in order, and stops at the first failure:
  1. lint: shellcheck, actionlint, gofmt, go vet, govulncheck (scripts/lint.sh)
  2. template copies in sync with watchdog/ and common/ (scripts/sync-templates.sh --check)
  3. unit tests with the race detector: watchdog/, tests/ (store, harness),
     then a soak smoke run (scripts/soak.sh -n 5000)
  4. each template as faas-cli lays it out: go vet (also with -tags jwt),
     its function's tests, a static build
  5. end to end (skipped with --unit): installs buildah, podman, runc and
     busybox-static with apt when missing (needs root), builds each template's
     Dockerfile unchanged with buildah, runs the images with podman, probes them;
     then a benchmark smoke run (scripts/bench.sh --smoke) and the demo
     (scripts/demo.sh) natively and in containers
  --unit   stop after step 4 (no root, no containers)
USAGE
}

unit_only=false
case "${1:-}" in
"") ;;
--unit) unit_only=true ;;
-h | --help)
	usage
	exit 0
	;;
*)
	echo "test.sh: unknown argument '$1' (accepted: --unit, -h)" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=0
# step announces the next step; set -e stops the script at a failing one, so
# reaching the end means every announced step passed.
step() {
	steps=$((steps + 1))
	printf '\n=== %s\n' "$*"
}

step "lint"
sh scripts/lint.sh

step "template copies in sync"
sh scripts/sync-templates.sh --check

step "unit tests (race detector)"
(cd watchdog && go test -race -count=1 ./...)
# Allocation counts per call, which the race detector changes.
(cd watchdog && go test -count=1 -run '^TestChainAllocations$' .)
(cd tests && go test -race -count=1 ./...)
sh scripts/soak.sh -n 5000

step "templates as faas-cli lays them out"
for dir in template/*/; do
	lang=$(basename "$dir")
	ctx=$(mktemp -d)
	cp -R "$dir." "$ctx/"
	echo "--- $lang"
	(cd "$ctx" && go vet ./... && go vet -tags jwt ./... && cd function && go test -count=1 ./...)
	(cd "$ctx" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o handler .)
	rm -rf "$ctx"
done

if $unit_only; then
	printf '\nsteps: %d passed, 0 failed\n' "$steps"
	exit 0
fi

step "end to end (buildah + podman)"
(cd tests && E2E=1 go test -count=1 -timeout 60m -v ./e2e/)

step "benchmark smoke run (every figure produced; nothing asserted about speed)"
sh scripts/bench.sh --smoke

step "the README's demo, both ways"
sh scripts/demo.sh --native --port 18080
sh scripts/demo.sh --containers --port 18080

printf '\nsteps: %d passed, 0 failed\n' "$steps"
