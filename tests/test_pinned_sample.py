"""Behaviour pin: a fixed-seed guided DDIM-20 sample of the shipped MNIST checkpoint equals a stored tensor.

The tensor in ``tests/data/mnist_ddim20_pinned.pt`` was written before the package was reorganised
(issue: package layout). Any change to the schedule, the sampler, the guidance wrapper, the
parameterization conversions, the UNet or checkpoint loading that moves a pixel by more than
1e-4 fails here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from diffusion_course.checkpoints import load_pretrained
from diffusion_course.diffusion.guidance import guided
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.samplers import ddim

PINNED = Path(__file__).parent / "data" / "mnist_ddim20_pinned.pt"


def test_shipped_mnist_ddim20_sample_is_unchanged():
    ref = torch.load(PINNED, weights_only=True)
    model, cfg = load_pretrained("mnist-ddpm")
    s = cfg["schedule"]
    schedule = make_schedule(s["name"], T=s["T"], zero_terminal_snr=s["zero_terminal_snr"])
    x_T = torch.randn((len(ref["labels"]), 1, 28, 28), generator=torch.Generator().manual_seed(ref["seed"]))
    with torch.no_grad():
        x = ddim(
            guided(model, ref["labels"], ref["scale"], model.null_label),
            x_T,
            schedule,
            schedule.timesteps(ref["steps"], ref["spacing"]),
            prediction=cfg["prediction"],
            clip_x0=1.0,
        )
    assert (x - ref["x"]).abs().max().item() <= 1e-4
