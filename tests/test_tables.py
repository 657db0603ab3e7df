"""tables: the side-by-side join of result tables."""

from __future__ import annotations

from diffusion_course import tables


def test_side_by_side_joins_on_the_key_and_leaves_blanks():
    a = [{"sampler": "heun", "steps": 10, "fid": 2510.0}, {"sampler": "ddim", "steps": 10, "fid": 132.0}]
    b = [{"sampler": "heun", "steps": 10, "fid": 120.0}, {"sampler": "em", "steps": 10, "fid": 5750.0}]
    rows = tables.side_by_side({"trailing": a, "log-SNR": b}, ("sampler", "steps"), {"FID": "fid"})
    assert rows == [
        {"sampler": "heun", "steps": 10, "FID trailing": 2510.0, "FID log-SNR": 120.0},
        {"sampler": "ddim", "steps": 10, "FID trailing": 132.0, "FID log-SNR": ""},
        {"sampler": "em", "steps": 10, "FID trailing": "", "FID log-SNR": 5750.0},
    ]
