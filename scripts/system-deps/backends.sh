#!/usr/bin/env bash
# System packages the backend conformance suites need (issue #3), installed only when missing:
#  - chromium: headless Chromium for packages/backend-web/test/chromium.test.ts (WebGPU via SwiftShader)
#  - mesa-vulkan-drivers >= 25 from bookworm-backports: lavapipe, the CPU Vulkan driver Dawn (the
#    `webgpu` npm package) needs for the webgpu engine in Node. Bookworm's Mesa 22 gives a null adapter.
# Idempotent: safe to run again; does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/'; }

updated=0
apt_update() { if [ "$updated" = 0 ]; then $SUDO apt-get update -qq; updated=1; fi; }

# 1. bookworm-backports apt source (deb822 or one-line format), added only if absent.
if . /etc/os-release && [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "system-deps/backends: adding the bookworm-backports apt source"
    $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    updated=0
  fi
fi

# 2. Chromium.
if [ ! -x /usr/bin/chromium ]; then
  echo "system-deps/backends: installing chromium"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation
fi

# 3. Mesa >= 25 Vulkan drivers (lavapipe).
major="$(mesa_major || true)"
if [ -z "$major" ] || [ "$major" -lt 25 ]; then
  echo "system-deps/backends: installing mesa-vulkan-drivers from bookworm-backports (found: ${major:-none})"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
fi

echo "system-deps/backends: chromium $(/usr/bin/chromium --version 2>/dev/null | head -1 || echo missing);" \
  "mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo missing)"
