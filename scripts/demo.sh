#!/bin/sh
# The main job, end to end: scaffold a function from each template (as
# "faas-cli new" does), build it, run it, invoke it, then stop it with
# SIGTERM and show the drain. Builds the real image when buildah and podman
# (or Docker) are there, else the same static binary natively with Go.
# The SDK module comes from the repository's own module proxy
# (scripts/sdk.sh), as it would from a company's module proxy.
set -eu

usage() {
	cat <<USAGE
usage: scripts/demo.sh [--native | --containers] [--port PORT] [--keep DIR]

For each template under template/: scaffold a function "demo-<lang>" in a
work folder, build it, run it on 127.0.0.1:PORT (default 8080; metrics on
8081), invoke it, print health, readiness and metrics, then SIGTERM it.
Builds get the SDK module from scripts/sdk.sh's proxy, first on GOPROXY.
Container builds use a local Go builder image made from this machine's Go,
passed as GO_IMAGE=localhost/inproc-go/golang:local (podman); with Docker
they use the template's default builder image.

  --native      build and run the static binary with Go (no containers)
  --containers  build the image from the template's Dockerfile with buildah
                (or docker) and run it with podman (or docker); as root on
                Debian, installs buildah/podman/runc with apt when missing
  --port PORT   host port for the function (default 8080)
  --keep DIR    scaffold into DIR and keep it (default: a temp dir, removed)
Without --native or --containers: containers when buildah+podman or docker
are available (or installable as root), else native.
Exit status: 0 when every function ran and drained, 1 when a step fails,
2 for bad arguments.
USAGE
}

prog='demo'
# shellcheck source=scripts/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

mode=auto
port=8080
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--native) mode=native ;;
	--containers) mode=containers ;;
	--port)
		need_arg "$@"
		port=$2
		shift
		;;
	--keep)
		need_arg "$@"
		keep=$2
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) die_usage "unknown argument '$1'; options: --native --containers --port PORT --keep DIR --help" ;;
	esac
	shift
done
case "$port" in
'' | *[!0-9]*) die_usage "--port '$port': want a number from 1 to 65535" ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then die_usage "--port '$port': want a number from 1 to 65535"; fi
[ "$port" -ne 8081 ] || die_usage "--port 8081 is the metrics port; pick another"

root=$(cd "$(dirname "$0")/.." && pwd)
command -v go >/dev/null 2>&1 || die "Go is needed (https://go.dev/dl/); none on PATH"
command -v curl >/dev/null 2>&1 || die "curl is needed to invoke the function"
[ -n "${INPROC_SDK_PROXY:-}" ] || exec sh "$root/scripts/sdk.sh" run -- sh "$root/scripts/demo.sh" "$@"
builder=localhost/inproc-go/golang:local

engine=""
pick_engine() {
	if command -v buildah >/dev/null 2>&1 && command -v podman >/dev/null 2>&1; then
		engine=podman
	elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
		engine=docker
	fi
}
pick_engine
if [ "$mode" = auto ]; then
	if [ -n "$engine" ]; then
		mode=containers
	elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		mode=containers
	else
		mode=native
	fi
fi
if [ "$mode" = containers ] && [ -z "$engine" ]; then
	# apt prints hundreds of lines: they go to a log, kept for reading.
	install_log=$(mktemp "${TMPDIR:-/tmp}/inproc-demo-install.XXXXXX")
	echo "installing buildah, podman, Docker Engine and a registry with apt (a minute or two); its output: $install_log"
	sh "$root/scripts/ci/install-tools.sh" >"$install_log" 2>&1 ||
		{ tail -n 40 "$install_log" >&2; die "installing the container tools failed (whole output: $install_log)"; }
	pick_engine
	[ -n "$engine" ] || die "no container engine: install buildah and podman, or Docker, or use --native"
fi

if [ -n "$keep" ]; then
	work=$keep
	mkdir -p "$work"
else
	work=$(mktemp -d)
fi
pid=""
name=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	if [ -n "$name" ]; then "$engine" rm -f "$name" >/dev/null 2>&1 || true; fi
	if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

url="http://127.0.0.1:$port"
wait_healthy() {
	i=0
	until curl -fsS "$url/_/health" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || die "the function did not become healthy within 10s"
		sleep 0.1
	done
}

# show prints a command as it can be pasted into a shell, then runs it.
show() {
	printf '\n$'
	for arg in "$@"; do
		case "$arg" in
		*[!A-Za-z0-9_./:=@%+-]* | '') printf " '%s'" "$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")" ;;
		*) printf ' %s' "$arg" ;;
		esac
	done
	printf '\n'
	"$@"
	echo
}

# shrinkwrap lays out $ctx as "faas-cli build --shrinkwrap" does: the
# template, with the function's folder over its function/.
shrinkwrap() {
	ctx="$work/build-$fn"
	rm -rf "$ctx"
	sh "$root/scripts/shrinkwrap.sh" "$dir" "$work/$fn" "$ctx"
}

for dir in "$root"/template/*/; do
	lang=$(basename "$dir")
	fn="demo-$lang"
	printf '\n=== %s: faas-cli new --lang %s %s\n' "$lang" "$lang" "$fn"
	rm -rf "${work:?}/$fn"
	cp -R "$dir/function" "$work/$fn"
	echo "$fn/ holds handler.go, its example test, go.mod and go.sum: a Go module of its own"

	if [ "$mode" = containers ]; then
		image="localhost/$fn:latest"
		name="$fn-$$"
		echo "--- build (the template's Dockerfile, unchanged) with $engine"
		if [ "$engine" = podman ]; then
			echo "making the local builder image $builder from this machine's Go (once: about 20s)"
			sh "$root/scripts/ci/builder-image.sh" "$builder" >"$work/build.log" 2>&1 ||
				{ cat "$work/build.log" >&2; die "making the local builder image failed"; }
			echo "building $image (the first build downloads modules and compiles: up to a minute)"
			sh "$root/scripts/ci/build-function.sh" -l "$lang" -d "$work/$fn" -t "$image" -o "$work/build-$fn" \
				-b "GO_IMAGE=$builder" -b "GOPROXY=$GOPROXY" >"$work/build.log" 2>&1 ||
				{ tail -n 40 "$work/build.log" >&2; die "building $fn failed"; }
			podman --runtime runc run -d --name "$name" --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
				-p "127.0.0.1:$port:8080" -p 127.0.0.1:8081:8081 --read-only --tmpfs /tmp "$image" >/dev/null
		else
			shrinkwrap
			echo "building $image (the first build downloads modules and compiles: up to a minute)"
			# --network host: the SDK's proxy listens on this machine's loopback.
			docker build -q --network host --build-arg ADDITIONAL_PACKAGE= --build-arg "GOPROXY=$GOPROXY" \
				-t "$image" "$ctx" >"$work/build.log" 2>&1 ||
				{ tail -n 40 "$work/build.log" >&2; die "building $fn failed"; }
			docker run -d --name "$name" -p "127.0.0.1:$port:8080" -p 127.0.0.1:8081:8081 \
				--read-only --tmpfs /tmp "$image" >/dev/null
		fi
		"$engine" image inspect "$image" --format 'image: {{.Size}} bytes' 2>/dev/null || true
	else
		echo "--- build natively: the same static binary the image holds"
		echo "(the first build downloads modules and compiles: up to a minute)"
		shrinkwrap
		(cd "$ctx" && go work use)
		(cd "$ctx/function" && go test ./...)
		(cd "$ctx" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o handler .)
		ls -l "$ctx/handler"
		port=$port "$ctx/handler" &
		pid=$!
	fi

	wait_healthy
	show curl -sS -i -d "Hello from the demo" "$url/"
	show curl -sS "$url/_/health"
	show curl -sS -o /dev/null -w 'ready: %{http_code}\n' "$url/_/ready"
	printf '\n$ curl -sS 127.0.0.1:8081/metrics | grep ^http_requests\n'
	curl -sS 127.0.0.1:8081/metrics | grep '^http_requests' || true

	echo
	echo "--- SIGTERM: health turns 503, calls drain, exit 0"
	if [ "$mode" = containers ]; then
		"$engine" kill --signal TERM "$name" >/dev/null
		code=$("$engine" wait "$name")
		"$engine" logs "$name" 2>&1 | tail -n 4
		"$engine" rm -f "$name" >/dev/null
		name=""
	else
		kill -TERM "$pid"
		code=0
		wait "$pid" || code=$?
		pid=""
	fi
	echo "exit code: $code"
	[ "$code" = 0 ] || die "$fn exited $code after SIGTERM"
done

cat <<NEXT

=== What to try next
- With faas-cli:  faas-cli template pull https://github.com/inproc-go/templates
                  faas-cli new --lang golang-middleware-inproc my-fn
                  faas-cli up -f stack.yaml
  (until the SDK module is published, builds need its proxy: docs/sdk.md)
- In the function's folder, as in any Go module:
                  cd my-fn && go test ./... && go vet ./...
- Run your handler locally with the same watchdog:
                  scripts/local-run.sh -l golang-middleware-inproc -d ./my-fn
- Try the limits: max_inflight=1, exec_timeout=2s, log_format=json (README:
  Configuration), and log with watchdog.Logger(r.Context()) for call ids
  (docs/function-api.md).
- Run every test:  scripts/test.sh
NEXT
