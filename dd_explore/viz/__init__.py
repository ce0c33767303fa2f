"""Pure plotly figure builders: results in, ``plotly.graph_objects.Figure`` out; never ``show()``.

Views (docs/views.md explains how to read each one):
  sensitivity  score distribution, ranked curve with the chosen points, score vs distance to center
               (k-means) / leverage vs residual (KRR), highest/lowest-scored thumbnails
  embedding    UMAP/PCA of the real points (cached), colour = score, chosen points and centers marked
  evolution    per-class synthetic grid with a step slider and play; drift from the initial images
  importance   q_t heatmap, entropy / ESS curve, draw-count histogram, draw counts on the embedding
  metrics      loss curve, accuracy over steps / initial vs final, run-vs-run bars with error bars
  images       denormalized pixels, PNG tiles, image-grid figures with per-tile hover
``run_*`` builders take a ``dd_explore.distill.RunRecord``; the others take arrays or a ``Selection``.
``pixel_stats`` / ``class_names`` / ``dataset_info`` read a run record's data-set facts for display.
"""

from dd_explore.viz.embedding import Embedding, compute_embedding, default_cache_dir, embedding_figure
from dd_explore.viz.evolution import drift, drift_figure, evolution_figure, run_drift_figure, run_evolution_figure
from dd_explore.viz.images import image_grid_figure, png_bytes, png_data_uri, tile, to_pixels
from dd_explore.viz.importance import (
    draw_count_embedding_figure,
    draw_count_figure,
    entropy_ess,
    entropy_figure,
    importance_heatmap_figure,
    importance_histogram_figure,
    relative_to_uniform,
    run_draw_count_embedding_figure,
    run_draw_count_figure,
    run_entropy_figure,
    run_importance_heatmap_figure,
    run_uses_importance,
)
from dd_explore.viz.run_data import class_names, dataset_info, pixel_stats
from dd_explore.viz.metrics import accuracy_figure, comparison_figure, loss_figure, run_accuracy_figure, run_loss_figure
from dd_explore.viz.sensitivity import (
    center_indices,
    extreme_thumbnails_figure,
    has_scores,
    ranked_scores_figure,
    score_detail_figure,
    score_distribution_figure,
    selection_embedding_figure,
)

__all__ = [
    "Embedding",
    "accuracy_figure",
    "center_indices",
    "class_names",
    "comparison_figure",
    "compute_embedding",
    "dataset_info",
    "default_cache_dir",
    "draw_count_embedding_figure",
    "draw_count_figure",
    "drift",
    "drift_figure",
    "embedding_figure",
    "entropy_ess",
    "entropy_figure",
    "evolution_figure",
    "extreme_thumbnails_figure",
    "has_scores",
    "image_grid_figure",
    "importance_heatmap_figure",
    "importance_histogram_figure",
    "loss_figure",
    "pixel_stats",
    "png_bytes",
    "png_data_uri",
    "ranked_scores_figure",
    "relative_to_uniform",
    "run_accuracy_figure",
    "run_draw_count_embedding_figure",
    "run_draw_count_figure",
    "run_drift_figure",
    "run_entropy_figure",
    "run_evolution_figure",
    "run_importance_heatmap_figure",
    "run_loss_figure",
    "run_uses_importance",
    "score_detail_figure",
    "score_distribution_figure",
    "selection_embedding_figure",
    "tile",
    "to_pixels",
]
