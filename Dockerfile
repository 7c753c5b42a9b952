# syntax=docker/dockerfile:1
#
# One image, one binary: `baton serve <service...>` picks what a container runs.
#
#   docker build -t baton:0.1.0 .
#   docker run --rm -p 50051-50054:50051-50054 -p 9464:9464 baton:0.1.0            # serve all
#   docker run --rm -p 50053:50053 baton:0.1.0 serve routing
#
# Needs BuildKit (the default builder of current Docker) for the cache mounts below.

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# No incremental artefacts in a release build; plain output in CI logs.
ENV CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never

WORKDIR /src

# Layer order, least to most often changed. The protos are compiled in-process (protox), so no
# system protoc is needed. The workspace needs every member's manifest to resolve, which is why
# the whole of crates/, services/ and tests/ is copied rather than manifests first.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY crates crates
COPY services services
COPY tests tests

# The cache mounts keep the crates.io downloads and the compiled dependencies between builds,
# independently of the layer cache: after a source edit only the workspace crates recompile.
# The binary is copied out of the mounted target/ because a cache mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p baton \
 && install -D -m 0755 target/release/baton /out/baton \
 && install -d /out/var/lib/baton

# ---------------------------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------------------------
# distroless/cc: glibc, libgcc, CA certificates and tzdata, and nothing else: no shell, no
# package manager, so there is nothing in the image to exploit besides baton itself. Its
# Debian 12 base matches the bookworm builder, so the glibc the binary was linked against is
# the one it runs with. The :nonroot tag already runs as uid 65532; USER below says so
# explicitly so that Kubernetes' runAsNonRoot can verify a numeric uid.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="baton" \
      org.opencontainers.image.description="customer context and routing gRPC services" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/baton-mesh/baton"

COPY --from=builder /out/baton /baton
# The embedded store's directory, owned by the runtime user so that `docker run` works without a
# volume. On Kubernetes a volume is mounted here (the root filesystem is read-only there).
COPY --from=builder --chown=65532:65532 /out/var/lib/baton /var/lib/baton

# A container is reached from outside itself, so listen on all interfaces (the binary defaults
# to 127.0.0.1, which is right on a laptop and useless in a container).
ENV BATON_HOST=0.0.0.0 \
    BATON_DATA_DIR=/var/lib/baton

# gRPC: identity, context, routing, recommendation; then Prometheus metrics.
EXPOSE 50051 50052 50053 50054 9464

USER 65532:65532

# No HEALTHCHECK: there is no shell or probe binary in the image; Kubernetes probes the gRPC
# health service natively, and `grpcurl` or `grpc_health_probe` do so from outside.
#checkov:skip=CKV_DOCKER_2:health is the gRPC health service, probed natively by Kubernetes
ENTRYPOINT ["/baton"]
CMD ["serve", "all"]
