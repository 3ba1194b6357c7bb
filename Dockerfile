# portico in a container: one static binary on an empty image, run as a
# user that owns nothing, serving /srv/www on port 8080.
#
#   docker build -t portico .
#   docker run --rm -p 127.0.0.1:8080:8080 -v "$PWD/site:/srv/www:ro" portico
#   docker run --rm -p 8080:8080 -v "$PWD/dist:/srv/www:ro" portico --spa /srv/www
#
# The sandboxed server (the HTTP code in wasmtime) is the `portico-wasi`
# target, the same way:
#
#   docker build --target portico-wasi -t portico-wasi .
#
# Arguments after the image name replace the root (`/srv/www`); the
# listening address is fixed by the entrypoint (0.0.0.0:8080: publish it
# with -p). Files must be readable by uid 65532 (world-readable is enough).

# ---- build: static binaries for x86_64-unknown-linux-musl ----
# The image pins the toolchain (.dockerignore leaves out
# rust-toolchain.toml, whose `stable` would make rustup fetch another).
FROM rust:1.95-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# No debug info in the image: 2.8 MB instead of 12 MB (symbols are kept).
ENV CARGO_PROFILE_RELEASE_DEBUG=false
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p portico \
    && mkdir /out \
    && cp target/x86_64-unknown-linux-musl/release/portico /out/

# ---- build portico-wasi too (only for `--target portico-wasi`) ----
# wasmtime compiles a little C, so musl's gcc wrapper is needed; the
# guest module is built for wasm32-wasip1 by host-wasi/build.rs.
FROM build AS build-wasi
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-wasip1
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p portico-wasi \
    && cp target/x86_64-unknown-linux-musl/release/portico-wasi /out/ \
    && mkdir -m 0700 /out/cache

# ---- portico-wasi: the sandboxed server ----
FROM scratch AS portico-wasi
COPY --from=build-wasi /out/portico-wasi /portico-wasi
COPY static/ /srv/www/
# Where the guest compiled to machine code is kept between starts (a
# directory only its user can write; without it each start compiles).
COPY --from=build-wasi --chown=65532:65532 /out/cache /cache
ENV XDG_CACHE_HOME=/cache
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/portico-wasi", "--bind", "0.0.0.0", "--port", "8080"]
CMD ["/srv/www"]

# ---- portico: the default target ----
FROM scratch AS portico
LABEL org.opencontainers.image.title="portico" \
      org.opencontainers.image.description="A static-file HTTP/1.1 server" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/portico /portico
# The repository's demo site, so the image shows something by itself;
# mount your own over it.
COPY static/ /srv/www/
# Numeric: there is no /etc/passwd in an empty image. 65532 is distroless'
# `nonroot`.
USER 65532:65532
EXPOSE 8080
# SIGTERM (`docker stop`) finishes the responses in flight, then exits.
ENTRYPOINT ["/portico", "--bind", "0.0.0.0", "--port", "8080"]
CMD ["/srv/www"]
