"""The exercises of notebook ``02_additive_explainer`` (additive): solutions computed from :mod:`xnb.additive` itself."""
from __future__ import annotations

import torch

from ..additive import contribution_entropy, lambda_schedule
from ._core import Exercise, Number, Text


def _ex1():
    return round(lambda_schedule(10.0, 4), 6)


def _ex2():
    return float(contribution_entropy(torch.tensor([[1.0, 1.0, 0.0, 0.0]]))[0])


def _ex3():
    from .. import data

    return max(data.WARMTH_WEIGHTS, key=data.WARMTH_WEIGHTS.get)


EXERCISES = {
    "additive.1": Exercise("With β = 10, what is the prior-loss weight λ(t) in epoch t = 4?", _ex1,
                           "the schedule decays λ with the square root of the epoch.", Number(rel=0.01),
                           mistakes=[(2.5, "that is β / t; the schedule divides by √t"),
                                     (10.0, "that is β, λ at t = 1; the weight decays with t")]),
    "additive.2": Exercise("Contributions (1, −1, 0, 0): what is the entropy (in nats) of their distribution?",
                           _ex2, "cᵢ = |αᵢyᵢ| / Σ|αⱼyⱼ|; H = −Σ cᵢ log cᵢ.", Number(rel=0.01),
                           mistakes=[(0.0, "the signs do not cancel: the distribution uses |αᵢyᵢ|"),
                                     (1.0, "that is the entropy in bits; the question asks for nats (natural log)")]),
    "additive.3": Exercise("Which part×colour concept carries the largest true weight in the warmth score?",
                           _ex3, "xnb.data.WARMTH_WEIGHTS maps each concept to its true weight.",
                           Text(), mistakes=[(lambda a: ":" not in str(a),
                                              "give the concept as part:colour, e.g. 'petals:cream'")]),
}
