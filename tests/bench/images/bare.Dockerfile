# The benchmark's physical limit: cmd/echo, plain net/http, alone in a
# scratch image. Built like the templates' binaries: same builder image,
# CGO off, -trimpath -ldflags "-s -w".
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
ENV CGO_ENABLED=0
WORKDIR /go/src/bench
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /rootfs/home/app/handler ./echo

FROM scratch
COPY --from=build /rootfs/ /
USER 12000:12000
WORKDIR /home/app
EXPOSE 8080
CMD ["/home/app/handler"]
