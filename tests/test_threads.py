"""xnb.set_num_threads: the cgroup CPU quota (v2 and v1), "auto", argument checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xnb
from xnb import _threads


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def cgroup(tmp_path, monkeypatch):
    """A fake /sys/fs/cgroup: write files under the returned folder; affinity fixed at 8 CPUs."""
    monkeypatch.setattr(_threads, "_CGROUP", tmp_path)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    return tmp_path


def test_exported_from_xnb():
    assert xnb.set_num_threads is _threads.set_num_threads
    assert "set_num_threads" in xnb.__all__


@pytest.mark.parametrize("text, quota", [("max 100000", None), ("100000 100000", 1.0), ("200000 100000", 2.0),
                                         ("150000 100000", 1.5), ("50000 100000", 0.5), ("garbage x", None)])
def test_cgroup_v2_quota(cgroup, text, quota):
    (cgroup / "cpu.max").write_text(text + "\n")
    assert _threads.cgroup_cpu_quota() == quota


@pytest.mark.parametrize("q, p, quota", [("-1", "100000", None), ("100000", "100000", 1.0), ("400000", "100000", 4.0)])
def test_cgroup_v1_quota(cgroup, q, p, quota):
    (cgroup / "cpu").mkdir()
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text(q)
    (cgroup / "cpu" / "cpu.cfs_period_us").write_text(p)
    assert _threads.cgroup_cpu_quota() == quota


def test_no_cgroup_files_means_no_quota(cgroup):
    assert _threads.cgroup_cpu_quota() is None
    assert _threads.available_cpus() == 8   # the affinity mask


@pytest.mark.parametrize("text, cpus", [("max 100000", 8), ("100000 100000", 1), ("150000 100000", 2),
                                        ("50000 100000", 1), ("1600000 100000", 8)])
def test_available_cpus_is_the_quota_rounded_up_within_the_affinity(cgroup, text, cpus):
    (cgroup / "cpu.max").write_text(text)
    assert _threads.available_cpus() == cpus


@pytest.mark.parametrize("text", ["max 100000", "100000 100000", "200000 100000"])
def test_auto_sets_at_most_auto_max_threads(cgroup, text):
    (cgroup / "cpu.max").write_text(text)
    n = xnb.set_num_threads("auto")
    assert n == min(_threads.available_cpus(), _threads.AUTO_MAX_THREADS) == torch.get_num_threads()
    assert xnb.set_num_threads() == n   # "auto" is the default


def test_auto_follows_the_quota_when_more_threads_are_allowed(cgroup, monkeypatch):
    monkeypatch.setattr(_threads, "AUTO_MAX_THREADS", 64)
    (cgroup / "cpu.max").write_text("200000 100000")
    assert xnb.set_num_threads("auto") == 2 == torch.get_num_threads()
    (cgroup / "cpu.max").write_text("100000 100000")
    assert xnb.set_num_threads("auto") == 1 == torch.get_num_threads()


@pytest.mark.parametrize("env, n", [("3", 3), ("1", 1), ("", None), ("0", None), ("many", None)])
def test_auto_honours_a_valid_omp_num_threads(cgroup, monkeypatch, env, n):
    (cgroup / "cpu.max").write_text("100000 100000")
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert xnb.set_num_threads("auto") == (n or 1) == torch.get_num_threads()


@pytest.mark.parametrize("n", [1, 2, np.int64(2)])
def test_explicit_count(n):
    assert xnb.set_num_threads(n) == int(n) == torch.get_num_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, "two", "AUTO", None, True])
def test_bad_argument_raises_naming_it(bad):
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=r"\bn must be"):
        xnb.set_num_threads(bad)
    assert torch.get_num_threads() == before
