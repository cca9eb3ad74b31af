# syntax=docker/dockerfile:1
# The loglens image (linux/amd64): build in the Rust image, run in a slim Debian with
# only CA certificates (for Slack, Loki over TLS) and the golden dataset (for the
# nightly eval CronJob).
#
#   docker buildx build --platform linux/amd64 -t ghcr.io/homelab/loglens:0.1.0 .
#
# scripts/check-k8s.sh parses this file in CI; building it needs a Docker engine.

FROM --platform=linux/amd64 rust:1.95-bookworm AS build
WORKDIR /src
# The registry and target folders are BuildKit cache mounts: a rebuild after a source
# change reuses the compiled dependencies.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin loglens \
 && cp target/release/loglens /usr/local/bin/loglens

FROM --platform=linux/amd64 debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /app --no-create-home loglens \
 && mkdir -p /app/.loglens && chown 10001:10001 /app/.loglens
WORKDIR /app
COPY --from=build /usr/local/bin/loglens /usr/local/bin/loglens
COPY golden/ /app/golden/
COPY examples/ /app/examples/
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/loglens"]
CMD ["serve", "--listen", "0.0.0.0:3000"]
