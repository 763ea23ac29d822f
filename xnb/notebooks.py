"""The seven notebooks, for pip users: ``python -m xnb.notebooks copy DEST`` (or ``xnb notebooks DEST``).

A wheel carries them as package data (``xnb/_notebooks/``, copied there from the repository's
``notebooks/`` when the wheel is built); an editable install or a checkout reads ``notebooks/`` itself.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

__all__ = ["source", "names", "copy", "main"]


def source() -> Path:
    """The folder the notebooks are read from (package data first, then the checkout's ``notebooks/``)."""
    packaged = Path(str(resources.files("xnb") / "_notebooks"))
    if packaged.is_dir() and any(packaged.glob("*.ipynb")):
        return packaged
    checkout = Path(__file__).resolve().parents[1] / "notebooks"
    if checkout.is_dir() and any(checkout.glob("*.ipynb")):
        return checkout
    raise FileNotFoundError("no notebooks found: neither xnb/_notebooks (a wheel's package data) nor a "
                            "checkout's notebooks/ folder exists")


def names() -> list[str]:
    """File names of the shipped notebooks, in order (``00_tour.ipynb``, ...)."""
    return sorted(p.name for p in source().glob("*.ipynb"))


def copy(dest, overwrite: bool = False) -> list[Path]:
    """Write the notebooks into folder ``dest`` (created if needed); returns the written paths.

    An existing notebook of the same name is left alone (``FileExistsError`` naming it) unless
    ``overwrite=True`` — a student's edited copy is never replaced silently.
    """
    if not isinstance(dest, (str, Path)) or str(dest) == "":
        raise TypeError(f"dest: expected a folder path, got {dest!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite: expected True or False, got {overwrite!r}")
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"dest: {dest} exists and is not a folder")
    src = source()
    files = [src / n for n in names()]
    clash = [f.name for f in files if (dest / f.name).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"dest: {dest} already has {', '.join(clash)}; pass overwrite=True "
                              f"(--overwrite) to replace them")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        shutil.copyfile(f, dest / f.name)
        out.append(dest / f.name)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xnb.notebooks",
                                     description="Copy xnb's notebooks into a folder of yours.")
    sub = parser.add_subparsers(dest="command", required=True)
    cp = sub.add_parser("copy", help="write the notebooks into DEST")
    cp.add_argument("dest")
    cp.add_argument("--overwrite", action="store_true", help="replace notebooks of the same name")
    sub.add_parser("list", help="list the notebooks")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(names()))
            return 0
        written = copy(args.dest, overwrite=args.overwrite)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} notebooks to {Path(args.dest)}: " + ", ".join(p.name for p in written))
    print(f"open them with: jupyter lab {Path(args.dest)}   (pip install \"xnb[lab]\" for JupyterLab)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
