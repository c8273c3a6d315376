# Stand-in for postgres:16: Debian bookworm has no PostgreSQL 16 (nor its
# backports), so this is PostgreSQL 15, labelled as such. The entrypoint does
# what the official image's does for our compose file: POSTGRES_USER/PASSWORD/DB,
# /docker-entrypoint-initdb.d on first start, pg_isready on PATH.
ARG BASE
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
LABEL org.whose-song.standin=1 \
      org.whose-song.standin.of="postgres:16 stand-in: Debian bookworm PostgreSQL 15"
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
