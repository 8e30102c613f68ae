#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser tests (tests/e2e) when either is missing.
# Playwright's own browser download does not work offline, so the tests launch /usr/bin/chromium.
# `make test` (and so CI's .ci/run) calls this first; it does nothing when both are there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need Chromium at /usr/bin/chromium; this is not a Debian-like system (no apt-get)," >&2
  echo "so install Chromium yourself (package 'chromium' on Debian/Ubuntu)." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "Installing Chromium needs root: run 'apt-get install chromium chromium-driver' as root." >&2
    exit 1
  fi
  SUDO="sudo"
fi

echo "Installing Chromium for the browser tests (Debian packages chromium, chromium-driver)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null

if [ ! -x /usr/bin/chromium ]; then
  echo "apt-get finished but /usr/bin/chromium is still missing." >&2
  exit 1
fi
echo "Chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
