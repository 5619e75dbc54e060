#!/usr/bin/env bash
# The browser tests drive Debian's chromium (/usr/bin/chromium) through Playwright (Playwright's own browser
# download is never used). Install it from Debian's packages when it is missing.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing Debian's chromium for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
