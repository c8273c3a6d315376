#!/usr/bin/env bash
# Make sure the PostgreSQL server programs exist (the embedded default and the
# tests need initdb and pg_ctl). As root on Debian/Ubuntu we install them;
# otherwise we say exactly what to install.
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if have_server; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server not found: installing it with apt-get (postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  have_server && exit 0
fi
echo "error: PostgreSQL server programs (initdb, pg_ctl) not found; install them" \
     "(Debian/Ubuntu: sudo apt-get install -y postgresql; macOS: brew install postgresql)" \
     "or set DATABASE_URL to an existing server" >&2
exit 1
