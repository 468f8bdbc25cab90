#!/bin/sh
# Runs every test of the repository: what .ci/run calls and the README names.
set -eu

usage() {
	cat <<USAGE
usage: scripts/test.sh [--unit]

Runs, under the SDK's own module proxy (scripts/sdk.sh run), in order, and
stops at the first failure:
  1. lint: shellcheck, actionlint, gofmt, go vet, govulncheck (scripts/lint.sh)
  2. the templates' shared files match common/ (scripts/sync-templates.sh
     --check), and their SDK pins match watchdog/ (scripts/sdk.sh check)
  3. unit tests with the race detector: watchdog/, scripts/ and tests/ (among
     them tests/layout: each template as "faas-cli new" and "faas-cli build"
     lay it out, with go test, go vet and go mod tidy, and the edits of an
     author's first hour; tests/readme: the commands of the README,
     CONTRIBUTING.md and docs/; scripts/localstack: a stack.yaml run
     natively end to end; and
     tests/instructions: instructions per call under callgrind), then a soak
     smoke run (scripts/soak.sh -n 5000); installs promtool (prometheus) and
     valgrind with apt when missing
  4. end to end (skipped with --unit): installs buildah, podman, runc,
     busybox-static, docker.io and docker-registry with apt when missing
     (needs root), builds each template's Dockerfile unchanged with buildah
     and runs the images with podman, then with a Docker Engine of its own
     (scripts/ci/docker-engine.sh): docker build with BuildKit, docker buildx
     (scripts/ci/install-buildx.sh builds it and buildkitd from the module
     proxy), a linux/amd64+linux/arm64 publish to a local registry, docker
     run; probes them;
     then a benchmark smoke run (scripts/bench.sh --smoke) and the demo
     (scripts/demo.sh) natively and in containers
  --unit   stop after step 3 (no containers)
USAGE
}

prog='test'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

help_if_asked "${1:-}"
unit_only=false
case "${1:-}" in
"") ;;
--unit) unit_only=true ;;
*) die_usage "unknown argument '$1' (accepted: --unit, -h)" ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Builds fetch the SDK module from the repository's own proxy, placed first
# on GOPROXY, as a user behind a corporate module proxy builds.
[ -n "${INPROC_SDK_PROXY:-}" ] || exec sh scripts/sdk.sh run -- sh scripts/test.sh "$@"
steps=0
# step announces the next step; set -e stops the script at a failing one, so
# reaching the end means every announced step passed.
step() {
	steps=$((steps + 1))
	printf '\n=== %s\n' "$*"
}

step "lint"
sh scripts/lint.sh

step "templates: shared files and SDK pins"
sh scripts/sync-templates.sh --check
sh scripts/sdk.sh check

step "unit tests (race detector)"
# promtool (Debian's prometheus package) lints a real scrape of :8081;
# valgrind counts the chain's instructions per call (tests/instructions).
command -v promtool >/dev/null 2>&1 || sh scripts/ci/install-tools.sh prometheus
command -v valgrind >/dev/null 2>&1 || sh scripts/ci/install-tools.sh valgrind
(cd watchdog && go test -race -count=1 ./...)
# Allocation counts per call, which the race detector changes.
(cd watchdog && go test -count=1 -run '^TestChainAllocations$' .)
(cd scripts && go test -race -count=1 ./...)
(cd tests && go test -race -count=1 -timeout 30m ./...)
sh scripts/soak.sh -n 5000

if $unit_only; then
	printf '\nsteps: %d passed, 0 failed\n' "$steps"
	exit 0
fi

step "end to end (buildah + podman, and Docker Engine)"
sh scripts/ci/install-tools.sh
# A Docker Engine of the run's own, stopped by its pid when the run ends.
docker_dir=$(mktemp -d)
trap 'sh scripts/ci/docker-engine.sh stop "$docker_dir" || true; rm -rf "$docker_dir"' EXIT
engine_env=$(sh scripts/ci/docker-engine.sh start "$docker_dir")
eval "$engine_env"
export DOCKER_HOST DOCKER_BRIDGE_IP
# docker buildx and buildkitd (multi-arch builds), from the module proxy.
buildx_env=$(sh scripts/ci/install-buildx.sh)
eval "$buildx_env"
export INPROC_BUILDX INPROC_BUILDKITD
(cd tests && E2E=1 go test -count=1 -timeout 60m -v ./e2e/)

step "benchmark smoke run (every figure produced; nothing asserted about speed)"
sh scripts/bench.sh --smoke

step "the README's demo, both ways"
sh scripts/demo.sh --native --port 18080
sh scripts/demo.sh --containers --port 18080

printf '\nsteps: %d passed, 0 failed\n' "$steps"
