#!/usr/bin/env bash
# Fashion-MNIST (training, evaluation and the lab's experiments read it from /usr/share/datasets).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
apt_ensure dataset-fashion-mnist
