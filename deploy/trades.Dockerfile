# syntax=docker/dockerfile:1.4
# trades: two-stage image.  Build context = the repository root:
#
#   docker build -f deploy/trades.Dockerfile -t trades:dev .
#   podman build --format docker --ignorefile deploy/trades.Dockerfile.dockerignore \
#       --build-arg BASE=localhost/debian:bookworm-slim -f deploy/trades.Dockerfile -t trades:dev .
#
# (BuildKit picks up deploy/trades.Dockerfile.dockerignore by itself; podman needs --ignorefile.
#  podman needs --format docker to keep HEALTHCHECK: the OCI image format has no such field.)
#
# BASE: any Debian 12 image.  Where no registry is reachable, build one with debootstrap
# (tests/image/test_image.sh does) and pass --build-arg BASE=localhost/debian:bookworm-slim.
ARG BASE=debian:bookworm-slim

############################################################################ build
FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# Keep downloaded .debs in the cache mount (the official image's docker-clean hook deletes them).
RUN rm -f /etc/apt/apt.conf.d/docker-clean \
 && echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
# Build dependencies.  DPDK/BPF/Kafka/Kraken are requested as `enabled` below, so their -dev
# packages and the BPF toolchain (clang, llvm, bpftool) are here; a missing one fails the build.
# librdkafka (Kafka sink) and OpenSSL + libcurl + libwslay (Kraken WebSocket/REST) are what the
# drop-in for the Python service runs (README "Migrating from the Python service").
RUN --mount=type=cache,id=trades-apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=trades-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc libc6-dev meson ninja-build pkg-config file \
      liburing-dev libjemalloc-dev libpcap-dev libmicrohttpd-dev \
      libbpf-dev libelf-dev zlib1g-dev bpftool clang llvm \
      libdpdk-dev systemtap-sdt-dev \
      librdkafka-dev libssl-dev libcurl4-openssl-dev libwslay-dev

WORKDIR /src
COPY . /src
# Release build with every feature required; installed under /app into /staging.  Tests are not
# run here (they run in CI against the host build).
RUN meson setup /build /src --prefix=/app --buildtype=release \
      -Ddpdk=enabled -Dbpf=enabled -Djemalloc=enabled -Dhttp=enabled \
      -Dkafka=enabled -Dkraken=enabled \
 && meson compile -C /build \
 && meson install -C /build --destdir /staging --no-rebuild \
 && ls -l /staging/app/bin
# Runtime packages = the packages owning the shared libraries the installed binaries load
# (ldd), plus the DPDK poll-mode drivers named in DPDK_PMDS when the binaries link DPDK (PMDs are
# dlopen()ed from the PMD dir, so ldd cannot see them), plus ca-certificates when they link
# OpenSSL: TLS to wss://ws.kraken.com and https://api.kraken.com verifies against the system
# store, which no library pulls in.  One package per line.
ARG DPDK_PMDS="net_pcap net_af_packet net_af_xdp net_ring net_null mempool_ring"
RUN set -eu; \
    files=$(find /staging/app -type f -perm -u+x); \
    for f in $files; do \
      if ldd "$f" 2>&1 | grep -q 'not found'; then ldd "$f"; echo "unresolved library in $f" >&2; exit 1; fi; \
    done; \
    libs=$(for f in $files; do ldd "$f" 2>/dev/null || true; done | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); \
    if echo "$libs" | grep -q librte_; then \
      for p in $DPDK_PMDS; do libs="$libs $(ls /usr/lib/*/dpdk/pmds-*/librte_$p.so.* | head -n1)"; done; \
    fi; \
    : > /staging/runtime-packages.txt; \
    for l in $libs; do \
      owner=; \
      for c in "$l" "$(readlink -f "$l")" "/usr$l" "${l#/usr}"; do \
        owner=$(dpkg -S "$c" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$owner" ] && break; \
      done; \
      [ -n "$owner" ] || { echo "no package owns $l" >&2; exit 1; }; \
      echo "$owner" >> /staging/runtime-packages.txt; \
      echo "$l -> $owner"; \
    done; \
    if echo "$libs" | grep -q 'libssl\.so'; then echo ca-certificates >> /staging/runtime-packages.txt; fi; \
    sort -u -o /staging/runtime-packages.txt /staging/runtime-packages.txt; \
    echo "runtime packages:"; cat /staging/runtime-packages.txt

############################################################################ runtime
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
# Exactly the runtime packages computed in the build stage (kept in the image as a record; a COPY,
# so a changed list invalidates the layer cache below); no docs, man pages or apt lists kept.
COPY --from=build /staging/runtime-packages.txt /app/share/trades/runtime-packages.txt
# The apt caches are mounts of their own: with the build stage's cache ids (sharing=locked) this
# RUN hung under podman 4.3 / buildah 1.28, the build stage's locks apparently still held.  docker-clean
# is set aside meanwhile so it does not empty the cache, and put back.
RUN --mount=type=cache,id=trades-apt-cache-rt,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=trades-apt-lists-rt,target=/var/lib/apt/lists,sharing=locked \
    set -eux; \
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
      'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
      'path-exclude /usr/share/lintian/*' > /etc/dpkg/dpkg.cfg.d/trades-slim; \
    clean=/etc/apt/apt.conf.d/docker-clean; \
    if [ -f "$clean" ]; then mv "$clean" /etc/apt/docker-clean.off; fi; \
    apt-get update; \
    xargs -a /app/share/trades/runtime-packages.txt apt-get install -y --no-install-recommends; \
    if [ -f /etc/apt/docker-clean.off ]; then mv /etc/apt/docker-clean.off "$clean"; fi; \
    rm -rf /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app; \
    mkdir -p /app/state; chown app:app /app/state; chmod 0750 /app/state

COPY --from=build /staging/app/ /app/

# Labels last, so a new version/revision does not invalidate the cached package layer above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/trades
LABEL org.opencontainers.image.title="trades" \
      org.opencontainers.image.description="Low-latency market-data trades service: TCP/UDP JSON-lines ingest (io_uring, epoll fallback), journaled per-instrument state, Kraken WebSocket/REST to Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TRADES_STATE_DIR=/app/state \
    TRADES_TCP=0.0.0.0:7001 \
    TRADES_UDP=0.0.0.0:7002
WORKDIR /app
VOLUME /app/state
EXPOSE 7001/tcp 7002/udp
USER app
# SIGTERM (the default stop signal): drain, sync, mark clean, exit 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["trades", "health", "--state-dir", "/app/state"]
CMD ["trades", "serve"]
