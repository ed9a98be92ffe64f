#!/usr/bin/env bash
# oneDNN for the native CPU engine of @resnet-ts/backend-node (optional for users; CI tests it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
apt_ensure libdnnl-dev
