#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/test_widgets_browser.py), installed only when missing.
# Playwright (a pip package in requirements.txt) drives this system browser; never `playwright install`.
# Root installs it directly (CI runs as root); another user through sudo when it is there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "$0: chromium is missing, and this user is not root and has no sudo: apt-get install -y chromium as root" >&2
  exit 1
fi
echo "$0: installing Debian's chromium for the browser tests"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium
