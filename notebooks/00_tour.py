# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,language_info,xnb,-jupytext.text_representation
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   language_info:
#     name: python
#   xnb:
#     budget_s: 90
# ---

# %% [markdown]
# # 00 · A tour of xnb
#
# **Learning goals.** After this notebook you can
# 1. generate the embedded datasets and read their ground truth (masks, part keypoints, concepts);
# 2. load the shipped CNNs and check how well they classify fresh data;
# 3. ask `xnb.attribute` for a heatmap of a class *or* of an internal channel, with any of eleven methods (SmoothGrad and occlusion among them);
# 4. drive the live `HeatmapExplorer` and know which slider moves cost a backward pass.
#
# **The one equation behind most heatmaps.** For a score $y$ (a class logit $y_c$, or an internal unit
# $a^{(l)}_k$) and an image $x$, *saliency* is the gradient $\partial y / \partial x$. The other methods
# change how the signal travels back: guided backprop and deconvnet change the ReLU rule, Grad-CAM weights a
# conv layer's maps $A_k$ by $\alpha_k = \frac{1}{HW}\sum_{ij} \partial y / \partial A_{k,ij}$, and
# excitation backprop (the *marginal winning probability*, used by the SRAE paper) passes
# $g_{\text{in}} = a \odot W^{+\top}\!\left(g_{\text{out}} \oslash W^{+}a\right)$ through every linear
# layer, with $W^+ = \max(W, 0)$.
#
# Everything here runs offline on a CPU in well under a minute.

# %%
import os, time
import numpy as np
import torch
import matplotlib.pyplot as plt
import seaborn as sns
import xnb
from xnb import data, models, viz
from xnb.exercises import check

torch.set_grad_enabled(True)
# Lecture: "full" gives the numbers the text discusses; "quick" runs every cell on less data (a slow
# machine, a short class). The test suite sets XNB_TEST and runs "quick".
LECTURE = "full"
QUICK = LECTURE == "quick" or bool(os.environ.get("XNB_TEST"))
xnb.set_num_threads("auto")  # 1 thread: small models gain nothing from more; Binder's 1-2 CPUs != os.cpu_count()

# %% [markdown]
# ## 1 · Datasets with ground truth
#
# `data.flowers` draws an an8Flower-style flower per image: a centre disc, 8 petals, a stem and two leaves,
# with jittered position, scale and rotation. In the **single** variant the class is the colour of the
# centre disc; petals, stem, leaves and background take colours that say nothing about the class. Every
# image comes with the discriminative mask (the ground truth for an explanation), a mask per part, one
# keypoint per part (like CUB's part labels), the flower's box and binary part×colour concepts.
#
# The default `difficulty="standard"` makes the task worth explaining: textured backgrounds, distractors in
# class colours (blobs, flowers cut by the border), an occluder over part of the discriminative part in about
# a third of the images, hue/brightness/contrast jitter and pixel noise. `visible` says how much of the
# discriminative part is left visible and `occluder_masks` where the occluder is; `masks` is the *visible*
# discriminative region. `difficulty="easy"` draws the same flowers on plain backgrounds (xnb 0.1's data).

# %%
flowers = data.flowers(12, variant="single", seed=0)
print(flowers)
fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
for i, ax in enumerate(axes.flat):
    rgb = (flowers.images[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    rgb = viz.outline(rgb, flowers.masks[i].numpy(), color=(255, 255, 255))
    rgb = viz.draw_boxes(rgb, flowers.boxes[i:i + 1].numpy(), colors=[(0, 0, 0)])
    ax.imshow(rgb)
    kp = flowers.keypoints[i].numpy()
    ax.scatter(kp[:, 1], kp[:, 0], s=12, c=range(len(kp)), cmap="tab10", edgecolors="k", linewidths=0.5)
    ax.set_title(flowers.class_names[int(flowers.labels[i])], fontsize=9)
    ax.axis("off")
    if flowers.visible[i] < 1:
        ax.set_title(f"{flowers.class_names[int(flowers.labels[i])]} · {flowers.visible[i]:.0%} visible", fontsize=9)
fig.suptitle("flowers(variant='single'): visible discriminative mask outlined, box, part keypoints "
             + ", ".join(flowers.part_names), fontsize=9)
plt.tight_layout(); plt.show()

# %%
easy = data.flowers(6, variant="single", seed=0, difficulty="easy")   # the same flowers, nothing in the way
fig, axes = plt.subplots(2, 6, figsize=(12, 4.2))
for i in range(6):
    axes[0, i].imshow(easy.images[i].permute(1, 2, 0)); axes[0, i].set_title("easy", fontsize=8)
    occ = viz.outline((flowers.images[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8),
                      flowers.occluder_masks[i].numpy(), color=(255, 0, 255))
    axes[1, i].imshow(occ); axes[1, i].set_title(f"standard · visible {flowers.visible[i]:.0%}", fontsize=8)
for ax in axes.flat: ax.axis("off")
fig.suptitle("the same seed: difficulty='easy' (top) and the default 'standard' (bottom, occluders outlined)",
             fontsize=9)
plt.tight_layout(); plt.show()
many = data.flowers(600 if QUICK else 2000, seed=5)
print(f"occluded: {float((many.visible < 1).float().mean()):.0%} of the images; among them the median visible "
      f"share is {float(many.visible[many.visible < 1].median()):.0%}, and {float((many.visible < 0.05).float().mean()):.1%} "
      f"of all images show less than 5 % of the discriminative part")

# %%
# the concepts of the first image: one colour per part group
print([name for name, v in zip(flowers.concept_names, flowers.concepts[0]) if v])

# %% [markdown]
# In the **double** variant a class is *colour × part*: the same colour on the centre disc or on the two
# leaves gives two classes, so an explanation has to point at the right part, not just the right colour.
# `flower_scenes` puts two flowers of different classes in one image (for the pointing game), and
# `digits` wraps scikit-learn's bundled handwritten digits.

# %%
double = data.flowers(12, variant="double", seed=1)
scenes = data.flower_scenes(2, seed=0)
digits = data.digits("test")
fig, axes = plt.subplots(1, 8, figsize=(14, 2.3))
for ax, i in zip(axes[:5], range(5)):
    ax.imshow(double.images[i].permute(1, 2, 0)); ax.set_title(double.class_names[int(double.labels[i])], fontsize=8)
for ax, i in zip(axes[5:7], range(2)):
    ax.imshow(scenes.images[i].permute(1, 2, 0))
    ax.set_title(" + ".join(scenes.class_names[int(c)] for c in scenes.labels[i]), fontsize=7)
axes[7].imshow(digits.images[0, 0], cmap="gray"); axes[7].set_title(f"digit {int(digits.labels[0])}", fontsize=8)
for ax in axes: ax.axis("off")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2 · The shipped models
#
# Small VGG-style CNNs whose weights ship inside the package (`scripts/make_weights.py` regenerates them
# deterministically): conv/ReLU/max-pool blocks, a stride-2 `conv3`, and `fc6`–`fc8`. The flower models are
# trained on the standard data with label smoothing, weight decay, flips and shifts, then calibrated by a
# temperature folded into `fc8`: their probabilities mean what they say, and their logits stay small, so
# gradients and probabilities do not saturate. Each model carries a **card** (`models.card(name)`) measured
# by the script on a seed no recipe trained on.

# %%
import pandas as pd
cards = pd.DataFrame({name: models.card(name) for name in models.SHIPPED}).T
cards[["accuracy", "mean_auc", "ece", "logit_p99", "n_test", "test_data"]]

# %% [markdown]
# **Calibration.** A reliability diagram bins the test images by the model's confidence (its top-class
# probability) and plots each bin's accuracy against its mean confidence: a calibrated model sits on the
# diagonal. The expected calibration error (ECE) is the count-weighted mean gap,
# $\mathrm{ECE} = \sum_b \frac{n_b}{N}\,|\mathrm{acc}_b - \mathrm{conf}_b|$. xnb 0.1's models (kept as
# `flowers-*-easy`) put almost every image in the last bin: with logits of ±hundreds, every probability is
# 0 or 1 and every gradient through the softmax vanishes.

# %%
n_test = 300 if QUICK else 1000
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
rows = []
for ax, variant in zip(axes, ["single", "double"]):
    test = data.flowers(n_test, variant=variant, seed=777)
    for name, d in [(f"flowers-{variant}", test),
                    (f"flowers-{variant}-easy", data.flowers(n_test, variant=variant, seed=777, difficulty="easy"))]:
        cal = models.calibration(models.load(name), d)
        viz.reliability_diagram(cal, ax=ax, label=name)
        rows.append((name, cal))
    ax.set_title(f"{variant}: fresh data (seed 777)", fontsize=9)
plt.tight_layout(); plt.show()
for name, cal in rows:
    print(f"{name:20s} accuracy {cal['accuracy']:.3f}  ECE {cal['ece']:.3f}  99th pct |logit| {cal['logit_p99']:7.1f}  "
          f"median confidence {cal['median_confidence']:.5f}")
rows = [(name, models.evaluate(models.load(name), data.flowers(n_test, variant=v, seed=777)))
        for name, v in [("flowers-single", "single"), ("flowers-double", "double")]]
rows.append(("digits", models.evaluate(models.load("digits"), data.digits("test"))))
attr_test = data.flowers(n_test, variant="double", seed=777)
res = models.evaluate(models.load("flowers-attributes"), (attr_test.images, attr_test.concepts))
print(f"{'flowers-attributes':16s} mean ROC-AUC over {len(attr_test.concept_names)} concepts {res['mean_auc']:.3f}")
worst = sorted(zip(res["auc"], attr_test.concept_names))[:3]
print("  hardest concepts:", ", ".join(f"{n} {a:.2f}" for a, n in worst))

# %%
cm = rows[1][1]["confusion"].numpy()
names = models.load("flowers-double").class_names
plt.figure(figsize=(6, 5))
sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", xticklabels=names, yticklabels=names, cbar=False)
plt.xlabel("predicted"); plt.ylabel("true"); plt.title("flowers-double: confusion matrix on fresh data")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 3 · The explanation core
#
# `xnb.layers` lists what can be addressed; `xnb.attribute(model, x, method, target=...)` explains a class,
# and `layer=` with `channel=` (or `neuron=`) explains an internal unit. Where Captum has the method,
# Captum computes it; xnb adds excitation backprop, its contrastive version and signals read at a layer.

# %%
model = models.load("flowers-single")
for info in xnb.layers(model):
    print(f"{info.name:8s} {info.kind:8s} {info.output_shape}")

# %%
x = flowers.images[:4]
methods = [m for m in xnb.METHODS if not m.startswith("semantic_")]  # those need SeVecs: see 05_sevec
maps = torch.stack([xnb.attribute(model, x, m, **({"n_steps": 16} if m == "integrated_gradients" else {}))
                    for m in methods], 1)   # [4 images, 11 methods, H, W], each for the predicted class
short = {"saliency": "saliency", "input_x_gradient": "input×grad", "integrated_gradients": "int. grad.",
         "guided_backprop": "guided BP", "deconvnet": "deconvnet", "gradcam": "Grad-CAM", "lrp": "LRP",
         "smoothgrad": "SmoothGrad", "occlusion": "occlusion", "excitation_backprop": "EB",
         "contrastive_excitation_backprop": "c-EB"}
short = [short.get(m, m) for m in methods]
# "percentile": positive evidence only, clipped at the 99.5th percentile (signed maps would need a diverging map)
fig = viz.grid(x, maps, titles=short, size=1.3, mode="percentile", suptitle="each method, predicted class")
fig

# %% [markdown]
# **Internal units, batched.** A list of channels comes back as `[N, k, H, W]` from one batched pass: each
# image is repeated k times and each copy explains a different channel. The maps equal the one-at-a-time
# ones (the tests check it).

# %%
t = time.perf_counter()
unit_maps = xnb.attribute(model, x[:1], "guided_backprop", layer="conv3", channel=list(range(8)))
print(f"8 channel maps in one pass: {1000 * (time.perf_counter() - t):.0f} ms")
viz.grid(x[:1].expand(8, -1, -1, -1), unit_maps[0], titles=[f"conv3 ch {c}" for c in range(8)], ncols=8, size=1.3)

# %% [markdown]
# **Excitation backprop against TorchRay.** TorchRay (Facebook's reference implementation of the
# contrastive variant) is our test oracle. The paper-level claim "xnb's c-MWP equals the reference
# algorithm" is checked here on the shipped model, at the `pool2` saliency layer:

# %%
import copy
from torchray.attribution.excitation_backprop import contrastive_excitation_backprop
def pearson(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))
r = []
for t in range(6):
    ours = xnb.attribute(model, x[:1], "contrastive_excitation_backprop", target=t, saliency_layer="pool2", resize=False)
    ref = contrastive_excitation_backprop(copy.deepcopy(model), x[:1].clone(), t, saliency_layer="pool2",
                                          contrast_layer="relu7", classifier_layer="fc8")[:, 0]
    r.append(pearson(ours, ref))
print("Pearson r with TorchRay, per target:", np.round(r, 4), "(the test requires ≥ 0.99)")

# %% [markdown]
# ## 4 · The live explorer
#
# Move the sliders. The threshold, opacity and colour map only re-render a cached map (a few ms, no
# gradient); a new channel costs one backward pass the first time; **all channels** fills a layer's cache
# in batched passes. Errors (e.g. asking contrastive excitation backprop for a channel) appear inside the
# widget, which keeps working.

# %%
from xnb.widgets import HeatmapExplorer
explorer = HeatmapExplorer(model, data.flowers(24, seed=3))
explorer

# %% [markdown]
# ## Exercises
#
# Answer by replacing `None`, then run the cell: `check` computes the right answer from the library.

# %%
# 1. In flowers(variant="double"), which part's colour decides the class "blue leaves"?
check("tour.1", None)
# 2. What is the output shape (C, H, W) of conv3 of the flowers-single model for a 64×64 input?
check("tour.2", None)
# 3. Which layer is the default contrast layer of contrastive excitation backprop on this model?
check("tour.3", None)
# 4. Interpret: which method's maximum lands on the discriminative part most often on flowers(20, seed=11)?
check("tour.4", None);
