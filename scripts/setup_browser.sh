#!/usr/bin/env bash
# What the browser tests (tests/test_browser.py), `kr-electra-kd demo` and `benchmarks.edge` need on a fresh machine:
# Debian's Chromium and its driver (only when missing), and the web runtime pinned in web/package-lock.json, installed
# without install scripts (onnxruntime-node's would download from outside the npm registry; a browser never uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -q && $sudo apt-get install -y -q chromium chromium-driver
fi
installed=web/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ web/package-lock.json -nt "$installed" ]; then
    (cd web && npm ci --ignore-scripts --no-audit --no-fund)
fi
