#!/usr/bin/env bash
# test_browser.sh -- the HTML book in a real browser: tests/browser.js, run
# by Node with puppeteer-core driving Debian's Chromium headless (both
# installed by tools/setup).  Run after `make html`; prints "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
exec node tests/browser.js
