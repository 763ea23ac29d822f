#!/usr/bin/env python3
"""Print the mybinder.org URL of this repository (``make binder-url``).

The URL is built from ``git remote get-url origin`` (GitHub https or ssh forms):

    https://mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath=lab/tree/notebooks/00_tour.ipynb

Without an ``origin`` remote (or with one that is not on GitHub) it prints that pattern with
a short note instead, and still exits 0. Standard library only.

    python scripts/binder_url.py
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Notebook JupyterLab opens on Binder.
NOTEBOOK = "notebooks/00_tour.ipynb"
PATTERN = "https://mybinder.org/v2/gh/{owner}/{repo}/HEAD?urlpath=lab/tree/" + NOTEBOOK

# https://github.com/O/R(.git), https://user@github.com/O/R, git://github.com/O/R,
# ssh://git@github.com(:22)/O/R, git@github.com:O/R(.git) -- with an optional trailing slash.
_GITHUB_RE = re.compile(
    r"""^(?:
            (?:https?|git|ssh|git\+ssh)://(?:[^@/]+@)?github\.com(?::\d+)?/
          | [^@/\s]+@github\.com:
        )
        (?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/
        (?P<repo>[A-Za-z0-9._-]+?)
        (?:\.git)?/?$""",
    re.VERBOSE | re.IGNORECASE,
)


def owner_repo(remote: str) -> tuple[str, str] | None:
    """``("OWNER", "REPO")`` of a GitHub remote URL; None for anything else."""
    m = _GITHUB_RE.match(remote.strip())
    return (m["owner"], m["repo"]) if m else None


def binder_url(remote: str | None) -> str | None:
    """The mybinder.org URL for a remote URL; None without a (GitHub) remote."""
    if not remote:
        return None
    parsed = owner_repo(remote)
    return PATTERN.format(owner=parsed[0], repo=parsed[1]) if parsed else None


def origin_url(root: Path = ROOT) -> str | None:
    """``git remote get-url origin`` in ``root``; None when there is no such remote (or git)."""
    try:
        out = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def message(remote: str | None) -> str:
    """What ``make binder-url`` prints."""
    url = binder_url(remote)
    if url:
        return url
    pattern = PATTERN.format(owner="OWNER", repo="REPO")
    if not remote:
        return f"no `origin` git remote here; once the repository is on GitHub, its Binder URL is\n{pattern}"
    return f"origin ({remote}) is not a GitHub repository; mybinder.org's GitHub URL pattern is\n{pattern}"


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(message(origin_url()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
