"""Pipelines: a trained model in, images out, in pixel space or in a latent space followed by a decode."""

from __future__ import annotations

from .generate import Pipeline, balanced_labels, generate, pipeline_from_checkpoint
from .vae import generate_vae, reconstruct

__all__ = ["Pipeline", "pipeline_from_checkpoint", "generate", "balanced_labels", "generate_vae", "reconstruct"]
