"""Plots and widgets' drawing functions: image grids, 2-D point clouds, vector fields, bench plots.

Everything here draws; nothing here computes a result that a later cell depends on.
"""

from __future__ import annotations

from .fields import grid2d, plot_paths, plot_vector_field
from .images import image_grid, scatter2d, show_images

__all__ = ["image_grid", "show_images", "scatter2d", "grid2d", "plot_vector_field", "plot_paths"]
