"""Builds notebooks/04_input_resampling.ipynb (stored without outputs): python scripts/notebooks/build_04_input_resampling.py"""
from _nb import Notebook

nb = Notebook()
md, code = nb.md, nb.code

md(r"""
# 04 · Input resampling: the neurons that matter across a neighbourhood of the image

Lengerich, Konam, Xing, Rosenthal & Veloso, *Towards Visual Explanations for Convolutional Neural
Networks via Input Resampling* (ICML WHI 2017). Module: `xnb.resample`.

**Learning goals.** After this notebook you can
1. build the paper's neighbourhood of an image — n copies multiplied pixel-wise by a noise filter;
2. rank the units of a layer by *activation-output correlation* and *activation precision*, and by the
   four APPLE baselines, from one batched forward pass;
3. turn the top units into image patches with the deconvnet, and compare two selections with the
   Jaccard index;
4. check the paper's claims — patch localization (Table 1), secondary-classifier accuracy (§5.1),
   convergence of the two metrics during training (Fig. 3) — against ground truth, and say where they
   do not hold here.

**The method.** For an image $x$, copy $i = 1..n$ is $x \odot (1 + \varepsilon_i)$ with
$\varepsilon_i \sim \mathcal N(0, \sigma)$ per pixel (§4.1; $n = 50$, $\sigma = 0.1$). With
$z_{i}[r][c]$ the activation of a unit (a channel of layer $l$) at position $(r, c)$ for copy $i$, and
$o_i$ the network's output for the target class:

$$I_{\text{corr}} = \frac{1}{RC}\sum_{r,c}\left|\frac{n\sum_i z_i o_i - \sum_i z_i \sum_i o_i}
{\sqrt{\left[n\sum_i z_i^2 - (\sum_i z_i)^2\right]\left[n\sum_i o_i^2 - (\sum_i o_i)^2\right]}}\right|
\qquad (2)$$

$$I_{\text{prec}} = \frac{1}{RC}\sum_{r,c}\frac{1}{\operatorname{Var}_i\, z_i[r][c]}
\quad\text{for units with mean activation} \ge \lambda \qquad (3)$$

(eq. 2 is |Pearson r| per position, averaged; the paper prints eq. 3's variance as
$\sum z^2 - (\sum z)^2$, which lacks the $1/n$ factors — we use the variance it stands for.)
The APPLE baselines use the clean image only: the sum and the variance of the unit's activation map,
and the sum and the variance of its filter weights. The top $N$ units per layer are back-projected by
the deconvnet from their maximum location; the **patch** is the bounding box of the non-zero pixels.
Two selections $s_1, s_2$ are compared by the Jaccard index $S = |s_1 \cap s_2| / |s_1 \cup s_2|$.

**Where xnb differs, and why.** The authors' code multiplies copy $i$ by $1 + i\cdot\mathcal N(0, 0.1)$
(noise grows with $i$) — `perturb(schedule="growing")`; its "Jaccard" is $|A\cap B|/(|A|+|B|)$ (at most
0.5) — `jaccard(definition="sum")`. Positions where a unit never changes across the copies (a ReLU stuck
at 0) make eq. 2 undefined and eq. 3 infinite: they are left out of the means (documented in
`ResampledActivations.importance`); units below $\lambda$ score $-\infty$.
""")

code(r"""
import os, time
import numpy as np
import torch
import matplotlib.pyplot as plt
import xnb
from xnb import data, models, viz
from xnb import resample as R
from xnb.exercises import check

QUICK = bool(os.environ.get("XNB_TEST"))  # the test-suite runs the same cells with less data
torch.manual_seed(0)
# Small models, small batches: one thread is about as fast, and does not stall when other processes hold the
# cores (Binder gives 1 CPU; on a shared 2-core machine 2 threads made training 10x slower here).
torch.set_num_threads(1)
""")

md(r"""
**Parameters.** `USE_VGG16 = True` switches to torchvision's VGG16 (ImageNet weights, downloaded once —
offline it fails with a clear message) on the two bundled photos, with the paper's conv layers 3–9
coloured as in its Fig. 4 (3–4 red, 5–7 green, 8–9 blue). The evaluation sections need the flowers'
ground truth and are skipped for VGG16.
""")

code(r"""
USE_VGG16 = False  # True: torchvision VGG16 (pretrained, online), conv layers 3-9 as in the paper
N = 50             # copies per image (§4.1)
SIGMA = 0.1        # noise of the filter 1 + N(0, σ)
LAMBDA = 0.1       # precision threshold λ
""", tags=["parameters"])

code(r"""
if USE_VGG16:
    from collections import OrderedDict
    import torchvision.transforms as T
    vgg = models.load("vgg16", pretrained=True)   # RuntimeError with a clear message when offline
    model = torch.nn.Sequential(OrderedDict(normalize=T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                                            vgg=vgg)).eval()
    convs = [f"vgg.features.{i}" for i, m in enumerate(vgg.features) if isinstance(m, torch.nn.Conv2d)]
    LAYERS = convs[2:9]                            # conv layers 3..9
    COLORS = {l: (230, 40, 40) if j < 2 else (40, 200, 60) if j < 5 else (40, 90, 240) for j, l in enumerate(LAYERS)}
    images = data.sample_photos(224)
    THRESHOLD_SCALE = "absolute"
else:
    model = models.load("flowers-single")
    LAYERS = ["conv2", "conv3", "conv4"]           # conv1's 3-px patches are too small (the paper skipped layers 1-2)
    COLORS = R.depth_colors(LAYERS)                # conv2 red, conv3 green, conv4 blue
    images = data.flowers(24, seed=777)
    # λ = 0.1 in activation units, as in the authors' code. Our inputs are in [0, 1] (their VGG16 saw 0-255), so
    # activations are small and this λ discards every conv2 unit and most of conv3: precision then picks deep
    # units only. Section 5 also scores precision with λ relative to each layer's largest mean activation.
    THRESHOLD_SCALE = "absolute"
print(type(model).__name__, "layers:", LAYERS)
""")

md(r"""
## 1 · The neighbourhood of an image

`R.perturb(x, n, sigma)` returns the n copies. The paper's constant noise barely changes the image; the
authors' growing schedule ends with $\sigma \cdot 49 = 4.9$ — most late copies are mostly noise.
""")

code(r"""
x = images.images[0]
const = R.perturb(x, n=N, sigma=SIGMA)
grow = R.perturb(x, n=N, sigma=SIGMA, schedule="growing")
show = [0, 1, 10, 25, 49]
fig, axes = plt.subplots(2, len(show) + 1, figsize=(12, 4.2))
for row, (copies, name) in enumerate([(const, "constant (paper)"), (grow, "growing (authors' code)")]):
    axes[row, 0].imshow(x.permute(1, 2, 0)); axes[row, 0].set_title("clean", fontsize=8)
    for ax, i in zip(axes[row, 1:], show):
        ax.imshow(copies[i].clamp(0, 1).permute(1, 2, 0))
        ax.set_title(f"{name}\ncopy {i}: σ = {R.noise_levels(N, SIGMA, 'growing' if row else 'constant')[i]:.1f}", fontsize=7)
for ax in axes.flat: ax.axis("off")
plt.tight_layout(); plt.show()
""")

md(r"""
## 2 · Scoring every unit from one batched forward pass

`R.resample` runs the clean image and its n copies through the network in one batch and keeps, per unit
and position, the sums the metrics need; `importance` then scores any metric, for any λ, without another
forward pass. `R.neuron_importance(model, x, layer, metric)` is the one-call version.
""")

code(r"""
t = time.perf_counter()
res = R.resample(model, x, LAYERS, n=N, sigma=SIGMA)
scores = res.importance_all(threshold=LAMBDA, threshold_scale=THRESHOLD_SCALE)
print(f"{len(LAYERS)} layers x {len(R.METRICS)} metrics from one pass over {N + 1} images: "
      f"{1000 * (time.perf_counter() - t):.0f} ms; target class {res.target}")
for layer in LAYERS:
    print(f"\n{layer}")
    for m, s in scores[layer].items():
        print(f"  {m:20s} top 5: {R.top_neurons(s, 5)}")
    a, b = R.top_neurons(scores[layer]["correlation"]), R.top_neurons(scores[layer]["precision"])
    print(f"  Jaccard(correlation, precision) = {R.jaccard(a, b):.2f} (authors' formula: {R.jaccard(a, b, 'sum'):.2f})")
""")

md(r"""
## 3 · From units to patches (Fig. 4)

`R.patches(model, x, layer, units)` back-projects every unit from its maximum with the deconvnet (all units
of a layer in one batched pass, through `xnb.attribute(..., "deconvnet", neuron=[...])`) and boxes the
non-zero pixels. Below, the top-5 patches of each metric, coloured by depth as in the paper's Fig. 4.
""")

code(r"""
P = {l: R.patches(model, x, l) for l in LAYERS}
fig, axes = plt.subplots(1, 6, figsize=(14, 2.8))
for ax, m in zip(axes, R.METRICS):
    rgb = (x.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    rgb = np.kron(rgb, np.ones((4, 4, 1), np.uint8))
    boxes, cols = [], []
    for l in LAYERS:
        for u in R.top_neurons(scores[l][m], 5) if m in scores[l] else []:
            j = int(np.flatnonzero(P[l].units == u)[0])
            if not P[l].empty[j]:
                boxes.append([4 * v for v in P[l].boxes[j]]); cols.append(COLORS[l])
    ax.imshow(viz.draw_boxes(rgb, boxes, cols, width=2) if boxes else rgb)
    ax.set_title(m, fontsize=9); ax.axis("off")
fig.suptitle("top-5 patches per layer; red/green/blue = shallow/middle/deep layer", fontsize=9)
plt.tight_layout(); plt.show()
""")

md(r"""
## 4 · The live explorer

Left and right: two metrics' top-N patches (all layers, or one), the Jaccard similarity per layer in the
status line. λ, top-N, the metrics and the layer only re-score cached statistics (no forward pass); n and σ
rerun one batched forward; a new image also computes its patches once (one batched deconvnet pass per
layer).
""")

code(r"""
explorer = R.ResamplingExplorer(model, images, layers=LAYERS, n=N, sigma=SIGMA, threshold=LAMBDA,
                                colors=COLORS, threshold_scale=THRESHOLD_SCALE)
for s in (0.05, 0.2):                      # what a slider move costs
    t = time.perf_counter(); explorer.sigma.value = s
    print(f"σ -> {s}: recomputed in {1000 * (time.perf_counter() - t):.0f} ms")
t = time.perf_counter(); explorer.threshold.value = 0.3
print(f"λ -> 0.3: {1000 * (time.perf_counter() - t):.1f} ms (no forward pass)")
explorer.sigma.value, explorer.threshold.value = SIGMA, LAMBDA
explorer
""")

md(r"""
## 5 · Patch localization (Table 1)

The paper counted by hand whether each of 35 patches per image (top 5 × 7 layers) contained pixels of the
person, over 5 images. We count automatically with the flowers' ground truth: a patch **overlaps** the object
if its box contains a pixel of the flower (`flower_masks`; also reported for the class-deciding centre disc,
`masks`). Because deep patches are large, overlap is easy; the stricter **peak** criterion asks whether the
back-projection's maximum pixel lies on the object. A `random` row (units drawn uniformly) gives chance.
""")

code(r"""
PAPER_T1 = {  # metric: (localization top5, accuracy top5, localization top20, accuracy top20)
    "weight_sum": (0.94, 0.607, 0.82, 0.703), "weight_variance": (0.91, 0.787, 0.80, 0.948),
    "activation_sum": (0.92, 0.734, 0.79, 0.862), "activation_variance": (0.91, 0.711, 0.80, 0.857),
    "correlation": (0.93, 0.705, 0.85, 0.931), "precision": (0.96, 0.94, 0.91, 0.901)}
if not USE_VGG16:
    n_eval = 8 if QUICK else 120
    evalset = data.flowers(n_eval, seed=777)
    t = time.perf_counter()
    REL = "precision (λ rel.)"   # precision with λ × the layer's largest mean activation
    ev = R.evaluate_patches(model, evalset.images, LAYERS, k_max=20, n=N, sigma=SIGMA, threshold=LAMBDA,
                            threshold_scale=THRESHOLD_SCALE, progress=False,
                            variants={REL: dict(metric="precision", threshold=LAMBDA, threshold_scale="layer_max")})
    print(f"{n_eval} images: {time.perf_counter() - t:.1f} s")
    T1 = {k: {"flower": ev.localization(evalset.flower_masks, k), "disc": ev.localization(evalset.masks, k),
              "peak": ev.localization(evalset.flower_masks, k, criterion="peak"), "area": ev.area(k)} for k in (5, 20)}
    print(f"\n{'metric':20s} | {'paper':>5s} {'flower':>6s} {'disc':>5s} {'peak':>5s} {'#':>4s} | "
          f"{'paper':>5s} {'flower':>6s} {'disc':>5s} {'peak':>5s} {'#':>4s}   (top 5 | top 20 per layer)")
    for m in ev.metrics:
        row = f"{m[:20]:20s}"
        for k, pi in ((5, 0), (20, 2)):
            pap = f"{PAPER_T1[m][pi]:.2f}" if m in PAPER_T1 else "  -  "
            row += (f" | {pap:>5s} {T1[k]['flower'][m][0]:6.2f} {T1[k]['disc'][m][0]:5.2f} "
                    f"{T1[k]['peak'][m][0]:5.2f} {T1[k]['flower'][m][1]:4d}")
        print(row)
""")

md(r"""
## 6 · Secondary classifier (§5.1)

A small CNN (three conv layers with max-pooling; the paper used 64 channels) is trained on the images with
everything outside a metric's top-5 patches (all layers) blanked, and tested on masked held-out images.
If the selected patches carry the class evidence (the centre disc's colour), accuracy stays high. The
masked area matters: a metric whose patches cover more of the image keeps more evidence — it is printed
beside the accuracy. Here the images of section 5 are split into train / test (with `XNB_TEST` the sets are
tiny and the numbers are only a smoke test).
""")

code(r"""
if not USE_VGG16:
    n_tr = int(0.7 * n_eval)
    split = lambda m: (R.masked_images(ev, evalset.images, m, 5) if m != "full image" else evalset.images)
    ytr, yte = evalset.labels[:n_tr], evalset.labels[n_tr:]
    SEC = {}
    for m in ["full image"] + ev.metrics:
        xm = split(m)
        SEC[m] = R.secondary_accuracy(xm[:n_tr], ytr, xm[n_tr:], yte, n_classes=6, width=16 if QUICK else 32,
                                      epochs=2 if QUICK else 20, batch_size=16, lr=2e-3, seed=0)
    area = T1[5]["area"]
    print(f"{'input':20s} {'paper':>6s} {'ours':>6s} {'area':>6s}")
    for m, acc in SEC.items():
        pap = f"{PAPER_T1[m][1]:.3f}" if m in PAPER_T1 else "-"
        print(f"{m[:20]:20s} {pap:>6s} {acc:6.3f} {area.get(m, 1.0):6.2f}")
""")

md(r"""
## 7 · Do the two metrics converge while the network learns? (Fig. 3)

We train a fresh flower network one epoch at a time and, after each epoch, measure its accuracy and the
mean Jaccard similarity between the top-5 units by correlation and by precision (per layer, over probe
images).
""")

code(r"""
if not USE_VGG16:
    train_set, test_set = data.flowers(400 if QUICK else 600, seed=601), data.flowers(100 if QUICK else 300, seed=602)
    torch.manual_seed(0)
    fresh = models.SmallVGG(n_outputs=6, class_names=tuple(train_set.class_names))
    t = time.perf_counter()
    hist = R.jaccard_during_training(fresh, train_set, test_set, epochs=3 if QUICK else 6, layers=LAYERS,
                                     probe=test_set.images[:6 if QUICK else 16], n=20, threshold=LAMBDA,
                                     threshold_scale=THRESHOLD_SCALE, seed=0, progress=False)
    print(f"training + measuring: {time.perf_counter() - t:.1f} s")
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    ax[0].plot(hist["epoch"], hist["accuracy"], "o-k", label="test accuracy")
    ax[0].plot(hist["epoch"], hist["jaccard"], "s-", c="tab:orange", label="Jaccard(corr, prec), mean over layers")
    ax[0].set_xlabel("epoch"); ax[0].legend(fontsize=8); ax[0].set_ylim(0, 1.02)
    for l in LAYERS:
        ax[1].plot(hist["epoch"], [d[l] for d in hist["jaccard_per_layer"]], "o-", c=np.array(COLORS[l]) / 255, label=l)
    ax[1].set_xlabel("epoch"); ax[1].set_ylabel("Jaccard"); ax[1].legend(fontsize=8)
    plt.tight_layout(); plt.show()
    rho = np.corrcoef(hist["accuracy"], hist["jaccard"])[0, 1]
    print("accuracy:", np.round(hist["accuracy"], 2), "\nJaccard: ", np.round(hist["jaccard"], 3),
          f"\nPearson r(accuracy, Jaccard) over epochs = {rho:.2f}")
""")

md(r"""
## 8 · The paper's claims beside our numbers

The cell prints what this run measured; the lead's full runs (120–600 images, three data seeds, three
training seeds) are summarised in the text below it.
""")

code(r"""
if not USE_VGG16:
    apple = ["activation_sum", "activation_variance", "weight_sum", "weight_variance"]
    for k in (5, 20):
        p = T1[k]["flower"]["precision"][0]
        best = max(T1[k]["flower"][m][0] for m in apple)
        print(f"Table 1, top {k}: 'precision localizes best' — precision {p:.2f} vs best APPLE {best:.2f}, "
              f"random {T1[k]['flower']['random'][0]:.2f} -> {'holds' if p >= best else 'does not hold'} in this run")
        print(f"   with λ relative to the layer: precision {T1[k]['flower'][REL][0]:.2f}")
    print(f"§5.1: 'precision patches give the most accurate secondary classifier' — precision {SEC['precision']:.2f}, "
          f"best other {max(v for m, v in SEC.items() if m not in ('precision', 'full image')):.2f}, full image {SEC['full image']:.2f}"
          + (" (XNB_TEST: a few test images only)" if QUICK else ""))
    print(f"Fig. 3: 'Jaccard rises as accuracy rises' — Jaccard {hist['jaccard'][0]:.2f} -> {hist['jaccard'][-1]:.2f} "
          f"while accuracy {hist['accuracy'][0]:.2f} -> {hist['accuracy'][-1]:.2f}; r = {rho:.2f}")
""")

md(r"""
**What we found in longer runs** (flowers-single, layers conv2–conv4, n = 50, σ = 0.1; 3 data seeds × 100
images for Table 1, 400/200 images for §5.1, 3 training seeds for Fig. 3 — numbers from the xnb report of
issue #7, reproducible with the functions used above):

| claim | paper | ours |
|---|---|---|
| precision patches localize best, top 5 (overlap) | 0.96 vs APPLE 0.91–0.94 | **0.90** vs APPLE 0.78–0.85, random 0.84 (λ = 0.1 absolute); 0.79 with a relative λ |
| same, top 20 | 0.91 vs 0.79–0.82 | **0.95** vs 0.83–0.94, random 0.83; 0.84 with a relative λ |
| same, stricter peak-on-object criterion, top 5 | – | precision 0.74 vs APPLE 0.67–0.74, correlation 0.74, random 0.70 |
| secondary classifier on precision patches is most accurate | 0.94 vs 0.61–0.79 | **0.86–0.96** (2 classifier seeds) vs APPLE 0.88–0.98, correlation 0.86–0.98, **random units 0.95–0.97**, full image 0.98–0.99 |
| Jaccard(correlation, precision) rises with accuracy | yes (Fig. 3) | **not reproduced**: in 6 of 8 runs (3 training seeds × λ absolute / relative, 2 with the authors' growing noise) it stays at 0.00–0.10 while accuracy goes 0.17 → 0.93–0.99; it rose to 0.23–0.40 in one growing-noise run (with accuracy, r = 0.64) and to 0.19–0.29 in a run that only reached 0.49 accuracy |

* The Table 1 claim holds on every data seed with the authors' λ = 0.1 — but only because that λ, on our
  small activations, discards every conv2 unit, whose 8-px patches often miss the flower. Layer by layer
  precision is no better (conv3: 0.81 vs 0.78–1.00; conv4: 0.98 vs 0.78–0.98), and random units reach
  0.84: the paper's "contains pixels of the object" criterion barely separates metrics when deep patches
  cover a third of the image.
* The secondary classifier needs only the centre disc's colour, which almost every selection's patches
  (≈ 20–55 % of the image) keep visible: all metrics, random units included, score within the
  classifier's seed-to-seed spread (about ±0.06). The experiment cannot separate the metrics here.
""")

md(r"""
## Exercises

Answer by replacing `None`, then run the cell: `check` computes the right answer from the library.
""")

code(r"""
# 1. On image 0 of data.flowers(4, seed=11) with the flowers-single model, what is the Jaccard similarity
#    (paper's definition) between the top-5 conv4 units by correlation and by precision (n=50, σ=0.1, λ=0.1, seed=0)?
check("resample.1", None)
# 2. The authors' code computes |A∩B| / (|A|+|B|). What is the largest value it can take?
check("resample.2", None)
# 3. With schedule="growing" and σ = 0.1, what is the standard deviation of the noise filter of copy i = 10?
check("resample.3", None)
""")

nb.write("04_input_resampling", budget_s=60)
