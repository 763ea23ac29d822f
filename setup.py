"""Only a build hook: everything else is in pyproject.toml.

The notebooks live in ``notebooks/`` (where JupyterLab, Voila, Binder and the tests use them); a wheel
also carries them as package data in ``xnb/_notebooks/`` so that pip users can run
``xnb notebooks DEST``. The copy is made at build time, so the repository keeps one copy.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithNotebooks(build_py):
    def run(self):
        super().run()
        src = Path(__file__).resolve().parent / "notebooks"
        if not src.is_dir():  # pragma: no cover - an sdist always has them (MANIFEST.in)
            return
        dst = Path(self.build_lib) / "xnb" / "_notebooks"
        dst.mkdir(parents=True, exist_ok=True)
        for nb in sorted(src.glob("*.ipynb")):
            shutil.copyfile(nb, dst / nb.name)


setup(cmdclass={"build_py": BuildPyWithNotebooks})
