#!/usr/bin/env python
"""Slider change -> new heatmap painted, measured in Chromium through Voila (p50/p95, printed).

For each notebook given (default: the tour), a real ArrowRight/ArrowLeft key press on a slider, timed from
the keydown event to the first animation frame after the image's new PNG has been decoded. Two sliders
of the tour explorer: threshold (a cached map, re-rendered only) and image (a new map the first time).
Target: p95 <= 150 ms on the shipped models.

    python benchmarks/browser_redraw.py [--steps 40] [NOTEBOOK ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _browser import chromium, chromium_path, open_dashboard, voila_server  # noqa: E402

PROBE = """
() => {
  window.__lat = [];
  const imgs = [...document.querySelectorAll('img.xnb-image')];
  document.addEventListener('keydown', () => { window.__t0 = performance.now(); }, true);
  for (const img of imgs) {
    new MutationObserver(() => {
      img.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
        window.__lat.push(performance.now() - window.__t0);
      }));
    }).observe(img, {attributes: true, attributeFilter: ['src']});
  }
}
"""


def measure(page, slider_text: str | None, steps: int) -> list[float]:
    if slider_text:
        handle = page.locator(f".widget-slider:has-text('{slider_text}') .noUi-handle").first
    else:
        primary = page.locator(".xnb-primary .noUi-handle")
        handle = (primary if primary.count() else page.locator(".widget-slider .noUi-handle")).first
    handle.focus()
    page.evaluate("() => { window.__lat = []; }")
    for i in range(steps):
        n = page.evaluate("() => window.__lat.length")
        page.keyboard.press("ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"() => window.__lat.length > {n}", timeout=30_000)
        page.wait_for_timeout(30)  # let ipywidgets settle: merged key presses would hide latency
    return page.evaluate("() => window.__lat")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", default=["00_tour.ipynb"])
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args(argv)
    if chromium_path() is None:
        sys.exit("no chromium on this machine: run scripts/ensure_browser.sh (as root) first")
    print("| notebook | slider | p50 ms | p95 ms | target p95 <= 150 ms |")
    print("|---|---|---|---|---|")
    with voila_server(env={"XNB_TEST": "1"}) as url, chromium() as browser:
        for name in args.notebooks:
            page = open_dashboard(browser, url, name)
            page.evaluate(PROBE)
            sliders = [("threshold", "threshold (cached map)"), ("image", "image (new map)")] \
                if name.startswith("00_") else [(None, "primary slider")]
            for text, label in sliders:
                lat = measure(page, text, args.steps)
                p50, p95 = np.percentile(lat, [50, 95])
                print(f"| {name} | {label} | {p50:.0f} | {p95:.0f} | {'yes' if p95 <= 150 else 'NO'} |",
                      flush=True)
            page.close()


if __name__ == "__main__":
    main()
