#!/usr/bin/env bash
# Runs the browser end-to-end tests of the web console: the console itself
# (console.test.mjs) and a new user's journey from invitation to sign-in
# (journey.test.mjs).
# Installs Chromium (Debian package) and the npm dependencies when missing.
# Environment: ROLLCALL_BIN (server binary), CHROMIUM (browser executable).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "Installing Chromium..." >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are needed (Node.js 20 or newer)" >&2
  exit 1
fi

# Install the npm dependencies unless the installed ones match the lock file.
if ! node -e '
  const lock = require("./package-lock.json").packages;
  const deps = Object.keys(require("./package.json").dependencies);
  const same = deps.every((d) => {
    try { return require(`./node_modules/${d}/package.json`).version === lock[`node_modules/${d}`].version; }
    catch { return false; }
  });
  process.exit(same ? 0 : 1);
' 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

mkdir -p screenshots
exec node --test console.test.mjs journey.test.mjs access.test.mjs import.test.mjs directory.test.mjs oidc.test.mjs webhooks.test.mjs provisioning.test.mjs compliance.test.mjs emergency.test.mjs reviews.test.mjs
