"""The claims report: verdict rules that can come out either way, argument checks, the report itself."""
from __future__ import annotations

import json

import pytest

from xnb import claims as C


# -- rules: each can flip ------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, baseline, holds, fails, spread", [
    # lower is better: ours clearly below / clearly above / noise larger than the gap
    (C.Better(higher=False), [0.5, 0.6, 0.4], [0.3, 0.4, 0.2], [0.6, 0.7, 0.5], [0.3, 0.9, 0.2]),
    (C.Better(higher=True), [0.5, 0.6, 0.4], [0.7, 0.8, 0.6], [0.3, 0.4, 0.2], [0.9, 0.1, 0.6]),
    (C.Better(higher=True, margin=0.1), [0.5, 0.5, 0.5], [0.7, 0.72, 0.69], [0.52, 0.5, 0.55], [0.9, 0.2, 0.7]),
    (C.AtLeast(0.98), None, [0.99, 0.995, 0.992], [0.90, 0.91, 0.89], [0.999, 0.90, 0.999]),
    (C.AtMost(0.08), None, [0.03, 0.04, 0.05], [0.2, 0.15, 0.3], [0.01, 0.2, 0.02]),
    (C.Similar(tol=0.1), [1.0, 2.0, 3.0], [1.02, 2.03, 2.9], [1.5, 3.0, 4.5], [1.0, 2.0, 6.0]),
])
def test_each_rule_can_hold_fail_or_be_inconclusive(rule, baseline, holds, fails, spread):
    assert rule.judge(holds, baseline)[0] == "holds"
    assert rule.judge(fails, baseline)[0] == "does not hold"
    assert rule.judge(spread, baseline)[0] == "inconclusive"
    assert rule.describe()  # a sentence fixed before the run


def test_paired_wins_are_counted_and_split_wins_are_inconclusive():
    rule = C.Better(higher=True)
    verdict, wins, n = rule.judge([1.0, 1.0, 1.0, 0.99], [0.5, 0.5, 0.5, 1.0])
    assert (wins, n) == (3, 4) and verdict == "holds"  # ⌈2·4/3⌉ = 3 wins needed
    # mean gap positive and larger than the spread, but only 2 of 4 seeds on the claim's side
    verdict, wins, _ = rule.judge([1.0, 1.0, 0.999, 0.999], [0.9, 0.9, 1.0, 1.0])
    assert wins == 2 and verdict == "inconclusive"


def test_a_tie_is_inconclusive_not_a_win():
    assert C.Better().judge([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])[0] == "inconclusive"


def test_rule_arguments_are_checked():
    with pytest.raises(ValueError, match="baseline"):
        C.Better().judge([1, 2, 3])
    with pytest.raises(ValueError, match="paired"):
        C.Better().judge([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        C.AtLeast(0.5).judge([1.0, float("nan")])
    with pytest.raises(TypeError, match="values"):
        C.AtLeast(0.5).judge("0.9")
    with pytest.raises(ValueError, match="no values"):
        C.AtLeast(0.5).judge([])


# -- specs and claims ----------------------------------------------------------------------------------

def _spec(rule=None):
    return C.ClaimSpec("srae", "SRAE more orthogonal than NN (O1)", "0.61 vs 0.89", "O1 of heatmaps",
                       rule or C.Better(higher=False), baseline_name="NN", protocol="n = 5", varies="data, init")


def test_spec_judges_into_a_claim_with_mean_sd_per_seed_and_wins():
    c = _spec().judge([0.3, 0.4, 0.2], [0.5, 0.6, 0.4], seeds=(0, 1, 2), note="measured")
    assert c.verdict == "holds" and c.wins == 3 and c.seeds == (0, 1, 2)
    assert c.mean == pytest.approx(0.3) and c.sd == pytest.approx(0.1)
    assert c.ours() == "0.300 ± 0.100 vs NN 0.500 ± 0.100"
    assert c.per_seed() == "0.300/0.500, 0.400/0.600, 0.200/0.400"
    assert c.verdict_rule == C.Better(higher=False).describe()
    assert json.loads(json.dumps(c.to_dict()))["values"] == [0.3, 0.4, 0.2]


def test_absolute_claims_have_no_wins():
    c = C.ClaimSpec("sevec", "P@30 high", "1.0", "precision", C.AtLeast(0.5)).judge([0.9, 0.8, 0.95])
    assert c.wins is None and c.baseline is None and c.verdict == "holds"


def test_spec_and_claim_check_their_arguments():
    with pytest.raises(ValueError, match="unknown paper 'nope'.*srae"):
        C.ClaimSpec("nope", "x", "", "", C.AtLeast(0))
    with pytest.raises(TypeError, match="rule"):
        C.ClaimSpec("srae", "x", "", "", "higher is better")
    with pytest.raises(ValueError, match="verdict"):
        C.Claim("srae", "x", "", "", [1.0], "rule", "maybe")


@pytest.mark.parametrize("seeds, err, match", [
    ((), ValueError, "empty"),
    ((0, 1, 1), ValueError, "duplicate seeds \\[1\\]"),
    ((0, -1), ValueError, "non-negative"),
    ((0, 1.5), TypeError, "integers"),
    ((0, True), TypeError, "integers"),
    ("012", TypeError, "sequence"),
])
def test_check_seeds(seeds, err, match):
    with pytest.raises(err, match=match):
        C.check_seeds(seeds)


def test_check_seeds_accepts_lists_and_ranges():
    assert C.check_seeds([2, 0]) == (2, 0)
    assert C.check_seeds(range(3)) == (0, 1, 2)


def test_run_rejects_unknown_papers_and_bad_seeds_before_running_anything():
    with pytest.raises(ValueError, match="unknown paper 'lime'.*srae.*additive.*mulasso.*resample.*sevec"):
        C.run(["lime"], seeds=(0,))
    with pytest.raises(ValueError, match="duplicate"):
        C.run(["srae"], seeds=(0, 0))
    with pytest.raises(TypeError, match="quick"):
        C.run(["srae"], seeds=(0,), quick="yes")
    with pytest.raises(SystemExit):
        C.main(["--papers", "srae,nope", "--out", ""])


# -- the report ----------------------------------------------------------------------------------------

def _report():
    a = _spec().judge([0.3, 0.4, 0.2], [0.5, 0.6, 0.4], seeds=(0, 1, 2))
    b = C.ClaimSpec("srae", "faithful | F_cls", "99.99 %", "F_cls", C.AtLeast(0.98)).judge(
        [0.9, 0.91, 0.89], seeds=(0, 1, 2), note="logits span hundreds")
    return C.Report(claims=[a, b], seeds=(0, 1, 2), quick=True, seconds={"srae": 12.0})


def test_report_counts_and_markdown():
    r = _report()
    assert r.counts() == {"srae": {"holds": 1, "does not hold": 1, "inconclusive": 0}}
    md = r.to_markdown()
    assert "| srae | 2 | 1 | 1 | 0 | 12 |" in md
    assert "faithful \\| F_cls" in md           # pipes escaped inside table cells
    assert "**does not hold**" in md and "logits span hundreds" in md
    assert "0.300/0.500, 0.400/0.600, 0.200/0.400" in md


def test_table_has_one_row_per_claim():
    df = C.table(_report().claims)
    assert list(df["verdict"]) == ["holds", "does not hold"]
    assert {"claim", "paper's figure", "ours (mean ± sd)", "per seed", "wins", "verdict"} <= set(df.columns)
    with pytest.raises(TypeError, match="Claim"):
        C.table([{"verdict": "holds"}])


def test_run_with_a_stub_paper(monkeypatch, tmp_path):
    """The runner calls each paper's claims() with the seeds and mode, times it, and reports failures."""
    calls = []

    def fake(paper, seeds, quick):
        calls.append((paper, seeds, quick))
        if paper == "additive":
            raise RuntimeError("boom")
        return [_spec().judge([0.3, 0.4], [0.5, 0.6], seeds=seeds)]

    monkeypatch.setattr(C, "_paper_claims", fake)
    r = C.run("srae,additive", seeds=[3, 4], quick=True, progress=False, raise_errors=False)
    assert calls == [("srae", (3, 4), True), ("additive", (3, 4), True)]
    assert len(r.claims) == 1 and "boom" in r.errors["additive"] and set(r.seconds) == {"srae", "additive"}
    with pytest.raises(RuntimeError, match="boom"):
        C.run(["additive"], progress=False)
    out = tmp_path / "claims.md"
    js = tmp_path / "claims.json"
    assert C.main(["--papers", "srae", "--seeds", "0", "1", "--out", str(out), "--json", str(js)]) == 0
    assert "SRAE more orthogonal" in out.read_text()
    assert json.loads(js.read_text())["claims"][0]["wins"] == 2


def test_every_paper_module_declares_claims_with_valid_specs():
    import importlib

    for key, (module, _) in C.PAPERS.items():
        mod = importlib.import_module(module)
        assert callable(getattr(mod, "claims", None)), f"{module} has no claims()"
        specs = getattr(mod, "CLAIMS", None)
        assert specs and all(isinstance(s, C.ClaimSpec) and s.paper == key for s in specs), module
        assert len({s.name for s in specs}) == len(specs), f"{module}: duplicate claim names"
        assert all(s.rule.describe() and s.name and s.metric for s in specs), module


@pytest.mark.parametrize("notebook", ["01_srae", "02_additive_explainer", "03_mu_lasso", "04_input_resampling",
                                      "05_sevec"])
def test_paper_notebooks_take_their_verdicts_from_claims(notebook):
    """The notebook and the report cannot disagree: the notebook runs the module's claims() and shows
    xnb.claims.table of it (quick settings), and types no verdict of its own."""
    import re
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / f"{notebook}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"\.claims\(seeds=\(0, 1, 2\), quick=True", code), "no quick claims() run"
    assert "claims.table(" in code
    assert "holds here" not in code and "does NOT hold" not in code  # xnb 0.1's hand-made verdict strings
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "docs/claims.md" in text or "make claims" in text  # a pointer to the full report


def test_over_seeds_restores_threads_also_on_error():
    import torch

    before = torch.get_num_threads()
    seen = []
    assert C.over_seeds(lambda s: (seen.append(torch.get_num_threads()), s * 2)[1], (1, 2), "t", progress=False) == [2, 4]
    assert seen == [1, 1] and torch.get_num_threads() == before

    def boom(s):
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        C.over_seeds(boom, (0,), "t", progress=False)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("paper", list(C.PAPERS))
def test_every_papers_claims_validate_seeds_and_quick_before_running(paper):
    """Each module's claims() refuses bad seeds / quick at once (before loading a model or data)."""
    import importlib

    fn = importlib.import_module(C.PAPERS[paper][0]).claims
    for seeds, err, match in [((), ValueError, "seeds: empty"), ((1, 1), ValueError, "duplicate"),
                              ((0.5,), TypeError, "seeds"), ("012", TypeError, "seeds")]:
        with pytest.raises(err, match=match):
            fn(seeds=seeds)
    with pytest.raises(TypeError, match="quick"):
        fn(seeds=(0,), quick="yes")
