"""One report of every claim xnb's notebooks state, re-measured over seeds (``make claims``).

Each paper module exposes ``claims(seeds=(0, 1, 2), quick=False) -> list[Claim]``. A claim is measured
once per seed (the seeds vary the data sample and the training of the explainer, never the shipped
model), reported as mean ± sd with the per-seed values and, where the claim compares two things, the
paired win count. Its verdict comes from a :class:`Rule` fixed *before* the run, in the paper module's
list of :class:`ClaimSpec` — and every rule can come out either way:

* "holds"          — the gap has the claimed sign, it is larger than the spread over seeds, and the
                     claimed side wins in at least ⌈2n/3⌉ of the n paired seeds;
* "does not hold"  — the same, with the opposite sign;
* "inconclusive"   — the spread (sd over seeds of the paired differences) is at least the gap, or the
                     wins are split.

Run the whole report with ``python -m xnb.claims [--quick] [--papers srae,mulasso] [--seeds 0 1 2]``:
it prints one table (paper, claim, the paper's figure, ours mean ± sd, per-seed values, wins,
verdict) and writes ``docs/claims.md``. Notebooks show the same functions' output with ``quick=True``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import numbers
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Claim", "ClaimSpec", "Rule", "Better", "AtLeast", "AtMost", "Similar", "VERDICTS", "PAPERS",
           "check_seeds", "check_quick", "over_seeds", "run", "Report", "table", "main"]

VERDICTS = ("holds", "does not hold", "inconclusive")

#: paper key -> (module, the paper's short title)
PAPERS: dict[str, tuple[str, str]] = {
    "srae": ("xnb.srae", "SRAE — Embedding Deep Networks into Visual Explanations"),
    "additive": ("xnb.additive", "Explaining networks semantically and quantitatively (additive explainer)"),
    "mulasso": ("xnb.mulasso", "µ-Lasso — Visual Explanation by Interpretation"),
    "resample": ("xnb.resample", "Input resampling — Visual explanations for CNNs"),
    "sevec": ("xnb.sevec", "SeVec — Semantics for global and local interpretation"),
}


# --------------------------------------------------------------------------------------------------
# Verdict rules


def _as_values(values, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name}: expected a sequence of numbers (one per seed), got {type(values).__name__}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            try:  # 0-d tensors / numpy scalars
                v = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"{name}: expected numbers, got {v!r}") from None
        out.append(float(v))
    arr = np.asarray(out, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name}: no values (one per seed is needed)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf: {out}")
    return arr


def _decide(d: np.ndarray, min_wins: float) -> tuple[str, int, int]:
    """Verdict on per-seed differences ``d`` (positive = the claim's side)."""
    n = len(d)
    m = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    need = math.ceil(min_wins * n - 1e-9)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    if n > 1 and sd >= abs(m):
        return "inconclusive", wins, n
    if m > 0 and wins >= need:
        return "holds", wins, n
    if m < 0 and losses >= need:
        return "does not hold", wins, n
    return "inconclusive", wins, n


class Rule:
    """A verdict rule: :meth:`describe` is the sentence fixed before the run, :meth:`judge` applies it."""

    min_wins: float = 2 / 3
    needs_baseline: bool = False

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def differences(self, values: np.ndarray, baseline: np.ndarray | None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def judge(self, values, baseline=None) -> tuple[str, int, int]:
        """(verdict, wins, n): wins = seeds on the claim's side."""
        v = _as_values(values, "values")
        b = None
        if self.needs_baseline:
            if baseline is None:
                raise ValueError(f"{type(self).__name__}: this rule compares paired values; pass baseline=")
            b = _as_values(baseline, "baseline")
            if len(b) != len(v):
                raise ValueError(f"baseline: {len(b)} values for {len(v)} seeds (the comparison is paired)")
        return _decide(self.differences(v, b), self.min_wins)

    def __str__(self) -> str:
        return self.describe()


def _wins_text(min_wins: float) -> str:
    return "⌈2n/3⌉ of the n seeds" if abs(min_wins - 2 / 3) < 1e-9 else f"{min_wins:.0%} of the seeds"


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Better(Rule):
    """Ours beats a paired baseline: ``ours − baseline`` above ``margin`` (``higher=True``) or below
    ``−margin`` (``higher=False``)."""

    higher: bool = True
    margin: float = 0.0
    min_wins: float = 2 / 3
    needs_baseline = True

    def differences(self, values, baseline):
        d = values - baseline if self.higher else baseline - values
        return d - self.margin

    def describe(self) -> str:
        word = "higher" if self.higher else "lower"
        gap = f" by more than {_num(self.margin)}" if self.margin else ""
        return (f"paired over seeds: ours {word} than the baseline{gap} on average and in ≥ "
                f"{_wins_text(self.min_wins)}; inconclusive when the sd of the paired differences "
                f"is ≥ their mean")


@dataclass(frozen=True)
class _Bound(Rule):
    """An absolute claim (no baseline): ours on the ``_sign`` side of ``bound``."""

    bound: float = 0.0
    min_wins: float = 2 / 3
    _sign = 1.0

    def differences(self, values, baseline):
        return self._sign * (values - self.bound)

    def describe(self) -> str:
        op = ">" if self._sign > 0 else "<"
        return (f"ours {op} {_num(self.bound)} on average and in ≥ {_wins_text(self.min_wins)}; "
                f"inconclusive when the sd over seeds is ≥ |mean − {_num(self.bound)}|")


@dataclass(frozen=True)
class AtLeast(_Bound):
    """Ours at least ``bound`` (absolute claim, no baseline)."""

    _sign = 1.0


@dataclass(frozen=True)
class AtMost(_Bound):
    """Ours at most ``bound`` (absolute claim, no baseline)."""

    _sign = -1.0


@dataclass(frozen=True)
class Similar(Rule):
    """Ours within ``tol`` of a paired baseline (``relative``: of ``|baseline|``)."""

    tol: float = 0.1
    relative: bool = True
    min_wins: float = 2 / 3
    needs_baseline = True

    def differences(self, values, baseline):
        scale = np.abs(baseline) if self.relative else 1.0
        return self.tol * scale - np.abs(values - baseline)

    def describe(self) -> str:
        tol = f"{self.tol:.0%} of the baseline" if self.relative else _num(self.tol)
        return (f"paired over seeds: |ours − baseline| within {tol} on average and in ≥ "
                f"{_wins_text(self.min_wins)}; inconclusive when the sd of the margins is ≥ their mean")


# --------------------------------------------------------------------------------------------------
# Claims


def _fmt(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    mag = abs(x)
    if mag >= 100:
        return f"{x:.0f}"
    if mag >= 1:
        return f"{x:.2f}"
    if mag >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2e}"


@dataclass
class Claim:
    """One claim of a paper, measured over seeds.

    ``values`` are ours, one per seed; ``baseline`` the paired values of what ours is compared with
    (``None`` for an absolute claim); ``verdict`` is one of :data:`VERDICTS`, decided by the rule whose
    sentence is ``verdict_rule``; ``wins`` counts the seeds on the claim's side. ``protocol`` states the
    measuring choices (thresholds, normalisation, sizes), ``varies`` what the seeds change.
    """

    paper: str
    name: str
    paper_value: str
    metric: str
    values: list
    verdict_rule: str
    verdict: str
    note: str = ""
    seeds: tuple = ()
    baseline: list | None = None
    baseline_name: str = ""
    wins: int | None = None
    protocol: str = ""
    varies: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: expected one of {list(VERDICTS)}, got {self.verdict!r}")
        self.values = [float(v) for v in self.values]
        if self.baseline is not None:
            self.baseline = [float(v) for v in self.baseline]
        self.seeds = tuple(int(s) for s in self.seeds)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sd(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def ours(self) -> str:
        """'mean ± sd' of ours (and of the baseline, when there is one)."""
        text = f"{_fmt(self.mean)} ± {_fmt(self.sd)}"
        if self.baseline is not None:
            b = np.asarray(self.baseline)
            bsd = float(b.std(ddof=1)) if len(b) > 1 else 0.0
            text += f" vs {self.baseline_name or 'baseline'} {_fmt(float(b.mean()))} ± {_fmt(bsd)}"
        return text

    def per_seed(self) -> str:
        if self.baseline is None:
            return ", ".join(_fmt(v) for v in self.values)
        return ", ".join(f"{_fmt(v)}/{_fmt(b)}" for v, b in zip(self.values, self.baseline))

    def wins_text(self) -> str:
        return "" if self.wins is None else f"{self.wins}/{len(self.values)}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as fixed before the run: what the paper says, what we measure, and the verdict rule.

    Paper modules list their specs at module level; ``claims()`` measures each one and calls
    :meth:`judge` with the per-seed values.
    """

    paper: str
    name: str
    paper_value: str
    metric: str
    rule: Rule
    baseline_name: str = ""
    protocol: str = ""
    varies: str = ""

    def __post_init__(self):
        if self.paper not in PAPERS:
            raise ValueError(f"paper: unknown paper {self.paper!r}; known: {list(PAPERS)}")
        if not isinstance(self.rule, Rule):
            raise TypeError(f"rule: expected an xnb.claims.Rule, got {type(self.rule).__name__}")

    def judge(self, values, baseline=None, seeds=(), note: str = "", protocol: str | None = None) -> Claim:
        verdict, wins, _ = self.rule.judge(values, baseline if self.rule.needs_baseline else None)
        paired = self.rule.needs_baseline
        return Claim(paper=self.paper, name=self.name, paper_value=self.paper_value, metric=self.metric,
                     values=list(_as_values(values, "values")), verdict_rule=self.rule.describe(),
                     verdict=verdict, note=note, seeds=tuple(seeds),
                     baseline=list(_as_values(baseline, "baseline")) if baseline is not None else None,
                     baseline_name=self.baseline_name, wins=wins if paired else None,
                     protocol=self.protocol if protocol is None else protocol, varies=self.varies)


def check_seeds(seeds) -> tuple:
    """Validate ``seeds``: a non-empty sequence of distinct non-negative integers."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds: expected a sequence of integers such as (0, 1, 2), got {seeds!r}")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds: empty; a claim is measured over at least one seed (the report uses 3)")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"seeds: expected integers, got {s!r} ({type(s).__name__})")
        if s < 0:
            raise ValueError(f"seeds: expected non-negative integers, got {s}")
    dup = sorted({int(s) for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ValueError(f"seeds: duplicate seeds {dup}; paired comparisons need distinct seeds")
    return tuple(int(s) for s in seeds)


def over_seeds(measure, seeds, desc: str, progress: bool = True, threads: int | None = 1) -> list:
    """``[measure(seed) for seed in seeds]`` with a progress bar, under ``threads`` PyTorch threads
    (restored afterwards, also on error). The paper modules' ``claims()`` measure their small models
    with one thread: with small convolutions and batches, more threads only wait on each other."""
    import torch
    from tqdm.auto import tqdm

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return [measure(s) for s in tqdm(seeds, desc=desc, disable=not progress, leave=True)]
    finally:
        torch.set_num_threads(before)


def check_quick(quick) -> bool:
    if not isinstance(quick, (bool, np.bool_)):
        raise TypeError(f"quick: expected True or False, got {quick!r}")
    return bool(quick)


def _check_papers(papers) -> list[str]:
    if papers is None:
        return list(PAPERS)
    if isinstance(papers, str):
        papers = [p.strip() for p in papers.split(",") if p.strip()]
    papers = list(papers)
    if not papers:
        raise ValueError(f"papers: empty; choose among {list(PAPERS)}")
    for p in papers:
        if p not in PAPERS:
            raise ValueError(f"papers: unknown paper {p!r}; known: {list(PAPERS)}")
    return list(dict.fromkeys(papers))


# --------------------------------------------------------------------------------------------------
# The report


@dataclass
class Report:
    claims: list
    seeds: tuple
    quick: bool
    seconds: dict = field(default_factory=dict)   # paper -> wall seconds
    errors: dict = field(default_factory=dict)    # paper -> error text (a paper that failed to run)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def table(self):
        return table(self.claims)

    def counts(self) -> dict:
        """paper -> {verdict: count}."""
        out: dict = {}
        for c in self.claims:
            out.setdefault(c.paper, {v: 0 for v in VERDICTS})[c.verdict] += 1
        return out

    def to_markdown(self) -> str:
        mode = "quick" if self.quick else "full"
        lines = [
            "# Claims re-measured by xnb",
            "",
            f"Generated by `python -m xnb.claims{' --quick' if self.quick else ''}` ({mode} settings, seeds "
            f"{', '.join(map(str, self.seeds))}; {self.total_seconds:.0f} s in all). Do not edit by hand: "
            f"`make claims` rewrites this file.",
            "",
            "Each claim is measured once per seed; the seeds vary the data sample and the training of the",
            "explainer, never the shipped model. *Ours* is mean ± sd over seeds (vs the paired baseline where",
            "the claim compares two things); *per seed* lists ours/baseline; *wins* counts the seeds on the",
            "claim's side. Verdict rules were fixed before the run (column *rule*): **holds** / **does not",
            "hold** need the gap to exceed the spread and ⌈2n/3⌉ paired wins; otherwise **inconclusive**.",
            "",
            "## Summary",
            "",
            "| paper | claims | holds | does not hold | inconclusive | seconds |",
            "|---|---|---|---|---|---|",
        ]
        counts = self.counts()
        for p in self.seconds:
            c = counts.get(p, {v: 0 for v in VERDICTS})
            lines.append(f"| {p} | {sum(c.values())} | {c['holds']} | {c['does not hold']} | {c['inconclusive']} "
                         f"| {self.seconds[p]:.0f} |")
        for p, err in self.errors.items():
            lines.append(f"\n**{p} failed to run:** `{err}`")
        for p in self.seconds:
            rows = [c for c in self.claims if c.paper == p]
            if not rows:
                continue
            # the section markers let the documentation site include one paper's table (pymdownx.snippets)
            lines += ["", f"## {p} — {PAPERS[p][1]}", "", f"<!-- --8<-- [start:{p}] -->",
                      "| claim | paper | metric | ours (mean ± sd) | per seed | wins | verdict |",
                      "|---|---|---|---|---|---|---|"]
            for c in rows:
                cells = [c.name, c.paper_value, c.metric, c.ours(), c.per_seed(), c.wins_text(), f"**{c.verdict}**"]
                lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
            lines += ["", "Rules, protocol and notes:", ""]
            for c in rows:
                extra = "; ".join(x for x in (c.protocol, f"seeds vary: {c.varies}" if c.varies else "") if x)
                lines.append(f"- *{_md(c.name)}* — rule: {_md(c.verdict_rule)}."
                             + (f" Protocol: {_md(extra)}." if extra else "")
                             + (f" **Note:** {_md(c.note)}" if c.note else ""))
            lines.append(f"<!-- --8<-- [end:{p}] -->")
        return "\n".join(lines) + "\n"


def _md(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def table(claims: Sequence[Claim]):
    """A pandas DataFrame of claims: one row each (what notebooks display)."""
    import pandas as pd

    rows = []
    for c in claims:
        if not isinstance(c, Claim):
            raise TypeError(f"claims: expected xnb.claims.Claim items, got {type(c).__name__}")
        rows.append({"paper": c.paper, "claim": c.name, "paper's figure": c.paper_value, "metric": c.metric,
                     "ours (mean ± sd)": c.ours(), "per seed": c.per_seed(), "wins": c.wins_text(),
                     "verdict": c.verdict, "note": c.note})
    return pd.DataFrame(rows)


def _paper_claims(paper: str, seeds: tuple, quick: bool) -> list:
    module = importlib.import_module(PAPERS[paper][0])
    fn = getattr(module, "claims", None)
    if fn is None:
        raise AttributeError(f"{PAPERS[paper][0]} has no claims() function")
    out = fn(seeds=seeds, quick=quick)
    for c in out:
        if not isinstance(c, Claim):
            raise TypeError(f"{PAPERS[paper][0]}.claims() returned a {type(c).__name__}, not a Claim")
    return list(out)


def run(papers=None, seeds=(0, 1, 2), quick: bool = False, progress: bool = True,
        raise_errors: bool = True) -> Report:
    """Measure every claim of ``papers`` (default: all five) over ``seeds``.

    With ``raise_errors=False`` a paper whose ``claims()`` fails is reported (``Report.errors``)
    and the others still run.
    """
    papers = _check_papers(papers)
    seeds = check_seeds(seeds)
    quick = check_quick(quick)
    from tqdm.auto import tqdm

    report = Report(claims=[], seeds=seeds, quick=quick)
    bar = tqdm(papers, desc="claims", disable=not progress, leave=True)
    for p in bar:
        bar.set_postfix_str(p)
        t0 = time.perf_counter()
        try:
            report.claims += _paper_claims(p, seeds, quick)
        except Exception as exc:  # noqa: BLE001 - reported, and re-raised unless asked not to
            if raise_errors:
                raise
            report.errors[p] = f"{type(exc).__name__}: {exc}"
        report.seconds[p] = time.perf_counter() - t0
    return report


def _print_table(report: Report, out=sys.stdout) -> None:
    cols = ["paper", "claim", "paper's figure", "ours (mean ± sd)", "per seed", "wins", "verdict"]
    rows = [[c.paper, c.name, c.paper_value, c.ours(), c.per_seed(), c.wins_text(), c.verdict]
            for c in report.claims]
    width = {k: min(48, max([len(k)] + [len(str(r[i])) for r in rows])) for i, k in enumerate(cols)}

    def cut(s, w):
        s = str(s)
        return s if len(s) <= w else s[: w - 1] + "…"

    print("  ".join(k.ljust(width[k]) for k in cols), file=out)
    print("  ".join("-" * width[k] for k in cols), file=out)
    for r in rows:
        print("  ".join(cut(v, width[k]).ljust(width[k]) for v, k in zip(r, cols)), file=out)
    print(file=out)
    for p, s in report.seconds.items():
        c = report.counts().get(p, {v: 0 for v in VERDICTS})
        print(f"{p:>9}: {s:6.1f} s  holds {c['holds']}, does not hold {c['does not hold']}, "
              f"inconclusive {c['inconclusive']}", file=out)
    print(f"{'total':>9}: {report.total_seconds:6.1f} s ({'quick' if report.quick else 'full'}, seeds "
          f"{list(report.seeds)})", file=out)
    for p, err in report.errors.items():
        print(f"{p} FAILED: {err}", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xnb.claims",
                                     description="Re-measure every claim of the five papers over seeds.")
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs (a few minutes in all)")
    parser.add_argument("--papers", default=None, help=f"comma-separated, among {','.join(PAPERS)} (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--out", default="docs/claims.md", help="markdown report to write ('' for none)")
    parser.add_argument("--json", default="", help="also write the claims as JSON to this path")
    parser.add_argument("--keep-going", action="store_true", help="report a paper that fails and run the others")
    args = parser.parse_args(argv)
    try:
        papers = _check_papers(args.papers)
        seeds = check_seeds(args.seeds)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    report = run(papers, seeds=seeds, quick=args.quick, raise_errors=not args.keep_going)
    _print_table(report)
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.to_markdown(), encoding="utf-8")
        print(f"wrote {path}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": list(report.seeds), "quick": report.quick,
                                               "seconds": report.seconds, "errors": report.errors,
                                               "claims": [c.to_dict() for c in report.claims]}, indent=1),
                                   encoding="utf-8")
    return 1 if report.errors else 0


if __name__ == "__main__":  # pragma: no cover
    # `python -m xnb.claims` runs this file as __main__: use the importable module's main (and so its
    # Claim class, the one the paper modules return), not this copy's
    from xnb.claims import main as _main

    sys.exit(_main())
