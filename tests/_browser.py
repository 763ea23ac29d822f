"""Shared by the browser tests and benchmarks/browser_redraw.py: Voila or JupyterLab on a free port and a
headless Chromium (Debian's, launched by Playwright with the flags this machine needs)."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(cmd: list[str], port: int, cwd: Path, env: dict | None, log_name: str, start_s: float = 90):
    """Run a server command in its own process group; yield its URL once it answers HTTP; stop the
    server and every kernel it started on exit, also when the block raises."""
    log_path = ROOT / "artifacts" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1", **(env or {}))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_s
            while True:  # /favicon.ico answers without starting a kernel
                try:
                    urllib.request.urlopen(url + "/favicon.ico", timeout=2)
                    break
                except urllib.error.HTTPError:  # any HTTP answer (404 too) means the server is up
                    break
                except Exception:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{cmd[1]} did not start (see {log_path})")
                    time.sleep(0.3)
            yield url
        finally:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


@contextlib.contextmanager
def voila_server(notebooks: Path = ROOT / "notebooks", env: dict | None = None):
    """Yield the base URL of Voila (with the stall fix: scripts/serve_voila.py) serving ``notebooks``."""
    port = free_port()
    cmd = [sys.executable, str(ROOT / "scripts" / "serve_voila.py"), str(notebooks), "--no-browser",
           "--Voila.ip=127.0.0.1", f"--port={port}", "--show_tracebacks=True"]
    with _serve(cmd, port, notebooks, env, "voila.log") as url:
        yield url


def _jupyter_server(module: str, notebook_dir: Path, env: dict | None, token: str, log_name: str):
    port = free_port()
    cmd = [sys.executable, "-m", module, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--notebook-dir={notebook_dir}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    return _serve(cmd, port, notebook_dir, env, log_name)


@contextlib.contextmanager
def jupyterlab_server(notebook_dir: Path, env: dict | None = None, token: str = "xnb-test"):
    """Yield (base URL, token) of a JupyterLab serving ``notebook_dir`` (use a private copy of the
    notebooks, so autosave cannot touch the repository)."""
    with _jupyter_server("jupyterlab", notebook_dir, env, token, "jupyterlab.log") as url:
        yield url, token


@contextlib.contextmanager
def notebook7_server(notebook_dir: Path, env: dict | None = None, token: str = "xnb-test"):
    """Yield (base URL, token) of a Jupyter Notebook 7 (the ``notebook`` package) serving ``notebook_dir``."""
    with _jupyter_server("notebook", notebook_dir, env, token, "notebook7.log") as url:
        yield url, token


@contextlib.contextmanager
def chromium():
    """Yield a Playwright Browser on the system's Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_dashboard(browser, base_url: str, name: str, timeout_ms: int = 120_000,
                   done_text: str = "open this notebook in JupyterLab"):
    """Open notebook ``name`` in Voila; wait until its first live image has been drawn and the notebook has
    run to its end (Voila renders cells as they finish: a widget shown early would not answer while later
    cells keep the kernel busy). Every xnb notebook ends with its exercises, which in Voila print one line
    pointing to JupyterLab (the exercises need code)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base_url}/voila/render/{name}", timeout=timeout_ms)
    page.wait_for_selector("img.xnb-image[src^='data:image/png'], img.xnb-image[src^='blob:']",
                           timeout=timeout_ms)
    if done_text:
        page.get_by_text(done_text).first.wait_for(timeout=timeout_ms)
    return page
