#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser tests when they are missing.
# (Playwright's own browser download does not work offline; the tests use /usr/bin/chromium.)
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "Installing Chromium for the browser tests (Debian packages chromium, chromium-driver)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
