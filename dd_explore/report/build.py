"""``write_report``: read a run directory, build every view with ``dd_explore.viz``, write one HTML file."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np

from dd_explore import viz
from dd_explore._io import write_text
from dd_explore.report.html import Page, make_sprite
from dd_explore.viz import evolution, importance, metrics, sensitivity
from dd_explore.viz.embedding import METHODS as EMBEDDINGS

logger = logging.getLogger(__name__)

# Above this many train points the embedding views show a random subset (plus every chosen point and
# center). Below it every point is drawn (WebGL above a few thousand; UMAP fits a subsample of at most
# viz.embedding.MAX_FIT points and places the rest): a 50,000-point report is ~15-20 MB.
MAX_EMBEDDED_POINTS = 100_000
# Hover thumbnails are kept for at most this many points: the chosen points, the k-means centers, the
# highest- and lowest-scored and the most-drawn points of each class, then a seeded random sample; the
# others say "no thumbnail kept" on hover (the live SelectionExplorer shows every image on demand).
THUMBNAIL_BUDGET = 1_000
# ... and for at most this many pixels (large images get fewer thumbnails).
MAX_SPRITE_PIXELS = 12_000_000

HOW = {
    "sensitivity": "each real point's sensitivity score s(p) is its sampling weight for the initial set "
                   "(higher = more likely drawn: far from its center or in a small cluster for k-means, "
                   "high leverage or badly fitted for KRR). Red marks are the points actually chosen.",
    "distribution": "spread of the scores within each class; a long upper tail means a few points dominate the sampling.",
    "ranked": "each class's scores from highest to lowest; red dots = chosen points at their rank. Chosen points "
              "spread along the curve (not only its head) show sampling rather than a top-k pick.",
    "distance": "k-means: s(p) grows with the squared distance to the point's center (the line) plus 1/|cluster| "
                "(the offset, larger for small clusters). KRR: x = ridge leverage, y = share of the fitting residual; "
                "points high on either axis get high scores.",
    "thumbnails": "left block: the highest-scored images of each class (row); right block: the lowest. High scores "
                  "should look unusual (rare styles, outliers, possible label noise); low scores typical.",
    "embedding": "a 2-D map of the real training points (nearby = similar pixels). Colour = score, red circles = chosen "
                 "initial images, crosses = k-means centers. Hover or click a point to see its image at the right.",
    "evolution": "the synthetic images, one row per class, at the snapshot step on the slider; press Play to animate. "
                 "They start as the chosen real images (or noise) and move as distillation proceeds.",
    "drift": "RMS pixel distance (0-1 scale) of each synthetic image from its initial image; flat lines = images that "
             "barely changed, steep = images the method is rewriting.",
    "heatmap": "for one class (dropdown), each column is a real point, each row a refresh of the importance sampler; "
               "colour = n_c*q (white = 1 = drawn as often as under uniform batches, red = more often, blue = less). "
               "Red columns = points the probe finds hard, drawn more often.",
    "entropy": "normalized entropy and effective sample size of q per class (1 = uniform). Dropping lines mean the "
               "sampler concentrates on fewer real points; gamma keeps them above a floor.",
    "draws": "how many times each real point was drawn into a real batch so far (per class). Uniform batches give a "
             "narrow bump around the dashed mean; importance sampling gives a long right tail.",
    "draws_embedding": "the same draw counts painted on the embedding: where in data space the sampler looks.",
    "loss": "the base method's matching loss per step (thin) and its moving average (bold).",
    "accuracy": "test accuracy of networks trained from scratch on the synthetic set (evaluation protocol in the "
                "header): initial set versus after distillation, mean +- std over fresh networks.",
}


def load_dataset_for(record, root: str | Path | None = None):
    """The data set a run used, loaded from its config (by name; an image folder from the root the run
    recorded, or ``root`` when given), or None when it cannot be loaded here."""
    from dd_explore import data

    info = record.config.get("run", {}).get("dataset", {})
    name = info.get("name")
    if not name:
        return None
    source = info.get("source") or {}
    try:
        return data.load_described(info, root=root)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as exc:
        if source.get("loader") == "imagefolder":
            hint = (f"the run read its images from {source.get('root')}; pass --root DIR (dataset=... in Python) "
                    "with the folder's new place")
        else:
            hint = "pass --root DIR for torchvision sets, or dataset=... in Python"
        logger.warning("report: cannot load data set %r (%s); views of real images are left out (%s)", name, exc, hint)
        return None


def _check_dataset(dataset, record) -> None:
    lab = record.train_labels
    n = len(dataset.train)
    if n != lab.shape[0] or not np.array_equal(dataset.train.labels.cpu().numpy(), lab):
        raise ValueError(f"dataset must be the run's data set: the run has {lab.shape[0]} train points, "
                         f"dataset {dataset.name!r} has {n} (or other labels)")


def _thumbnail_budget(image_shape) -> int:
    c, h, w = image_shape
    return int(max(1, min(THUMBNAIL_BUDGET, MAX_SPRITE_PIXELS // max(1, h * w))))


def thumbnail_points(n: int, selection, draw_counts, labels, random_state: int = 0, *, budget: int = THUMBNAIL_BUDGET,
                     among: np.ndarray | None = None, per_class: int = 8) -> np.ndarray:
    """Sorted global indices of the train points whose thumbnails the report carries (at most ``budget``):
    the chosen points and k-means centers, per class the ``per_class`` highest- and lowest-scored and most
    drawn points, then a seeded random sample of the rest (``among``: only these points, e.g. the embedded
    subset)."""
    pool = np.arange(n) if among is None else np.asarray(among, dtype=np.int64)
    allowed = np.zeros(n, dtype=bool)
    allowed[pool] = True
    labels = np.asarray(labels).reshape(-1)
    wanted: list[np.ndarray] = []
    if selection is not None:
        wanted += [np.asarray(selection.indices, dtype=np.int64), sensitivity.center_indices(selection)]
    scores = np.asarray(selection.scores, dtype=np.float64) if selection is not None and sensitivity.has_scores(selection) else None
    counts = None if draw_counts is None else np.asarray(draw_counts).reshape(-1)
    for c in np.unique(labels):
        members = np.flatnonzero((labels == c) & allowed)
        if scores is not None:
            order = members[np.argsort(-scores[members], kind="stable")]
            wanted += [order[:per_class], order[-per_class:]]
        if counts is not None and counts.shape[0] == n:
            wanted.append(members[np.argsort(-counts[members], kind="stable")][:per_class])
    chosen: list[int] = []
    seen = set()
    for part in wanted:
        for i in np.asarray(part, dtype=np.int64).tolist():
            if allowed[i] and i not in seen:
                seen.add(i)
                chosen.append(i)
    chosen = chosen[:budget]
    if len(chosen) < budget:
        rest = np.setdiff1d(pool, np.asarray(chosen, dtype=np.int64))
        take = min(rest.size, budget - len(chosen))
        chosen += np.random.default_rng(random_state).choice(rest, size=take, replace=False).tolist()
    return np.sort(np.asarray(chosen, dtype=np.int64))


def _embedded_subset(n: int, keep: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    if n <= MAX_EMBEDDED_POINTS:
        return None
    rest = np.setdiff1d(np.arange(n), keep)
    extra = rng.choice(rest, size=max(0, MAX_EMBEDDED_POINTS - keep.size), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def _header(record, selection, dataset_note: str) -> str:
    cfg = record.config
    r = cfg.get("run", {})
    ds = r.get("dataset", {})
    rows = [
        ("data set", f"{ds.get('name')} ({ds.get('train_size')} train / {ds.get('test_size')} test, images {ds.get('image_shape')})"),
        ("method", r.get("method")), ("images per class", r.get("ipc")), ("init", r.get("init")),
        ("batches", r.get("batches")), ("seed", r.get("seed")),
        ("steps", f"{record.step} done of {cfg.get('steps')}"),
        ("device", cfg.get("device")),
        ("step time", f"{float(np.nansum(record.step_times)):.1f} s in all, probe share {100 * record.probe_share:.1f} %"),
        ("method options", ", ".join(f"{k}={v}" for k, v in (r.get("method_options") or {}).items())),
    ]
    if r.get("importance"):
        rows.append(("importance options", ", ".join(f"{k}={v}" for k, v in r["importance"].items())))
    if selection is not None:
        rows.append(("init selection", f"{selection.method}, features {selection.features}, {len(selection.indices)} points"))
    if cfg.get("evaluation"):
        rows.append(("evaluation", ", ".join(f"{k}={v}" for k, v in cfg["evaluation"].items())))
    table = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    m = record.metrics or {}

    def fmt(x):
        return f"{100 * x['mean']:.2f} &plusmn; {100 * x.get('std', 0.0):.2f} % ({len(x.get('accuracies', []))} networks)"

    if "initial" in m or "final" in m:
        acc = " &rarr; ".join(f"{k} {fmt(m[k])}" for k in ("initial", "final") if k in m)
    else:
        acc = "not evaluated (run distill with evaluation to see test accuracy)"
    title = f"dd_explore run: {r.get('method')} on {ds.get('name')}, {r.get('ipc')} images per class"
    note = f'<p class="note">{html.escape(dataset_note)}</p>' if dataset_note else ""
    return (f"<h1>{html.escape(title)}</h1><p>{html.escape(str(record.path))}</p>"
            f'<p class="acc"><b>Test accuracy:</b> {acc}</p>{guard_warnings(m)}{note}<table class="config">{table}</table>')


def guard_warnings(metrics: dict) -> str:
    """The run's guard warnings (metrics.json ``warnings``: an evaluation worse than the initial set's by
    more than its spread) and where the best evaluated set is, as a highlighted block; "" when none."""
    warnings = (metrics or {}).get("warnings") or []
    if not warnings:
        return ""
    best = (metrics or {}).get("best") or {}
    items = "".join(f"<li>{html.escape(w['message'])}</li>" for w in warnings)
    where = (f" The best evaluated set is from step {best.get('step')} ({100 * best.get('mean', 0.0):.2f} %, "
             f"best.pt in the run directory)." if best else "")
    return (f'<div class="warning" role="alert" style="border:2px solid #c0392b;background:#fdecea;padding:6px 10px">'
            f"<b>Warning: the distilled set got worse than its initialization.</b>{html.escape(where)}<ul>{items}</ul></div>")


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    dataset=None,
    *,
    embedding: str = "umap",
    cache_dir: str | Path | None = None,
    root: str | Path | None = None,
    random_state: int = 0,
) -> Path:
    """Write ONE self-contained HTML file with every view of the run in ``run_dir``; returns its path.

    out: the file (default ``run_dir/report.html``); dataset: the run's data set (default: loaded by the
    name in the run's config, with ``root`` for torchvision sets; views of real images are left out,
    with a note, when it cannot be loaded); embedding: "umap" (cached in ``cache_dir``) or "pca".
    Everything is validated and built before the file is written (atomically).
    """
    from dd_explore.distill import load_run

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run_dir {run_dir}: no such directory")
    if embedding not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)}; got {embedding!r}")
    out = Path(out) if out is not None else run_dir / "report.html"
    if out.is_dir():
        raise ValueError(f"out must be a file path; {out} is a directory")
    record = load_run(run_dir)  # FileNotFoundError when run_dir is not a (checkpointed) run directory
    selection = None
    if (run_dir / "init").is_dir():
        from dd_explore.selection import Selection

        selection = Selection.load(run_dir / "init")
    dataset_note = ""
    if dataset is None:
        dataset = load_dataset_for(record, root=root)
        if dataset is None:
            src = record.config.get("run", {}).get("dataset", {}).get("source") or {}
            where_from = (f" (the run read its images from the folder {src.get('root')}; pass --root DIR with its "
                          "new place)" if src.get("loader") == "imagefolder" else "; pass dataset= or --root")
            dataset_note = ("The run's data set could not be loaded here, so the views of real images (thumbnails, "
                            f"embedding, draw counts on the embedding) are left out{where_from}.")
    if dataset is not None:
        _check_dataset(dataset, record)

    page = Page(title=f"dd_explore report: {run_dir.name}")
    classes = viz.class_names(record)
    mean, std = viz.pixel_stats(record)
    labels = record.train_labels
    n = labels.shape[0]
    rng = np.random.default_rng(random_state)

    # ---------------------------------------------------------------- embedding (shared by two views)
    emb = sprite = subset = None
    thumb_note = ""
    if dataset is not None:
        keep = np.unique(np.concatenate([np.asarray(selection.indices) if selection is not None else np.zeros(0, int),
                                         sensitivity.center_indices(selection) if selection is not None else np.zeros(0, int)]))
        subset = _embedded_subset(n, keep.astype(np.int64), rng)
        source = dataset.train if subset is None else dataset.train.subset(subset)
        emb = viz.compute_embedding(source, embedding, features="pixels", random_state=random_state, cache_dir=cache_dir)
        thumbs = thumbnail_points(n, selection, record.draw_counts, labels, random_state,
                                  budget=_thumbnail_budget(dataset.image_shape),
                                  among=subset)
        pix = viz.to_pixels(dataset.train.batch(thumbs, "cpu"), mean, std)
        sprite = make_sprite(pix, indices=thumbs, classes=classes, total=n if subset is None else int(subset.size))
        if thumbs.size < (n if subset is None else subset.size):
            thumb_note = (f"Hover thumbnails are kept for {thumbs.size:,} of the {n:,} train points (the chosen "
                          "points, the k-means centers, the highest- and lowest-scored and most-drawn points of each "
                          "class, then a random sample); the others say so on hover. The live SelectionExplorer "
                          "shows every image on demand.")
    if emb is not None and emb.fallback_reason:
        page.note(f"Embedding: {emb.fallback_reason}; PCA is shown instead.")

    def on_embedding(idx):
        """Global indices -> positions in the embedded subset (None stays None)."""
        if idx is None or subset is None:
            return idx
        return np.searchsorted(subset, np.asarray(idx))

    def sub(a):
        return a if subset is None else np.asarray(a)[subset]

    # ---------------------------------------------------------------- 1. sensitivity
    if selection is not None and not selection.method.startswith("sensitivity"):
        page.section("sensitivity", f"1. The initial selection ({selection.method})",
                     f"each real point's score from the {selection.method} method (uniform: 1/n_c; herding: the pick "
                     "order; k-center: distance to the nearest chosen point; see docs/selection.md). Red marks are "
                     "the points actually chosen.")
    else:
        page.section("sensitivity", "1. Sensitivity of the initial selection", HOW["sensitivity"])
    if selection is None:
        page.note(f"The run was initialized with init={record.config['run'].get('init')!r}: no selection, no scores.")
    elif not sensitivity.has_scores(selection):
        page.note(f"The init selection ({selection.method}) has no scores to show.")
    else:
        page.subheading("Score distribution per class", HOW["distribution"])
        page.figure(sensitivity.score_distribution_figure(selection, class_names=classes))
        page.subheading("Ranked scores, chosen points marked", HOW["ranked"])
        page.figure(sensitivity.ranked_scores_figure(selection, class_names=classes))
        detail = sensitivity.score_detail_figure(selection, class_names=classes)
        if detail is not None:
            page.subheading("What drives the score", HOW["distance"])
            page.figure(detail)
        if dataset is not None:
            page.subheading("Highest and lowest scored images", HOW["thumbnails"])
            page.figure(sensitivity.extreme_thumbnails_figure(selection, dataset.train, mean=mean, std=std,
                                                              class_names=classes))

    # ---------------------------------------------------------------- 2. embedding
    page.section("embedding", "2. The real points in 2-D", HOW["embedding"])
    if emb is None:
        page.note("Left out: the run's data set is not available here.")
    else:
        if subset is not None:
            page.note(f"{n} train points: a random {subset.size} of them are shown (every chosen point and center included).")
        if thumb_note:
            page.note(thumb_note)
        color = None
        if selection is not None and sensitivity.has_scores(selection):
            color = sub(np.asarray(selection.scores))
        fig = viz.embedding_figure(
            emb, sub(labels), color=color, marked=on_embedding(None if selection is None else selection.indices),
            marked_name="chosen (initial images)",
            centers=on_embedding(sensitivity.center_indices(selection) if selection is not None else None),
            class_names=classes, title=f"{emb.method.upper()} of the train split (pixels)", color_scale="auto")
        if subset is not None:
            _to_global(fig, subset)
        page.figure_with_hover_images(fig, "embedding", "train", sprite)

    # ---------------------------------------------------------------- 3. synthetic evolution
    page.section("evolution", "3. Synthetic images over the run", HOW["evolution"])
    page.figure(evolution.run_evolution_figure(record), div_id="evolution")
    page.subheading("Drift from the initial images", HOW["drift"])
    page.figure(evolution.run_drift_figure(record))

    # ---------------------------------------------------------------- 4. importance
    page.section("importance", "4. Which real points the batches drew", HOW["draws"])
    if importance.run_uses_importance(record):
        page.subheading("Sampling probability over steps", HOW["heatmap"])
        page.figure(importance.run_importance_heatmap_figure(record))
        page.subheading("Entropy and effective sample size", HOW["entropy"])
        page.figure(importance.run_entropy_figure(record))
    else:
        page.note(f"batches={record.config['run'].get('batches')!r}: real batches were drawn uniformly, "
                  "so there is no q_t to show; the draw counts below are the uniform baseline.")
    page.subheading("Draw counts")
    page.figure(importance.run_draw_count_figure(record))
    if emb is not None:
        page.subheading("Draw counts on the embedding", HOW["draws_embedding"])
        fig = viz.draw_count_embedding_figure(emb, sub(record.draw_counts), sub(labels),
                                              marked=on_embedding(None if selection is None else selection.indices),
                                              class_names=classes, color_scale="auto")
        if subset is not None:
            _to_global(fig, subset)
        page.figure_with_hover_images(fig, "draws-embedding", "train", sprite)

    # ---------------------------------------------------------------- 5. metrics
    page.section("metrics", "5. Loss and accuracy", HOW["loss"])
    if record.event_steps.shape[0]:
        page.figure(metrics.run_loss_figure(record))
    m = record.metrics or {}
    if m.get("history") or "initial" in m or "final" in m:
        page.subheading("Test accuracy", HOW["accuracy"])
        page.figure(metrics.run_accuracy_figure(record))
    else:
        page.note("No evaluation in this run (metrics.json is absent).")
    cross_arch_table(page, m)

    text = page.render(header=_header(record, selection, dataset_note))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)  # atomic: tmp file + rename, usual permissions
    logger.info("report written to %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def cross_arch_table(page: Page, metrics: dict) -> None:
    """The cross-architecture table of the final set (metrics.json's ``cross_arch``), when the run has one:
    one row per architecture, mean +- std over networks paired by seed, and the protocol they trained with."""
    cross = (metrics or {}).get("cross_arch")
    if not cross or not cross.get("rows"):
        return
    page.subheading(f"Cross-architecture evaluation of the final set (step {cross.get('step')})",
                    "fresh networks of each architecture trained on the final set; run r of every row used the same "
                    "seeds (paired), so rows differ by architecture only.")
    rows = []
    for r in cross["rows"]:
        p = r.get("protocol", {})
        nets = ", ".join(f"{100 * a:.1f}" for a in r.get("accuracies", []))
        cells = (p.get("model"), f"{100 * r['mean']:.2f} &plusmn; {100 * r.get('std', 0.0):.2f}", nets,
                 f"{p.get('name', '')}, {p.get('epochs')} epochs, {p.get('augment') or 'no augmentation'}")
        rows.append("<tr>" + "".join(f"<td>{c if i == 1 else html.escape(str(c))}</td>" for i, c in enumerate(cells)) + "</tr>")
    page.raw('<table class="config"><tr><th>model</th><th>accuracy %</th><th>each network %</th><th>protocol</th></tr>'
             + "".join(rows) + "</table>")


def _to_global(fig, subset: np.ndarray) -> None:
    """Rewrite customdata column 0 (positions in the embedded subset) to global train indices."""
    for tr in fig.data:
        cd = np.array(tr.customdata, dtype=np.float64)
        cd[:, 0] = subset[cd[:, 0].astype(np.int64)]
        tr.customdata = cd
