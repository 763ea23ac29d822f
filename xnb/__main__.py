"""``xnb`` on the command line: ``xnb notebooks DEST`` copies the notebooks, ``xnb claims`` runs the claims
report (``python -m xnb.claims``), ``xnb --version``."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: xnb notebooks DEST [--overwrite]   copy the seven notebooks into DEST\n"
             "       xnb claims [--quick] [...]         re-measure the papers' claims (python -m xnb.claims)\n"
             "       xnb --version")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0
    if argv[0] == "--version":
        from . import __version__

        print(f"xnb {__version__}")
        return 0
    if argv[0] == "notebooks":
        from .notebooks import main as nb_main

        rest = argv[1:]
        return nb_main(rest if rest and rest[0] in ("copy", "list") else ["copy", *rest])
    if argv[0] == "claims":
        from .claims import main as claims_main

        return claims_main(argv[1:])
    print(f"xnb: unknown command {argv[0]!r}; commands: notebooks, claims\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
