"""Exact denoisers for Gaussian mixtures: the true eps, x0, v and score under any schedule.

If the data are a Gaussian mixture ``p(x0) = sum_k w_k N(mu_k, Sigma_k)``, the forward
marginal ``x_t = alpha x0 + sigma eps`` is again a mixture,
``x_t | k ~ N(alpha mu_k, alpha^2 Sigma_k + sigma^2 I)``, and Gaussian conditioning gives the
exact posterior mean (the optimal x0-prediction under the MSE loss)::

    r_k(x_t)         = w_k N(x_t; alpha mu_k, C_k) / sum_j w_j N(x_t; alpha mu_j, C_j)
    E[x0 | x_t, k]   = mu_k + alpha Sigma_k C_k^{-1} (x_t - alpha mu_k)
    E[x0 | x_t]      = sum_k r_k E[x0 | x_t, k]
    score            = grad log p_t(x_t) = (alpha E[x0 | x_t] - x_t) / sigma^2   (Tweedie)

with ``C_k = alpha^2 Sigma_k + sigma^2 I``. eps, v and the score follow from ``E[x0 | x_t]``
with the notation of CONTRIBUTING.md. ``MixtureDenoiser`` wraps this as a *model*
(``model(x_t, t, y=None)``), so samplers can be tested without training and notebooks can
separate the sampler's error from the model's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..diffusion.parameterization import PREDICTIONS

_F64 = torch.float64


def _as64(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=_F64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t


class Posterior(NamedTuple):
    """The exact posterior of a noised Gaussian mixture at one (alpha, sigma) per sample."""

    x0: torch.Tensor  # E[x0 | x_t], shape (B, D)
    eps: torch.Tensor  # E[eps | x_t] = (x_t - alpha x0) / sigma
    score: torch.Tensor  # grad_x log p_t(x_t) = -eps / sigma
    resp: torch.Tensor  # responsibilities r_k(x_t), shape (B, K)


class GaussianMixture:
    """A Gaussian mixture ``sum_k w_k N(mu_k, Sigma_k)`` in float64 (the toy data of the oracle).

    ``means`` (K, D), ``covs`` (K, D, D) symmetric positive semi-definite, ``weights`` (K,)
    positive (normalised here). Zero variances (point masses) are allowed: the denoiser is
    still exact for any ``sigma > 0``, which makes a finite data set an oracle too.
    """

    def __init__(self, means, covs, weights=None):
        means, covs = _as64(means, "means"), _as64(covs, "covs")
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        K, D = means.shape
        if covs.shape != (K, D, D):
            raise ValueError(f"covs must have shape (K, D, D) = {(K, D, D)}, got {tuple(covs.shape)}")
        if not torch.allclose(covs, covs.transpose(1, 2), atol=1e-12):
            raise ValueError("covs must be symmetric")
        weights = torch.full((K,), 1.0 / K, dtype=_F64) if weights is None else _as64(weights, "weights")
        if weights.shape != (K,) or (weights <= 0).any():
            raise ValueError(f"weights must be {K} positive numbers, got {weights.tolist()}")
        lam, U = torch.linalg.eigh(covs)  # Sigma_k = U_k diag(lam_k) U_k^T
        if (lam < -1e-10 * lam.abs().max().clamp_min(1.0)).any():
            raise ValueError("covs must be positive semi-definite")
        self.means, self.covs, self.weights = means, covs, weights / weights.sum()
        self._lam, self._U = lam.clamp_min(0.0), U
        self._chol = U * self._lam.sqrt().unsqueeze(1)  # A_k with A_k A_k^T = Sigma_k

    @property
    def K(self) -> int:
        return self.means.shape[0]

    @property
    def D(self) -> int:
        return self.means.shape[1]

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def isotropic(cls, means, std, weights=None) -> GaussianMixture:
        """A mixture with covariances ``diag(std^2)``; ``std`` a scalar, (K,) or (K, D)."""
        means = _as64(means, "means")
        std = _as64(std, "std")
        if (std < 0).any():
            raise ValueError("std must be >= 0")
        K, D = means.shape
        if std.ndim == 1 and std.shape[0] == K:
            std = std[:, None]  # one std per component
        try:
            std = std.expand(K, D)
        except RuntimeError:
            raise ValueError(f"std must be a scalar, ({K},) or ({K}, {D}); got {tuple(std.shape)}") from None
        return cls(means, torch.diag_embed(std**2), weights)

    @classmethod
    def ring(cls, k: int = 8, radius: float = 2.0, std: float = 0.1, weights=None) -> GaussianMixture:
        """``k`` equal round Gaussians on a circle (the classic 2-D toy of GAN mode collapse)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        angle = torch.arange(k, dtype=_F64) * (2 * math.pi / k)
        return cls.isotropic(radius * torch.stack([angle.cos(), angle.sin()], 1), std, weights)

    @classmethod
    def example_1d(cls) -> GaussianMixture:
        """Two 1-D components with unequal widths and weights: 0.3 N(-1.5, 0.2^2) + 0.7 N(1, 0.5^2)."""
        return cls.isotropic([[-1.5], [1.0]], [0.2, 0.5], [0.3, 0.7])

    @classmethod
    def example_2d(cls) -> GaussianMixture:
        """Three well-separated 2-D components, unequal weights 0.5/0.3/0.2, tilted covariances."""
        means = [[-2.0, -1.0], [2.0, -1.0], [0.0, 2.0]]
        covs = [
            [[0.30, 0.10], [0.10, 0.15]],
            [[0.10, -0.05], [-0.05, 0.25]],
            [[0.2, 0.0], [0.0, 0.05]],
        ]
        return cls(means, covs, [0.5, 0.3, 0.2])

    def noised(self, alpha: float, sigma: float) -> GaussianMixture:
        """The forward marginal of ``alpha x0 + sigma eps``: means alpha mu_k, covs alpha^2 Sigma_k + sigma^2 I."""
        eye = torch.eye(self.D, dtype=_F64)
        return GaussianMixture(alpha * self.means, alpha**2 * self.covs + sigma**2 * eye, self.weights)

    # ---- sampling and density -----------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        """Draw ``n`` exact samples; return ``(x (n, D) in dtype, component ids (n,) long)``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.D, dtype=_F64, generator=generator)
        x = self.means[k] + torch.einsum("nij,nj->ni", self._chol[k], z)
        return x.to(dtype), k

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log w_k + log N(x; mu_k, Sigma_k)`` for each row of ``x`` (B, D) and component: (B, K)."""
        return _noised_components(self, x.to(_F64), torch.ones(1, dtype=_F64), torch.zeros(1, dtype=_F64))[0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Mixture log-density ``log p(x)`` of each row of ``x`` (B, D), in float64."""
        return torch.logsumexp(self.component_log_prob(x), dim=1)

    def posterior(self, x_t: torch.Tensor, alpha, sigma, y: torch.Tensor | None = None) -> Posterior:
        """Exact posterior of ``x0`` given ``x_t = alpha x0 + sigma eps``, in float64.

        ``x_t`` (B, D); ``alpha``, ``sigma`` scalars or (B,) with ``sigma > 0``; ``y`` optional
        (B,) component ids (-1 = unconditional) to condition on the component.
        """
        x = x_t.to(_F64)
        B = x.shape[0]
        a, s = (_as64(v, name).reshape(-1).expand(B) for v, name in ((alpha, "alpha"), (sigma, "sigma")))
        if (s <= 0).any():
            raise ValueError("posterior needs sigma > 0; at sigma = 0 the data are observed exactly")
        logits, z, var = _noised_components(self, x, a, s)
        if y is not None:
            cond = y >= 0
            mask = torch.nn.functional.one_hot(y.clamp_min(0), self.K).bool() | ~cond[:, None]
            logits = logits.masked_fill(~mask, -math.inf)
        resp = torch.softmax(logits, dim=1)
        # E[x0 | x_t, k] = mu_k + alpha U_k diag(lam / (alpha^2 lam + sigma^2)) U_k^T (x_t - alpha mu_k)
        x0_k = torch.einsum("kdj,bkj->bkd", self._U, (self._lam / var) * z)
        x0 = self.means.T @ resp.T + a * torch.einsum("bk,bkd->db", resp, x0_k)
        eps = (x - (a * x0).T) / s[:, None]
        return Posterior(x0.T, eps, -eps / s[:, None], resp)


def _noised_components(mix: GaussianMixture, x: torch.Tensor, a: torch.Tensor, s: torch.Tensor):
    """Per row and component of the noised mixture: ``log w_k + log N(x; a mu_k, C_k)``, the
    whitening coordinates ``z = U_k^T (x - a mu_k)`` and the variances ``diag(U_k^T C_k U_k)``."""
    var = a.reshape(-1, 1, 1) ** 2 * mix._lam + s.reshape(-1, 1, 1) ** 2  # (B or 1, K, D)
    z = torch.einsum("kdj,bkd->bkj", mix._U, x[:, None, :] - a.reshape(-1, 1, 1) * mix.means)
    maha = (z * z / var).sum(-1)
    logdet = var.log().sum(-1)
    return mix.weights.log() - 0.5 * (maha + logdet + mix.D * math.log(2 * math.pi)), z, var


class MixtureDenoiser:
    """The Bayes-optimal denoiser of a Gaussian mixture noised by a schedule, usable as a model.

    ``MixtureDenoiser(mixture, schedule, prediction)(x_t, t, y=None)`` returns the exact eps,
    x0, v or score at integer timesteps ``t`` (int or (B,) long in ``0..T-1``), computed in float64
    and returned in ``x_t``'s dtype and shape. ``x_t`` is (B, D) or (B, *shape) with
    ``prod(shape) == D``. ``y`` (int or (B,) long) conditions on a component; entries equal to
    ``null_label`` (default ``K``, the extra "no label" class of classifier-free guidance) or -1
    mean unconditional.
    """

    def __init__(
        self,
        mixture: GaussianMixture,
        schedule,
        prediction: str = "eps",
        null_label: int | None = None,
    ):
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; expected one of {PREDICTIONS}")
        self.mixture, self.schedule, self.prediction = mixture, schedule, prediction
        self.null_label = mixture.K if null_label is None else int(null_label)
        self._abar = torch.as_tensor(schedule.alpha_bar, dtype=_F64)

    def _labels(self, y, B: int) -> torch.Tensor | None:
        if y is None:
            return None
        y = torch.as_tensor(y, dtype=torch.long).cpu().reshape(-1).expand(B)
        y = torch.where(y == self.null_label, torch.full_like(y, -1), y)
        if ((y < -1) | (y >= self.mixture.K)).any():
            raise ValueError(f"labels must be component ids in 0..{self.mixture.K - 1} or null_label={self.null_label}")
        return y

    def __call__(self, x_t: torch.Tensor, t, y=None) -> torch.Tensor:
        if not x_t.is_floating_point():
            raise ValueError(f"x_t must be a floating tensor, got {x_t.dtype}")
        B, T = x_t.shape[0], self._abar.shape[0]
        t = torch.as_tensor(t).cpu().reshape(-1).expand(B)
        if t.is_floating_point() or ((t < 0) | (t >= T)).any():
            raise ValueError(f"t must hold integer timesteps in 0..{T - 1}")
        x = x_t.reshape(B, -1)
        if x.shape[1] != self.mixture.D:
            raise ValueError(f"x_t has {x.shape[1]} features per sample; the mixture has D={self.mixture.D}")
        abar = self._abar[t]
        a, s = abar.sqrt(), (1 - abar).sqrt()
        post = self.mixture.posterior(x.cpu(), a, s, self._labels(y, B))
        out = {
            "x0": post.x0,
            "eps": post.eps,
            "score": post.score,
            "v": a[:, None] * post.eps - s[:, None] * post.x0,
        }[self.prediction]
        return out.to(device=x_t.device, dtype=x_t.dtype).reshape(x_t.shape)
