#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with network to Debian's archive), before bench/gpu_check.sh runs on
# the GPU machine: that machine reaches no package registry and its image lacks rflow's header
# libraries, so their Debian packages travel in .devdeps/ (ignored by git; name it in `carry`).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >>.git/info/exclude
mkdir -p .devdeps
cd .devdeps
apt-get download libeigen3-dev nlohmann-json3-dev doctest-dev libcli11-dev zlib1g-dev zlib1g >/dev/null
ls -1 *.deb
