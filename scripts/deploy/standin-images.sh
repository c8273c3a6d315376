#!/usr/bin/env bash
# Stand-ins for the base images the Dockerfile and docker-compose.yml name
# (apache/airflow, postgres, redis), built from Debian's packages with
# debootstrap + `docker import`, for machines that cannot reach Docker Hub.
# Each carries the label org.whose-song.standin=1; an image already built in
# this engine's data root is reused. Test-only: never pushed, never a base of
# anything but `make test-deploy`.
#
# Usage: DOCKER_HOST=unix:///... scripts/deploy/standin-images.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
DOCKER="${DOCKER:-docker}"
BASE=whose-song-standin/debian:bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

is_standin() { [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "org.whose-song.standin"}}' "$1" 2>/dev/null)" = 1 ]; }

if ! is_standin "$BASE"; then
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/standin-rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  echo "standin: debootstrap bookworm (minbase) into $rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'LABEL org.whose-song.standin=1' \
    --change 'LABEL org.whose-song.standin.of="Debian bookworm (debootstrap minbase)"' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# The tags, read where they are used; apt-get runs on the host's network at build time.
root="$here/../.."
airflow_tag="$(awk '/^FROM /{print $2; exit}' "$root/Dockerfile")"
compose_image() { sed -n "s/^ *image: *\($1:[^ ]*\) *$/\1/p" "$root/docker-compose.yml" | head -1; }
while read -r tag dockerfile; do
  if is_standin "$tag"; then echo "standin: $tag (reused)"; continue; fi
  echo "standin: building $tag from $dockerfile"
  DOCKER_BUILDKIT=1 "$DOCKER" build -q --network host --build-arg "BASE=$BASE" \
    -t "$tag" -f "$here/standin/$dockerfile" "$here/standin" >/dev/null
done <<LIST
$(compose_image postgres) postgres.Dockerfile
$(compose_image redis) redis.Dockerfile
$airflow_tag airflow.Dockerfile
LIST
