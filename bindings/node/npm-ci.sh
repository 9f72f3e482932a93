#!/bin/bash
# Installs koffi into bindings/node/node_modules from package-lock.json
# (npm ci: exact versions, integrity checked), unless the installed tree
# already came from this lock file. No npm: says so and leaves the Node.js
# test to skip. --ignore-scripts: koffi's install script only looks for a
# prebuilt binary, which its per-platform optional package already holds.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "npm-ci.sh: no npm, the Node.js binding test will skip"; exit 0; }
stamp=node_modules/.bitttt-lock
cmp -s package-lock.json "$stamp" 2>/dev/null && exit 0
npm ci --ignore-scripts --no-audit --no-fund
cp package-lock.json "$stamp"
