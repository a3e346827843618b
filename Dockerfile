# syntax=docker/dockerfile:1
#
# Tributary container image. Build from the repository root:
#
#   docker build -t tributary:dev --build-arg VERSION=$(git describe --always) .
#
# The builder runs `make build` (which runs `make web` first, so the
# front-end assets the binary embeds are built with Node), statically
# (CGO_ENABLED=0). The final image is distroless/static: CA certificates,
# tzdata and /etc/passwd, no shell. It runs as the non-root user 65532 and
# works with a read-only root filesystem: the only writable places it needs
# are the data directory (/var/lib/tributary, a volume) and /tmp (mount a
# tmpfs or emptyDir there). See docs/deploy.md.

ARG GO_VERSION=1.26.8
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS node

FROM golang:${GO_VERSION}-bookworm AS build
# Node and npm for `make web`, copied from the official Node image.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# The probe is the HEALTHCHECK (the final image has no curl); its own
# module has no dependencies.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/root/.npm \
    GOFLAGS="-trimpath -buildvcs=false -ldflags=-X=github.com/tributary-dev/tributary/internal/app.Version=${VERSION}" \
      make build \
 && cd deploy/probe && CGO_ENABLED=0 go build -trimpath -o /src/bin/probe . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/tributary /usr/local/bin/tributary
COPY --from=build /src/bin/probe /usr/local/bin/probe
COPY --from=build --chown=65532:65532 /out/data /var/lib/tributary
USER 65532:65532
ENV TRIBUTARY_ADDR=0.0.0.0:8080 \
    TRIBUTARY_DATA_DIR=/var/lib/tributary \
    TRIBUTARY_LOG_FORMAT=json
VOLUME ["/var/lib/tributary"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/probe", "/readyz"]
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["serve"]
