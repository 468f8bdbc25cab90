# The two-process baseline, a stand-in for the classic of-watchdog http mode:
# cmd/proxy (the watchdog) forks cmd/echo (the function) on 127.0.0.1:8082
# and forwards to it. Same builder, flags and image layout as the templates
# (CA certificates, non-root user, world-writable /tmp for the lock file).
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
ENV CGO_ENABLED=0
WORKDIR /go/src/bench
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /rootfs/home/app/handler ./echo \
    && go build -trimpath -ldflags "-s -w" -o /rootfs/home/app/fwatchdog ./proxy
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
    && chmod 1777 /rootfs/tmp \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
    && echo "app:x:12000:12000:app:/home/app:/sbin/nologin" > /rootfs/etc/passwd \
    && echo "app:x:12000:" > /rootfs/etc/group \
    && chmod -R a+rX /rootfs/home/app

FROM scratch
COPY --from=build /rootfs/ /
USER 12000:12000
WORKDIR /home/app
ENV fprocess="/home/app/handler -listen 127.0.0.1:8082" \
    upstream_url="http://127.0.0.1:8082"
EXPOSE 8080
CMD ["/home/app/fwatchdog"]
