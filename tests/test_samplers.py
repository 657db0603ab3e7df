"""Tests of the samplers against the exact Gaussian-mixture oracle (no training needed).

Reference numbers (example_2d mixture, linear schedule T=1000, seeds below), measured when
these tests were written: mean ODE error vs a fine solve of the same ODE from the same x_T,
logSNR-spaced steps, 10 / 20 steps: DDIM 0.37 / 0.18, DPM-Solver++(2) 0.18 / 0.046;
trailing spacing: DDIM 0.20 / 0.11, DPM-Solver++(2) 0.15 / 0.048. (With leading or linspace
spacing the last jump 111 -> 0 spans 3.6 in log-SNR and 2M's extrapolation overshoots at 10
steps: DDIM 0.19 vs DPM-Solver++(2) 0.29; the spacing matters.)
"""

import math

import pytest
import torch

from diffusion_course import samplers as S
from diffusion_course.diffusion.guidance import guided
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.diffusion.spacing import logsnr_timesteps
from diffusion_course.toy.oracle import GaussianMixture, MixtureDenoiser

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: one thread is faster and immune to a busy machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


SCHED = make_schedule("linear")
MIX = GaussianMixture.example_2d()
DEN = MixtureDenoiser(MIX, SCHED, "eps")
SHORT = make_schedule("linear", T=200)  # for the identities over all timesteps (fewer steps)
DEN_SHORT = MixtureDenoiser(MIX, SHORT, "eps")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def x_T(n, seed=0, dtype=F64):
    return torch.randn(n, 2, generator=gen(seed), dtype=dtype)


def mixture_errors(x):
    """Largest errors of component weights, means and covariances (samples assigned by density)."""
    k = MIX.component_log_prob(x).argmax(1)
    w = torch.bincount(k, minlength=MIX.K).double() / len(x)
    dm = max((x[k == j].double().mean(0) - MIX.means[j]).abs().max().item() for j in range(MIX.K))
    dc = max((torch.cov(x[k == j].double().T) - MIX.covs[j]).abs().max().item() for j in range(MIX.K))
    return (w - MIX.weights).abs().max().item(), dm, dc


_REF = MIX.sample(20000, gen(9), dtype=F64)[0]


def sliced_w1(x, ref=_REF, n_proj=16):
    """Sliced 1-Wasserstein distance on fixed directions (quantile matching)."""
    th = torch.arange(n_proj, dtype=F64) * (math.pi / n_proj)
    d = torch.stack([th.cos(), th.sin()], 1)
    q = (torch.arange(1000, dtype=F64) + 0.5) / 1000
    return (torch.quantile(x.double() @ d.T, q, dim=0) - torch.quantile(ref @ d.T, q, dim=0)).abs().mean().item()


# ---- exact identities -------------------------------------------------------------------


def test_ddim_eta0_is_deterministic_and_ignores_generator():
    ts = SCHED.timesteps(20)
    a = S.ddim(DEN, x_T(64), SCHED, ts, generator=gen(1))
    b = S.ddim(DEN, x_T(64), SCHED, ts, generator=gen(2))
    c = S.ddim(DEN, x_T(64), SCHED, ts)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.allclose(a, S.ddim(DEN, x_T(64, seed=1), SCHED, ts))


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_dpm_solver_order1_and_pf_ode_euler_equal_ddim(spacing):
    ts = SCHED.timesteps(15, spacing)
    ref = S.ddim(DEN, x_T(128), SCHED, ts)
    assert torch.allclose(S.dpm_solver_pp(DEN, x_T(128), SCHED, ts, order=1), ref, atol=1e-10)
    assert torch.allclose(S.pf_ode_euler(DEN, x_T(128), SCHED, ts), ref, atol=1e-10)


@pytest.mark.filterwarnings("ignore:leading spacing:UserWarning")  # that warning has its own test
@pytest.mark.parametrize("n_steps", [200, 37])
def test_ddim_eta1_equals_ddpm_given_the_same_noise(n_steps):
    ts = SHORT.timesteps(n_steps)
    a = S.ddpm(DEN_SHORT, x_T(32), SHORT, ts, generator=gen(3))
    b = S.ddim(DEN_SHORT, x_T(32), SHORT, ts, generator=gen(3), eta=1.0)
    assert torch.allclose(a, b, atol=1e-8)
    assert not torch.allclose(a, S.ddpm(DEN_SHORT, x_T(32), SHORT, ts, generator=gen(4)))


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_ddpm_over_all_timesteps_is_ho_algorithm_2(variance):
    """x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z (Ho et al. 2020)."""
    betas, alphas, abar = SHORT.betas, SHORT.alphas, SHORT.alpha_bar
    x, g = x_T(16), gen(5)
    for t in range(SHORT.T - 1, -1, -1):
        eps = DEN_SHORT(x, torch.full((16,), t))
        x = (x - betas[t] / (1 - abar[t]).sqrt() * eps) / alphas[t].sqrt()
        if t > 0:
            var = betas[t] * (1 - abar[t - 1]) / (1 - abar[t]) if variance == "posterior" else betas[t]
            x = x + var.sqrt() * torch.randn(x.shape, generator=g, dtype=F64)
    ours = S.ddpm(DEN_SHORT, x_T(16), SHORT, SHORT.timesteps(SHORT.T), generator=gen(5), variance=variance)
    assert torch.allclose(ours, x, atol=1e-8)


@pytest.mark.parametrize("prediction", ["x0", "v", "score"])
def test_samplers_accept_every_prediction_type(prediction):
    model = MixtureDenoiser(MIX, SCHED, prediction)
    ts = SCHED.timesteps(10)
    for sampler in (S.ddim, S.dpm_solver_pp, S.pf_ode_heun):
        assert torch.allclose(
            sampler(model, x_T(32), SCHED, ts, prediction=prediction),
            sampler(DEN, x_T(32), SCHED, ts),
            atol=1e-8,
        )


def test_dpm_solver_pp_corrections_integrate_polynomials_exactly():
    """The 3M step is exact when x0(lambda) is quadratic: check against the integral."""
    from diffusion_course.samplers.dpm_solver import _dpmpp_D

    lams, lam_s = [-1.0, -0.2, 0.5], 1.7
    f = lambda lam: 0.3 - 0.7 * lam + 0.25 * lam**2  # noqa: E731
    u = torch.linspace(lams[-1], lam_s, 200001, dtype=F64)
    w = torch.exp(u - lam_s)  # the exponential integrator's weight over [lambda_t, lambda_s]
    exact = torch.trapezoid(w * f(u), u) / torch.trapezoid(w, u)
    x0s = [torch.tensor([f(lam)], dtype=F64) for lam in lams]
    assert abs(_dpmpp_D(3, lam_s - lams[-1], lams, x0s).item() - exact.item()) < 1e-8
    # order 2 is Lu et al.'s D = (1 + 1/2r) m0 - 1/2r m1
    r = (lams[2] - lams[1]) / (lam_s - lams[2])
    assert torch.allclose(_dpmpp_D(2, lam_s - lams[-1], lams, x0s), (1 + 0.5 / r) * x0s[2] - 0.5 / r * x0s[1])


# ---- every sampler reproduces the mixture ----------------------------------------------

CASES = {  # sampler, timesteps, options, tolerances (weights, means, covariances)
    "ddpm": (S.ddpm, SCHED.timesteps(250), {}, (0.03, 0.06, 0.06)),
    "ddpm_beta": (S.ddpm, SCHED.timesteps(250), {"variance": "beta"}, (0.03, 0.06, 0.06)),
    "ddim": (S.ddim, SCHED.timesteps(50), {}, (0.04, 0.08, 0.08)),
    "ddim_eta": (S.ddim, SCHED.timesteps(100), {"eta": 0.5}, (0.03, 0.06, 0.06)),
    "dpm_solver_pp": (S.dpm_solver_pp, SCHED.timesteps(20, "trailing"), {}, (0.04, 0.08, 0.08)),
    "dpm_solver_pp3": (
        S.dpm_solver_pp,
        logsnr_timesteps(SCHED, 15),
        {"order": 3},
        (0.04, 0.08, 0.08),
    ),
    "pf_ode_euler": (S.pf_ode_euler, SCHED.timesteps(50), {}, (0.04, 0.08, 0.08)),
    "pf_ode_heun": (S.pf_ode_heun, SCHED.timesteps(25), {}, (0.04, 0.08, 0.08)),
    "reverse_sde_em": (S.reverse_sde_em, SCHED.timesteps(250), {}, (0.03, 0.06, 0.06)),
    "annealed_langevin": (
        S.annealed_langevin,
        logsnr_timesteps(SCHED, 20),
        {"n_inner": 20},
        (0.04, 0.1, 0.1),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sampler_reproduces_the_mixture(name):
    sampler, ts, opts, (tol_w, tol_m, tol_c) = CASES[name]
    stats = {}
    x = sampler(DEN, x_T(2000, dtype=torch.float32), SCHED, ts, generator=gen(1), stats=stats, **opts)
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    dw, dm, dc = mixture_errors(x)
    assert dw < tol_w and dm < tol_m and dc < tol_c, (dw, dm, dc)
    n = len(ts)
    expected_nfe = {"pf_ode_heun": 2 * n - 1, "annealed_langevin": n * opts.get("n_inner", 0) + 1}
    assert stats["nfe"] == expected_nfe.get(name, n)


# ---- convergence ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ode_reference():
    """A fine solve of the probability-flow ODE from fixed x_T (error ~1e-5, see below)."""
    x = x_T(256, seed=7)
    return x, S.dpm_solver_pp(DEN, x, SCHED, logsnr_timesteps(SCHED, 300), order=3)


def test_fine_ode_solvers_agree(ode_reference):
    """Two different methods converge to the same ODE solution (Heun: 499 evaluations)."""
    x, ref = ode_reference
    heun = S.pf_ode_heun(DEN, x, SCHED, logsnr_timesteps(SCHED, 250))
    assert (heun - ref).norm(dim=1).mean() < 5e-4


def ode_error(sampler, x, ref, ts, **kw):
    return (sampler(DEN, x, SCHED, ts, **kw) - ref).norm(dim=1).mean().item()


@pytest.mark.parametrize(
    "sampler, kw, min_ratio",
    [
        (S.ddim, {}, 1.7),
        (S.pf_ode_heun, {}, 3.0),
        (S.dpm_solver_pp, {"order": 2}, 2.5),
        (S.dpm_solver_pp, {"order": 3}, 3.0),
    ],
)
def test_ode_error_shrinks_with_steps(ode_reference, sampler, kw, min_ratio):
    """Doubling the logSNR-spaced steps cuts the error by ~2 (1st order) or ~4+ (higher order)."""
    x, ref = ode_reference
    errs = [ode_error(sampler, x, ref, logsnr_timesteps(SCHED, n), **kw) for n in (10, 20, 40)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[1] / errs[2] > min_ratio, errs


@pytest.mark.parametrize("spacing", ["logsnr", "trailing"])
def test_dpm_solver_pp2_beats_ddim_at_few_steps(ode_reference, spacing):
    x, ref = ode_reference
    for n in (10, 20):
        ts = logsnr_timesteps(SCHED, n) if spacing == "logsnr" else SCHED.timesteps(n, spacing)
        e_ddim, e_dpm = ode_error(S.ddim, x, ref, ts), ode_error(S.dpm_solver_pp, x, ref, ts)
        assert e_dpm < 0.8 * e_ddim, (n, e_ddim, e_dpm)
        # and as a distribution: sliced W1 to exact samples
        xs = x_T(2000)
        assert sliced_w1(S.dpm_solver_pp(DEN, xs, SCHED, ts)) < 0.8 * sliced_w1(S.ddim(DEN, xs, SCHED, ts))


@pytest.mark.parametrize(
    "sampler, coarse, fine, kw",
    [
        (S.ddpm, 10, 100, {}),
        (S.reverse_sde_em, 25, 100, {}),
        (S.annealed_langevin, 20, 20, {"n_inner": 2}),  # vs the default n_inner=20 below
    ],
)
def test_stochastic_samplers_get_closer_with_more_steps(sampler, coarse, fine, kw):
    x = x_T(2000)
    far = sliced_w1(sampler(DEN, x, SCHED, logsnr_timesteps(SCHED, coarse), generator=gen(1), **kw))
    near = sliced_w1(sampler(DEN, x, SCHED, logsnr_timesteps(SCHED, fine), generator=gen(1)))
    exact_floor = sliced_w1(MIX.sample(2000, gen(5), dtype=F64)[0])
    assert near < 0.6 * far and near < 2.5 * exact_floor, (far, near, exact_floor)


# ---- guidance ---------------------------------------------------------------------------


class CountingModel:
    def __init__(self, model):
        self.model, self.calls, self.batches = model, 0, []

    def __call__(self, x, t, y=None):
        self.calls += 1
        self.batches.append(x.shape[0])
        return self.model(x, t, y)


@pytest.mark.parametrize("y", [2, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])])
def test_guidance_scales_one_and_zero_are_conditional_and_unconditional(y):
    x, t = x_T(8), torch.full((8,), 600)
    m = CountingModel(DEN)
    cond, uncond = DEN(x, t, y), DEN(x, t)
    assert torch.allclose(guided(m, y, 1.0, null_label=3)(x, t), cond, atol=1e-12)
    assert torch.allclose(guided(m, y, 0.0, null_label=3)(x, t), uncond, atol=1e-12)
    assert torch.allclose(guided(m, y, 3.0, null_label=3)(x, t), uncond + 3.0 * (cond - uncond), atol=1e-12)
    assert m.calls == 3 and m.batches == [16, 16, 16]  # one forward pass on a doubled batch each


def test_guided_sampling_lands_in_the_chosen_component():
    x = S.ddim(guided(DEN, 2, 1.0, null_label=3), x_T(500), SCHED, SCHED.timesteps(25))
    k = MIX.component_log_prob(x).argmax(1)
    assert (k == 2).float().mean() > 0.99


# ---- options, callback, edge cases --------------------------------------------------------


def test_callback_reports_every_step_and_clip_bounds_x0():
    infos = []
    ts = SCHED.timesteps(8)
    x = S.ddim(DEN, x_T(64), SCHED, ts, callback=infos.append, clip_x0=0.5)
    assert [i["i"] for i in infos] == list(range(8)) and [i["t"] for i in infos] == ts.tolist()
    assert [i["nfe"] for i in infos] == list(range(1, 9)) and torch.equal(infos[-1]["x"], x)
    assert all(i["x0_pred"].abs().max() <= 0.5 for i in infos) and x.abs().max() <= 0.5


def test_zero_terminal_snr_with_v_prediction():
    sched = make_schedule("linear", zero_terminal_snr=True)
    model = MixtureDenoiser(MIX, sched, "v")
    ts = sched.timesteps(30, "trailing")
    assert ts[0] == sched.T - 1 and sched.alpha_bar[-1] == 0
    for sampler in (S.ddim, S.dpm_solver_pp, S.pf_ode_euler, S.ddpm):
        x = sampler(model, x_T(2000, dtype=torch.float32), sched, ts, prediction="v", generator=gen(1))
        dw, dm, dc = mixture_errors(x)
        assert dw < 0.04 and dm < 0.1 and dc < 0.1, (sampler.__name__, dw, dm, dc)


def test_logsnr_timesteps():
    for n in (1, 2, 10, 50, 1000):
        ts = logsnr_timesteps(SCHED, n)
        assert len(ts) == n and ts[0] == 999 and (n == 1 or ts[-1] == 0)
        assert (ts[1:] < ts[:-1]).all()
    lam = 0.5 * (SCHED.alpha_bar.log() - torch.log1p(-SCHED.alpha_bar))[logsnr_timesteps(SCHED, 10)]
    assert (lam.diff() - lam.diff().mean()).abs().max() < 0.15  # nearly uniform in lambda


def test_logsnr_timesteps_with_zero_terminal_snr():
    """lambda_{T-1} = -inf must not collapse the grid onto the last timesteps."""
    sched = make_schedule("cosine", T=1000, zero_terminal_snr=True)
    ts = logsnr_timesteps(sched, 10)
    assert ts[0] == 999 and ts[-1] == 0 and (ts[1:] < ts[:-1]).all()
    lam = 0.5 * (sched.alpha_bar.log() - torch.log1p(-sched.alpha_bar))[ts[1:]]  # finite part
    assert torch.isfinite(lam).all() and (lam.diff() - lam.diff().mean()).abs().max() < 0.25


ALL = [
    S.ddpm,
    S.ddim,
    S.dpm_solver_pp,
    S.pf_ode_euler,
    S.pf_ode_heun,
    S.reverse_sde_em,
    S.annealed_langevin,
]


@pytest.mark.parametrize("sampler", ALL)
@pytest.mark.parametrize(
    "timesteps, match",
    [
        ([], "non-empty"),
        ([5, 10], "strictly descending"),
        ([10, 10, 3], "strictly descending"),
        ([1000, 5], "0..999"),
        ([5, -1], "0..999"),
        ([5.0, 1.0], "integers"),
    ],
)
def test_bad_timesteps(sampler, timesteps, match):
    with pytest.raises(ValueError, match=match):
        sampler(DEN, x_T(2), SCHED, timesteps)


@pytest.mark.parametrize("sampler", ALL)
def test_bad_common_inputs(sampler):
    with pytest.raises(ValueError, match="unknown prediction"):
        sampler(DEN, x_T(2), SCHED, [5, 0], prediction="noise")
    with pytest.raises(ValueError, match="floating"):
        sampler(DEN, torch.zeros(2, 2, dtype=torch.long), SCHED, [5, 0])
    with pytest.raises(ValueError, match="clip_x0"):
        sampler(DEN, x_T(2), SCHED, [5, 0], clip_x0=-1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: S.ddpm(DEN, x_T(2), SCHED, [5, 0], variance="fixed"), "variance"),
        (lambda: S.ddim(DEN, x_T(2), SCHED, [5, 0], eta=-0.1), "eta"),
        (lambda: S.dpm_solver_pp(DEN, x_T(2), SCHED, [5, 0], order=4), "order"),
        (lambda: S.annealed_langevin(DEN, x_T(2), SCHED, [5, 0], n_inner=0), "n_inner"),
        (lambda: S.annealed_langevin(DEN, x_T(2), SCHED, [5, 0], step_size=0.0), "step_size"),
        (lambda: guided(DEN, 1, float("nan"), 3), "scale"),
        (lambda: guided(DEN, 1.5, 2.0, 3), "y must be"),
        (
            lambda: guided(DEN, torch.tensor([0, 1]), 2.0, 3)(x_T(3), torch.full((3,), 5)),
            "2 labels",
        ),
        (lambda: logsnr_timesteps(SCHED, 0), "1..1000"),
    ],
)
def test_bad_options(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_one_registry_binds_options_and_counts_evaluations():
    from diffusion_course.samplers.registry import SAMPLERS, get_sampler, nfe_for, sample

    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    ts = SCHED.timesteps(8)
    for name, entry in SAMPLERS.items():
        stats: dict = {}
        got = sample(name, DEN, x_T, SCHED, ts, generator=torch.Generator().manual_seed(1), stats=stats)
        ref = entry.function(DEN, x_T, SCHED, ts, generator=torch.Generator().manual_seed(1), **entry.options)
        assert torch.equal(got, ref) and stats["nfe"] == nfe_for(name, 8), name
    assert nfe_for("heun", 8) == 15 and nfe_for("ddim", 8) == 8
    eta1 = get_sampler("ddim_eta1")(DEN, x_T, SCHED, ts, generator=torch.Generator().manual_seed(1))
    ddpm = get_sampler("ddpm")(DEN, x_T, SCHED, ts, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(eta1, ddpm, atol=1e-5)  # DDIM with eta 1 is DDPM, same noise draws
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        get_sampler("euler")


def test_per_image_generator_makes_stochastic_samples_independent_of_the_batch():
    from diffusion_course.diffusion.seeds import PerImageGenerator

    x_T = PerImageGenerator(3, range(10)).randn((10, 2))
    ts = SCHED.timesteps(10)
    whole = S.ddpm(DEN, x_T, SCHED, ts, generator=PerImageGenerator(3, range(10)))
    halves = torch.cat(
        [
            S.ddpm(DEN, x_T[:4], SCHED, ts, generator=PerImageGenerator(3, range(4))),
            S.ddpm(DEN, x_T[4:], SCHED, ts, generator=PerImageGenerator(3, range(4, 10))),
        ]
    )
    assert torch.allclose(whole, halves, atol=1e-6)
    with pytest.raises(ValueError, match="holds 10 images"):
        PerImageGenerator(3, range(10)).randn((4, 2))
