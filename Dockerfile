# Encore container image: encore-server + encore-train and a demo model.
#
#   docker build -t encore .
#   docker run -p 8080:8080 encore            # serves the baked-in demo model at once
#   curl -H 'Content-Type: application/json' -d '{"user":"1","k":5}' \
#        localhost:8080/v1/models/demo:recommend
#
# Three stages (docs/deploy.md):
#   build   compiles both programs with cmake and trains the demo model
#           (encore-train demo-data + als) into /out/models.
#   debug   debian:bookworm-slim with only the RUNTIME packages installed, the
#           binaries in /usr/bin and the demo model: proves the runtime packages
#           are enough (it runs both programs once), and is a shell-bearing image
#           for debugging (docker build --target debug).
#   final   FROM scratch: the two binaries, exactly the shared libraries they
#           load (from the debug stage's Debian packages, found with ldd), the
#           demo model, nothing else - no shell, no package manager. This is
#           what keeps the image under 100 MB: a bookworm-slim runtime stage is
#           ~77 MB before OpenBLAS (36 MB) and LAPACK (7 MB) are added.
#
# Metadata: OCI labels (org.opencontainers.image.*) on the final image, and a
# package manifest scanners read (Trivy, Grype, Syft): /var/lib/dpkg/status.d/
# holds the Debian status entry of every package a copied library came from
# (the layout distroless images use), /etc/os-release names the release, and
# /usr/share/doc/encore/packages.txt lists them as "package version".
#
# Runtime contract: numeric non-root user 65532, works with a read-only root
# filesystem (the server writes nothing; mount /models read-write only for a
# trainer), listens on 8080, HEALTHCHECK via `encore-server --check-health`
# (no curl), PID 1 is the server itself and handles SIGTERM (readyz 503, drain,
# finish in-flight requests, exit 0). /models may be replaced by a volume.

# ---------------------------------------------------------------- build
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc g++ libc6-dev make cmake pkg-config libhnswlib-dev \
      libmicrohttpd-dev libjansson-dev libuv1-dev libgnutls28-dev nettle-dev zlib1g-dev libpng-dev \
      libopenblas-dev liblapacke-dev liblmdb-dev libhiredis-dev libcurl4-gnutls-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY models models
COPY server server
COPY storage storage
COPY trainer trainer
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
 && cmake --build /build -j"$(nproc)" --target encore-server encore-train \
 && install -D -s /build/encore-server /out/usr/bin/encore-server \
 && install -D -s /build/encore-train /out/usr/bin/encore-train
# The demo model: a small synthetic data set embedded in encore-train.
RUN /out/usr/bin/encore-train demo-data --dir /tmp/demo \
 && /out/usr/bin/encore-train als --interactions /tmp/demo/interactions.tsv \
      --items /tmp/demo/items.csv --out /out/models/demo --threads 1 --seed 1 >/dev/null

# ---------------------------------------------------------------- debug / runtime libraries
FROM debian:bookworm-slim AS debug
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libuv1 libopenblas0-pthread liblapacke \
      libgnutls30 libnettle8 zlib1g libpng16-16 liblmdb0 libhiredis0.14 libcurl3-gnutls ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/bin/ /usr/bin/
COPY --from=build --chown=65532:65532 /out/models /models
# Fail the build here if a runtime library is missing.
RUN encore-server --help >/dev/null && encore-train --help >/dev/null \
 && install -d -o 65532 -g 65532 /data
# Gather the final root filesystem: binaries, every library ldd resolves (by
# its real content, under its soname, with /lib paths moved under /usr as in
# Debian's merged /usr), a world-writable /tmp and the models.
RUN set -eu; R=/rootfs; \
    mkdir -p $R/usr/bin $R/tmp $R/etc; chmod 1777 $R/tmp; \
    cp /usr/bin/encore-server /usr/bin/encore-train $R/usr/bin/; \
    ldd /usr/bin/encore-server /usr/bin/encore-train \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' \
      | sort -u | while read -r lib; do \
          dir=$(dirname "$lib"); case "$dir" in /lib*) dir=/usr$dir ;; esac; \
          mkdir -p "$R$dir"; cp -L "$lib" "$R$dir/$(basename "$lib")"; \
        done; \
    ln -s usr/lib $R/lib; [ ! -d $R/usr/lib64 ] || ln -s usr/lib64 $R/lib64; \
    mkdir -p $R/etc/ssl/certs $R/var/lib/dpkg/status.d $R/usr/share/doc/encore $R/usr/lib; \
    cp /etc/ssl/certs/ca-certificates.crt $R/etc/ssl/certs/; \
    cp /usr/lib/os-release $R/usr/lib/os-release; ln -s ../usr/lib/os-release $R/etc/os-release; \
    { ldd /usr/bin/encore-server /usr/bin/encore-train \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }'; \
      true; } \
      | { while read -r f; do dpkg -S "$(readlink -f "$f")" 2>/dev/null || dpkg -S "$f" 2>/dev/null || true; done; \
      echo "ca-certificates: (the bundle is generated, owned by no file entry)"; } \
      | cut -d: -f1 | sort -u | while read -r p; do \
          dpkg-query -s "$p" > "$R/var/lib/dpkg/status.d/$p"; \
          dpkg-query -W -f='${Package} ${Version}\n' "$p" >> $R/usr/share/doc/encore/packages.txt; \
        done; \
    test -s $R/usr/share/doc/encore/packages.txt; \
    printf 'root:x:0:0:root:/:/sbin/nologin\nencore:x:65532:65532:encore:/models:/sbin/nologin\n' > $R/etc/passwd; \
    printf 'root:x:0:\nencore:x:65532:\n' > $R/etc/group
USER 65532:65532
ENV ENCORE_MODELS=/models ENCORE_HOST=0.0.0.0 ENCORE_PORT=8080 OPENBLAS_NUM_THREADS=1
EXPOSE 8080
CMD ["encore-server"]

# ---------------------------------------------------------------- final
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="encore" \
      org.opencontainers.image.description="Encore: recommendation and classification models served over HTTP (encore-server) and trained offline (encore-train)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="scratch (runtime libraries from debian:bookworm-slim)" \
      org.opencontainers.image.documentation="docs/deploy.md"
COPY --from=debug /rootfs/ /
COPY --from=debug --chown=65532:65532 /models /models
# An empty /data owned by the user, so a named volume mounted there (compose's
# training data) starts writable by it.
COPY --from=debug --chown=65532:65532 /data /data
USER 65532:65532
WORKDIR /models
# One BLAS thread per request: the server parallelises across requests.
# The event store is off: its default (./events, an LMDB directory) cannot be
# created on the read-only root filesystem the image runs with; give it a
# volume (ENCORE_EVENTS=/data/events) or redis://... to turn it on.
ENV ENCORE_MODELS=/models ENCORE_HOST=0.0.0.0 ENCORE_PORT=8080 OPENBLAS_NUM_THREADS=1 \
    PATH=/usr/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt ENCORE_EVENTS=off
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
  CMD ["/usr/bin/encore-server", "--check-health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/encore-server"]
