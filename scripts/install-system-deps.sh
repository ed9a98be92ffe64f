#!/usr/bin/env bash
# Installs the Debian packages the project's tests and demos use (Fashion-MNIST, oneDNN, Chromium,
# Mesa for WebGPU on CPU). Each concern has its own script in scripts/system-deps/.
set -euo pipefail
cd "$(dirname "$0")"
for s in system-deps/*.sh; do
  [ "$(basename "$s")" = lib.sh ] && continue
  bash "$s"
done
