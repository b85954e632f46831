"""Figures, one module per subject: ``qc`` (plates and their QC), ``patient``
(dose-response curves, the AAC heatmap, forest and waterfalls, static and
interactive) and ``hierarchy`` (the multilevel structure). Functions take
labelled data and return figures; saving them is the caller's business
(cli.py, pages.py)."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
