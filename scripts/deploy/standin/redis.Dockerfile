# Stand-in for redis:7.2-bookworm: Debian bookworm's redis-server (7.0) and redis-cli.
ARG BASE
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
LABEL org.whose-song.standin=1 \
      org.whose-song.standin.of="redis:7.2-bookworm stand-in: Debian bookworm redis-server 7.0"
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--dir", "/var/lib/redis"]
