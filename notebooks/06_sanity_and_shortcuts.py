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
# # 06 · When explanations fail, and when they succeed
#
# *Adebayo et al., "Sanity checks for saliency maps" (NeurIPS 2018); Smilkov et al., "SmoothGrad" (2017);
# Zeiler & Fergus, "Visualizing and understanding convolutional networks" (ECCV 2014, occlusion).*
#
# **Learning goals.** After this notebook you can
# 1. use explanations to catch a model that learnt a *shortcut* — a cue that predicts the class in the
#    training data but says nothing about the object — and measure it against the cue's mask and the true
#    part's mask, with the chance level beside each number;
# 2. run the *model-randomisation* sanity check and say which methods explain the model and which mostly
#    explain the image;
# 3. compare occlusion and SmoothGrad with plain gradients: what each costs and what it shows.
#
# **Equations.** For a heatmap $h$ and a mask $M$ (the shortcut's pixels, or the true part's), the share of
# the map's positive mass inside the mask is
#
# $$S(h, M) = \frac{\sum_{p \in M} h^+_p}{\sum_p h^+_p}, \qquad h^+ = \max(h, 0), \qquad
# \mathbb{E}[S] = \frac{|M|}{HW} \text{ for a uniform map (the chance level).}$$
#
# The randomisation check compares two maps by Spearman's rank correlation
# $\rho(h, h') = \operatorname{corr}(\operatorname{rank}|h|, \operatorname{rank}|h'|)$ (absolute values, as
# Adebayo et al. do for gradient-like maps, whose sign flips freely). SmoothGrad averages gradients over
# noisy copies, $\hat M_c(x) = \frac{1}{n}\sum_{k=1}^{n} \nabla_x y_c(x + \varepsilon_k)$ with
# $\varepsilon_k \sim \mathcal{N}(0, \sigma^2)$; occlusion scores a pixel by the drop of the class score when
# a window $W$ covering it is replaced by a baseline $b$, averaged over those windows:
# $O_c(p) = \operatorname{mean}_{W \ni p}\,[\,y_c(x) - y_c(x_{W \leftarrow b})\,]$.
#
# **The verdict rule of the randomisation check** (`xnb.sanity`, fixed before any run): after a step, a
# method *fails* when its randomised maps are closer to the same image's trained map than the trained maps
# of two different images are to each other, by more than twice the standard error of the paired
# difference; otherwise it *passes*.

# %%
import os
import numpy as np
import torch
import matplotlib.pyplot as plt
import xnb
from xnb import data, models, sanity, viz
from xnb.exercises import check
from xnb.widgets import RandomizationExplorer, ShortcutExplorer

torch.set_grad_enabled(True)
xnb.set_num_threads("auto")   # the cgroup's CPUs, at most 1 for these small models (Binder reports the host's)
# Lecture: "full" gives the numbers the text discusses; "quick" runs every cell on less data (a slow
# machine, a short class). The test suite sets XNB_TEST and runs "quick".
LECTURE = "full"
QUICK = LECTURE == "quick" or bool(os.environ.get("XNB_TEST"))
N_TEST = 300 if QUICK else 600       # accuracy on the three test sets
N_EXPLAIN = 12 if QUICK else 24      # images explained with every method
N_RANDOM = 6 if QUICK else 10        # images of the randomisation cascade
# cheaper settings of the costlier methods, used everywhere below (and printed with the numbers)
OPTIONS = {"integrated_gradients": {"n_steps": 16}, "smoothgrad": {"nt_samples": 8}, "occlusion": {"stride": 8}}

# %% [markdown]
# ## 1 · A shortcut
#
# `data.shortcut_flowers` draws the flowers of `flowers(variant="single")` — the class is the colour of the
# centre disc — and paints a 6-px square in the top-left corner. The square's colour is a *code*, one per
# class (black, white, pink, lime, brown, grey). With `agreement=1.0` the code always names the image's own
# class: a perfect cue, always visible, while the disc is hidden by an occluder in a third of the images.
# `flowers-shortcut` is the shipped `SmallVGG` trained on such images. At test time we change the mark:
# `agreement=1/6` draws the code independently of the class, `agreement=None` draws no mark at all.

# %%
train_like = data.shortcut_flowers(6, agreement=1.0, seed=20)
random_mark = data.shortcut_flowers(6, agreement=1 / 6, seed=20)
fig, axes = plt.subplots(2, 6, figsize=(12, 4.6))
for row, (d, what) in enumerate([(train_like, "mark agrees"), (random_mark, "random mark")]):
    for i, ax in enumerate(axes[row]):
        rgb = (d.images[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        rgb = viz.outline(viz.outline(rgb, d.masks[i].numpy()), d.shortcut_masks[i].numpy(), color=(255, 0, 255))
        ax.imshow(rgb); ax.axis("off")
        ax.set_title(f"{d.class_names[int(d.labels[i])]}\nmark: {d.class_names[int(d.shortcut_labels[i])]}",
                     fontsize=8)
fig.suptitle("top: the mark codes the class (as in training); bottom: the same flowers with random marks "
             "(true part outlined white, mark magenta)", fontsize=9)
plt.tight_layout(); plt.show()

# %%
shortcut_model = models.load("flowers-shortcut")
honest_model = models.load("flowers-single")   # trained on flowers without marks
accuracy, follows = {}, {}
for t, agreement in {"mark agrees": 1.0, "random mark": 1 / 6, "no mark": None}.items():
    d = data.shortcut_flowers(N_TEST, agreement=agreement, seed=2026)   # one test set in memory at a time
    for name, m in [("flowers-shortcut", shortcut_model), ("flowers-single", honest_model)]:
        pred = models.predict(m, d.images).argmax(1)
        accuracy[(name, t)] = float((pred == d.labels).float().mean())
        if t == "random mark":   # how often a mark that names another class wins
            off = d.shortcut_labels != d.labels
            follows[name] = float((pred[off] == d.shortcut_labels[off]).float().mean())
    del d
print(f"accuracy on {N_TEST} test images (seed 2026)        mark agrees  random mark  no mark   follows a wrong mark")
for name in ("flowers-shortcut", "flowers-single"):
    print(f"{name:44s} {accuracy[(name, 'mark agrees')]:11.3f} {accuracy[(name, 'random mark')]:12.3f} "
          f"{accuracy[(name, 'no mark')]:8.3f} {follows[name]:12.3f}")
print("chance: 1/6 = 0.167")

# %% [markdown]
# The table is the shortcut's bill: with the mark as in training, `flowers-shortcut` is near perfect; with a
# random or no mark it drops towards chance, and when the mark names another class the prediction follows
# the mark. `flowers-single`, which never saw a mark, does not care. In practice we do not have the second
# and third columns — the shortcut is in the test data too. **Can an explanation of the first column alone
# reveal it?**
#
# ## 2 · Explanations reveal the shortcut
#
# Every method of `xnb.attribute` explains both models' predictions on the same images (mark agrees), and
# `sanity.shortcut_report` measures $S(h, \text{mark})$ and $S(h, \text{true part})$, and how often the map's
# maximum lies on each. The chance levels are the masks' area shares.

# %%
explain_set = data.shortcut_flowers(N_EXPLAIN, agreement=1.0, seed=21)
reports = {name: sanity.shortcut_report(m, explain_set, method_options=OPTIONS)
           for name, m in [("flowers-shortcut", shortcut_model), ("flowers-single", honest_model)]}
print(f"options: {OPTIONS}\n")
for name, r in reports.items():
    print(name); print(r.table()); print()

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
methods = reports["flowers-shortcut"].methods
x = np.arange(len(methods))
for ax, (name, r) in zip(axes, reports.items()):
    ax.bar(x - 0.2, [r.on_shortcut[m].mean() for m in methods], 0.4, label="on the mark", color="#d6336c")
    ax.bar(x + 0.2, [r.on_part[m].mean() for m in methods], 0.4, label="on the true part", color="#495057")
    ax.axhline(r.chance_shortcut.mean(), color="#d6336c", ls=":", lw=1, label="chance (mark)")
    ax.axhline(r.chance_part.mean(), color="#495057", ls=":", lw=1, label="chance (part)")
    ax.set_xticks(x); ax.set_xticklabels(methods, rotation=60, ha="right", fontsize=8)
    ax.set_title(f"{name}: mean share of positive mass, {N_EXPLAIN} images", fontsize=9)
axes[0].set_ylabel("share of the map's positive mass"); axes[0].legend(fontsize=8)
plt.tight_layout(); plt.show()

# %%
shown = ["saliency", "guided_backprop", "gradcam", "smoothgrad", "occlusion"]
idx = list(range(4))
cols = []
for m in shown:
    cols.append(torch.stack([reports["flowers-shortcut"].maps[m][i] for i in idx]))
viz.grid(explain_set.images[idx], torch.stack(cols, 1).clamp(min=0), titles=shown, show_image=True,
         row_titles=[explain_set.class_names[int(explain_set.labels[i])] for i in idx],
         suptitle="flowers-shortcut: where each method puts the positive mass (the mark is the top-left square)")

# %% [markdown]
# Read the numbers, not only the pictures: compare each share with its chance level. The cell below counts,
# per model, the methods whose mean share on the mark is more than ten times the mark's area share, and
# those whose share on the true part is above the part's area share.

# %%
for name, r in reports.items():
    on_mark = [m for m in r.methods if r.on_shortcut[m].mean() > 10 * r.chance_shortcut.mean()]
    on_part = [m for m in r.methods if r.on_part[m].mean() > r.chance_part.mean()]
    print(f"{name}: {len(on_mark)}/{len(r.methods)} methods put > 10× chance on the mark; "
          f"{len(on_part)}/{len(r.methods)} put more than chance on the true part")

# %% [markdown]
# Where a method sees the shortcut less clearly, the reason is in how it works, and it can be measured:
#
# * **Grad-CAM** reads `conv4`, a 4×4 map, upsampled: one cell covers 16×16 pixels, so its mass on a 6×6 mark
#   is capped and its maximum sits at the centre of the corner cell, beside the mark.
# * **Occlusion** replaces each window by the baseline 0 (black). One class's code *is* black: filling that
#   mark with black changes nothing, so occlusion cannot see it.

# %%
r = reports["flowers-shortcut"]
peak = r.maps["gradcam"].flatten(1).argmax(1)
rows, cols = (peak // explain_set.images.shape[-1]).float(), (peak % explain_set.images.shape[-1]).float()
print(f"Grad-CAM's maximum: median pixel ({rows.median():.0f}, {cols.median():.0f}); the mark covers rows and "
      f"columns {explain_set.meta['shortcut_box'][0]}–{explain_set.meta['shortcut_box'][2] - 1}")
occ = r.on_shortcut["occlusion"]
black = (explain_set.shortcut_labels == 0).numpy()
print(f"occlusion's share on the mark: black-coded marks {occ[black].mean():.3f} (n={black.sum()}), "
      f"the other codes {occ[~black].mean():.3f} (n={(~black).sum()})")

# %% [markdown]
# **Live.** Move through the images and methods; the magenta square is the mark, the white outline the
# disc. Every map was computed above: a slider move only re-renders.

# %%
ShortcutExplorer(reports["flowers-shortcut"], explain_set)

# %% [markdown]
# ## 3 · The model-randomisation sanity check
#
# If a heatmap explains the *model*, destroying the model's weights must change it. Adebayo et al.
# re-initialise the layers from the logits down (*cascading*) and compare each method's maps with the
# trained model's. We do it on `flowers-single` (the honest model), every method of `xnb.attribute`
# except the two semantic ones (they need SeVecs fitted on the trained model), on flowers without marks.
# The class explained stays the trained model's prediction.

# %%
random_set = data.flowers(N_RANDOM, seed=31)
result = sanity.model_randomization(honest_model, random_set.images, method_options=OPTIONS, seed=0)
print("layers in the order they are re-initialised:", " → ".join(result.layers))
result.plot(); plt.title(f"flowers-single, {N_RANDOM} images: rank correlation with the trained map", fontsize=9)
plt.tight_layout(); plt.show()

# %%
# the lowest layer of the classifier head: the last linear layer in the randomisation order (fc6)
head = [n for n in result.layers if isinstance(dict(honest_model.named_modules())[n], torch.nn.Linear)][-1]
print(result.table(after=head)); print()
print(result.table())

# %% [markdown]
# **How to read the two tables.** After the last step nothing of the model is left. The telling step is the
# one where the classifier head — `fc8`, `fc7`, `fc6` — has been re-initialised: the model's output no longer
# depends on what it learnt about the classes, yet the convolutional features are still the trained ones. A
# class explanation that still looks like the trained one there explains the image and the features, not
# the class. *passes* means the randomised maps are clearly nearer an unrelated image's map than the trained
# map; *fails* that they are more like the trained map than an unrelated one; *inconclusive* that the spread
# over these images is larger than the gap.
#
# The random weights are one draw. The cell below re-draws the head twice more (seeds 1 and 2) and prints the
# verdict after the head for each seed, with ρ as mean ± sd over the three seeds.

# %%
head_steps = result.layers[:result.step_of(head) + 1]
by_seed = {0: result.verdicts(after=head)}
for seed in (1, 2):
    by_seed[seed] = sanity.model_randomization(honest_model, random_set.images, layers=head_steps, seed=seed,
                                               method_options=OPTIONS, keep_maps=False, progress=False).verdicts()
print(f"after re-initialising {' → '.join(head_steps)}; ρ per seed (0, 1, 2), mean ± sd, verdicts per seed")
for k, m in enumerate(result.methods):
    rhos = np.array([by_seed[s][k]["rho"] for s in (0, 1, 2)])
    print(f"{m:34s} {' '.join(f'{v:5.2f}' for v in rhos)}   {rhos.mean():.2f} ± {rhos.std(ddof=1):.2f}   "
          f"{', '.join(by_seed[s][k]['verdict'] for s in (0, 1, 2))}")

# %% [markdown]
# **The mechanism.** Re-initialising the head changes the class scores, so a method that fails must be one
# whose map hardly depends on *which* class it explains. `sanity.class_sensitivity` measures that on the
# trained model: ρ between the map of the predicted class and the map of the runner-up class, on the same
# images. Compare it with the verdicts after the head.

# %%
same_class = sanity.class_sensitivity(honest_model, random_set.images, method_options=OPTIONS)
after_head = {v["method"]: v for v in result.verdicts(after=head)}
print(f"{'method':34s} {'ρ(predicted, runner-up)':>24s}   verdict after the head")
for m in result.methods:
    print(f"{m:34s} {np.nanmean(same_class[m]):14.2f} ± {np.nanstd(same_class[m], ddof=1):.2f}      "
          f"{after_head[m]['verdict']}")

# %%
RandomizationExplorer(result, random_set.images)

# %% [markdown]
# ## 4 · Occlusion and SmoothGrad beside gradients
#
# The gradient is a local, one-backward-pass answer and is noisy; SmoothGrad averages $n$ of them at noisy
# copies (here $n$ = 8, σ = 15 % of the input range: `OPTIONS`); occlusion asks the model a counterfactual
# question per window (8×8 windows every 8 pixels: 64 forward passes per image here) and is only as sharp
# as its window.
# On `flowers-single` and the same images as in §2, how much of each map falls on the true part?

# %%
r = reports["flowers-single"]
for m in ("saliency", "smoothgrad", "occlusion", "integrated_gradients"):
    print(f"{m:22s} share on the true part {r.on_part[m].mean():.3f} ± {r.on_part[m].std(ddof=1):.3f}   "
          f"maximum on the part {r.points_part[m].mean():4.0%}   (chance {r.chance_part.mean():.3f})")
idx = list(range(4))
maps = torch.stack([r.maps[m][idx] for m in ("saliency", "smoothgrad", "occlusion", "integrated_gradients")], 1)
viz.grid(explain_set.images[idx], maps.abs(), titles=["saliency", "smoothgrad", "occlusion", "integrated gradients"],
         show_image=True, suptitle="flowers-single: |map| of gradients, SmoothGrad, occlusion and integrated gradients")

# %% [markdown]
# ## Exercises
#
# Replace `None` and run: `check` computes the answer from the library.

# %%
# 1. Interpret: on shortcut_flowers(24, agreement=1.0, seed=21), which method puts the largest mean share of
#    its positive mass on the mark for flowers-shortcut (a method name, options as in OPTIONS)?
check("sanity.1", None)
# 2. Interpret: with the classifier head (fc8, fc7, fc6) of flowers-single re-initialised (seed 0,
#    flowers(10, seed=31)), which methods fail the check? (a set of method names)
check("sanity.2", None)
# 3. A 2×2 map [[3, 1], [0, -2]] and a mask covering its top row: what is S(h, M)?
check("sanity.3", None)
# 4. Interpret: of shortcut_flowers(600, agreement=1/6, seed=2026) (the full-size "random mark" test set),
#    how many images whose mark names another class does flowers-shortcut classify as the mark says?
check("sanity.4", None);
