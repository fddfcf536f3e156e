# Builds the socialpipe binary; used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p socialpipe --bin socialpipe

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/socialpipe /usr/local/bin/socialpipe
WORKDIR /app
ENTRYPOINT ["socialpipe"]
