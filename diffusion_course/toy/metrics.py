"""Sample-quality metrics for 2-D (and other low-dimensional) toys.

- ``sliced_wasserstein``: sliced 2-Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015);
- ``wasserstein2_exact``: exact W2 between two equal-size point clouds (optimal assignment);
- ``mmd_rbf``: unbiased multi-bandwidth RBF-kernel MMD^2 (Gretton et al. 2012);
- ``mixture_log_likelihood`` and ``mode_coverage``: against a known Gaussian mixture;
- ``escaped``: which samples a sampler flung far from the data (or to NaN);
- ``evaluate_2d``: all of them in one small table of rounded numbers.

Every distance is 0 for identical distributions; on finite samples the "real-vs-real floor"
(two independent samples of the same distribution) is the smallest value one can expect.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..tables import round_sig

_F64 = torch.float64


def _points(x: Any, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", _F64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be a (N, D) point cloud with N >= 2, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _points(a, "a"), _points(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    return a, b


# ----------------------------------------------------------------------------- distances


def _quantiles(proj: torch.Tensor, m: int) -> torch.Tensor:
    """Empirical quantile function of each column of ``proj`` (n, P) at m mid-point levels."""
    n = proj.shape[0]
    srt = proj.sort(dim=0).values
    if n == m:
        return srt
    idx = ((torch.arange(m, dtype=_F64) + 0.5) * n / m).floor().long().clamp_(0, n - 1)
    return srt[idx]


def sliced_wasserstein(a: Any, b: Any, n_projections: int = 256, generator: torch.Generator | None = None) -> float:
    """Sliced 2-Wasserstein distance (Rabin et al. 2011): sqrt of the mean over random unit
    directions of W2^2 between the 1-D projections (exact 1-D W2 by sorting/quantiles)."""
    a, b = _pair(a, b)
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    theta = torch.randn(a.shape[1], n_projections, generator=g, dtype=_F64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    m = max(a.shape[0], b.shape[0])
    diff = _quantiles(a @ theta, m) - _quantiles(b @ theta, m)
    return float(diff.pow(2).mean().sqrt())


def wasserstein2_exact(a: Any, b: Any, max_n: int = 3000) -> float:
    """Exact 2-Wasserstein distance between two equal-size empirical distributions: an optimal
    assignment on squared distances (Kuhn 1955, via scipy's ``linear_sum_assignment``)."""
    from scipy.optimize import linear_sum_assignment

    a, b = _pair(a, b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"exact W2 needs equal sample counts, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[0] > max_n:
        raise ValueError(f"exact W2 is O(n^3); n = {a.shape[0]} > max_n = {max_n}: use sliced_wasserstein")
    cost = torch.cdist(a, b).pow(2).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(math.sqrt(cost[rows, cols].mean()))


def median_bandwidth(x: Any, max_points: int = 2000) -> float:
    """Median heuristic (Gretton et al. 2012): the median pairwise distance of ``x``."""
    x = _points(x, "x")[:max_points]
    d = torch.pdist(x)
    return float(d.median()) if d.numel() else 1.0


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, gammas: torch.Tensor) -> torch.Tensor:
    """Sum over all pairs of sum_k exp(-gamma_k |x_i - y_j|^2), in row chunks (bounded memory)."""
    total = torch.zeros((), dtype=_F64)
    chunk = max(1, 4_000_000 // y.shape[0])
    y2 = y.pow(2).sum(1)
    for i in range(0, x.shape[0], chunk):
        xc = x[i : i + chunk]
        d2 = (xc.pow(2).sum(1, keepdim=True) + y2 - 2 * xc @ y.T).clamp_(min=0)
        for gamma in gammas.tolist():
            total += torch.exp(d2 * -gamma).sum()
    return total


def mmd_rbf(a: Any, b: Any, bandwidths: Any = None) -> float:
    """Unbiased squared maximum mean discrepancy with a sum of RBF kernels (Gretton et al. 2012).

    ``k(x, y) = mean_h exp(-|x - y|^2 / (2 h^2))`` over the ``bandwidths`` h. Default:
    the median pairwise distance of ``b`` (the reference) times 2^-4 ... 2^1, so that a
    fixed reference gives fixed kernels for every sample set compared with it. The unbiased
    estimate drops the diagonal terms and can be slightly negative near 0.
    """
    a, b = _pair(a, b)
    if bandwidths is None:
        h0 = median_bandwidth(b)
        bandwidths = [h0 * 2.0**e for e in range(-4, 2)]
    h = torch.as_tensor(bandwidths, dtype=_F64).reshape(-1)
    if h.numel() == 0 or (h <= 0).any():
        raise ValueError(f"bandwidths must be positive numbers, got {h.tolist()}")
    gammas = 1.0 / (2 * h**2)
    n, m, k = a.shape[0], b.shape[0], h.numel()
    k_aa = (_kernel_sum(a, a, gammas) - n * k) / (n * (n - 1))  # each diagonal term is exp(0) = 1
    k_bb = (_kernel_sum(b, b, gammas) - m * k) / (m * (m - 1))
    k_ab = _kernel_sum(a, b, gammas) / (n * m)
    return float((k_aa + k_bb - 2 * k_ab) / k)


def escaped(x: Any, radius: float) -> torch.Tensor:
    """Escaped samples: a boolean mask (N,) of the points further than ``radius`` from the origin
    (Euclidean norm) or not finite, so that a diverged sampler's NaN or inf counts as escaped;
    ``.sum()`` counts them. The sliced W2 averages squared distances, so a handful of such points
    can dominate it: count them separately."""
    x = torch.as_tensor(x).detach().to("cpu", _F64)
    if x.ndim != 2:
        raise ValueError(f"x must be a (N, D) point cloud, got shape {tuple(x.shape)}")
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    finite = torch.isfinite(x).all(dim=1)
    return ~finite | (x.nan_to_num(0.0, 0.0, 0.0).norm(dim=1) > radius)


# ----------------------------------------------------------------------------- mixtures


def mixture_log_likelihood(x: Any, mixture: Any) -> float:
    """Mean log-density (nats per sample) of ``x`` under the true mixture: ``mean_i log p(x_i)``."""
    x = _points(x, "x")
    if not hasattr(mixture, "log_prob"):
        raise ValueError("mixture must have a log_prob(x) method (e.g. oracle.GaussianMixture)")
    return float(mixture.log_prob(x).double().mean())


def _component_log_prob(x: torch.Tensor, mixture: Any) -> torch.Tensor:
    """log w_k + log N(x; mu_k, Sigma_k), shape (N, K); uses the mixture's own method when it has one."""
    if hasattr(mixture, "component_log_prob"):
        return torch.as_tensor(mixture.component_log_prob(x)).to(_F64)
    means = torch.as_tensor(mixture.means, dtype=_F64)
    covs = mixture.covs if hasattr(mixture, "covs") else mixture.covariances
    covs = torch.as_tensor(covs, dtype=_F64)
    w = torch.as_tensor(mixture.weights, dtype=_F64)
    dist = torch.distributions.MultivariateNormal(means, covariance_matrix=covs)
    return dist.log_prob(x.unsqueeze(1)) + (w / w.sum()).log()


def mode_coverage(x: Any, mixture: Any, min_share: float = 0.25) -> dict:
    """Mode coverage against a Gaussian mixture (as in the GAN mode-collapse studies, e.g.
    Srivastava et al. 2017): assign each sample to its most likely component (largest
    ``w_k N(x; mu_k, Sigma_k)``); a component is *covered* when it receives at least
    ``min_share`` times its true weight's share of the samples.

    Returns ``{"n", "n_modes", "modes_covered", "coverage", "covered", "weights",
    "true_weights", "weight_tv"}``: ``weights`` are the empirical shares per component and
    ``weight_tv`` the total-variation distance between them and the true weights.
    """
    x = _points(x, "x")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    logp = _component_log_prob(x, mixture)
    K = logp.shape[1]
    true_w = torch.as_tensor(mixture.weights, dtype=_F64)
    true_w = true_w / true_w.sum()
    share = torch.bincount(logp.argmax(1), minlength=K).to(_F64) / x.shape[0]
    covered = share >= min_share * true_w
    return {
        "n": int(x.shape[0]),
        "n_modes": K,
        "modes_covered": int(covered.sum()),
        "coverage": float(covered.to(_F64).mean()),
        "covered": covered.tolist(),
        "weights": share.tolist(),
        "true_weights": true_w.tolist(),
        "weight_tv": float(0.5 * (share - true_w).abs().sum()),
    }


def evaluate_2d(
    samples: Any,
    mixture_or_reference: Any,
    n_projections: int = 256,
    generator: torch.Generator | None = None,
    mmd_max_n: int = 2000,
) -> dict:
    """Evaluate 2-D samples against a known mixture (also log-likelihood and mode coverage) or
    against reference points; returns a dict of numbers rounded to 3 significant digits.

    With a mixture, the reference for the distances is ``len(samples)`` fresh mixture samples
    drawn with ``generator`` (default seed 0), so the numbers include the sampling noise of a
    real-vs-real comparison at the same count. MMD (O(n^2)) uses the first ``mmd_max_n`` points
    of each set.
    """
    x = _points(samples, "samples")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    target = mixture_or_reference
    out: dict[str, Any] = {"n": int(x.shape[0])}
    if hasattr(target, "sample") and hasattr(target, "log_prob"):
        ref = target.sample(x.shape[0], generator=g)
        ref = ref[0] if isinstance(ref, tuple) else ref
    else:
        ref = target
    ref = _points(ref, "reference")
    out["n_reference"] = int(ref.shape[0])
    out["sliced_w2"] = round_sig(sliced_wasserstein(x, ref, n_projections, generator=g))
    out["mmd_rbf"] = round_sig(mmd_rbf(x[:mmd_max_n], ref[:mmd_max_n]))
    if hasattr(target, "log_prob"):
        out["log_likelihood"] = round_sig(mixture_log_likelihood(x, target))
        cov = mode_coverage(x, target)
        out["modes_covered"] = f"{cov['modes_covered']}/{cov['n_modes']}"
        out["mode_weight_tv"] = round_sig(cov["weight_tv"])
    return out
