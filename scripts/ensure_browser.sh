#!/usr/bin/env bash
# Make sure a Chromium for the browser tests is on this machine (part of `make test`'s set-up).
# Debian's package is used: Playwright cannot download its own browser here. Where no system package
# manager can install it, say so: the browser tests then skip with that reason (never silently).
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "ensure_browser: installing Debian's chromium for the browser tests (apt-get)..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then
        echo "ensure_browser: $(chromium --version 2>/dev/null)"
        exit 0
    fi
    echo "ensure_browser: apt-get could not install chromium; browser tests will be skipped" >&2
    exit 0
fi
echo "ensure_browser: no chromium and no apt-get as root here; the browser tests will be skipped" \
     "(install chromium and re-run make test to include them)" >&2
exit 0
