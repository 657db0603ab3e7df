"""Training recipes: the model, data, noise schedule and training settings of each shipped model.

The command line ``python -m diffusion_course train RECIPE`` (``diffusion_course.cli.train``)
runs a recipe; its options override the training length, batch size, learning rate, device and
seed, and the checkpoint records the exact command that made it. What each shipped run measured
is in the manifest and ``assets/results``, not here.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..checkpoints import build_model
from ..diffusion.schedules import NoiseSchedule, schedule_from_config

__all__ = ["RECIPES", "build_recipe", "family_of_recipe", "load_data", "class_grid_sampler"]

RECIPES: dict[str, dict] = {
    "mnist-ddpm": {
        "description": "class-conditional UNet (1.7M parameters) on MNIST; v-prediction, cosine schedule, "
        "classifier-free guidance by label dropout",
        "model": {
            "class": "UNet",
            "kwargs": {
                "in_channels": 1,
                "base_channels": 32,
                "channel_mults": [1, 2, 2],
                "num_res_blocks": 2,
                "attention_resolutions": [7],
                "num_classes": 10,
                "dropout": 0.1,
                "image_size": 28,
            },
        },
        "data": {"name": "mnist"},
        "image_size": 28,
        "schedule": {"name": "cosine", "T": 1000, "zero_terminal_snr": False},
        # the shipped run's settings (6000 steps x 512, label dropout 0.2); its history is in the manifest
        "train": {
            "prediction": "v",
            "weighting": "uniform",
            "steps": 6000,
            "batch_size": 512,
            "lr": 1e-3,
            "warmup": 500,
            "lr_decay": "cosine",
            "weight_decay": 0.0,
            "ema_decay": 0.999,
            "p_uncond": 0.2,
            "grad_clip": 1.0,
        },
        "sample": {"every": 1000, "per_class": 10, "steps": 20, "scale": 1.5},
    },
    "mnist-vae": {
        "family": "vae",
        "description": "class-conditional convolutional VAE on MNIST (Kingma & Welling 2014; Sohn et al. 2015): "
        "vector latent of 16 dimensions, labels fed to the encoder and the decoder, Bernoulli likelihood, "
        "KL weight beta 1.5",
        "model": {
            "class": "VAE",
            "kwargs": {
                "in_channels": 1,
                "image_size": 28,
                "latent": "vector",
                "latent_dim": 16,
                "channels": [32, 64],
                "num_res_blocks": 1,
                "num_classes": 10,
                "likelihood": "bernoulli",
                "encoder_labels": True,
            },
        },
        "data": {"name": "mnist"},
        "image_size": 28,
        # beta 1.5 (a beta-VAE, Higgins et al. 2017) rather than the plain ELBO's 1: less class
        # information left in z, so prior draws decode to the requested digit more reliably
        "train": {
            "beta": 1.5,
            "steps": 3000,
            "batch_size": 128,
            "lr": 2e-3,
            "warmup": 100,
            "lr_decay": "cosine",
            "ema_decay": 0.999,
            "grad_clip": 1.0,
        },
        "sample": {"every": 1000, "per_class": 10},
    },
    "mnist-vae-2d": {
        "family": "vae",
        "description": "unconditional convolutional VAE on MNIST with a 2-dimensional latent (Kingma & Welling 2014), "
        "for drawing the latent space as a map; Bernoulli likelihood, beta 1 (the ELBO)",
        "model": {
            "class": "VAE",
            "kwargs": {
                "in_channels": 1,
                "image_size": 28,
                "latent": "vector",
                "latent_dim": 2,
                "channels": [32, 64],
                "num_res_blocks": 1,
                "num_classes": None,
                "likelihood": "bernoulli",
            },
        },
        "data": {"name": "mnist"},
        "image_size": 28,
        "train": {
            "beta": 1.0,
            "steps": 3000,
            "batch_size": 128,
            "lr": 2e-3,
            "warmup": 100,
            "lr_decay": "cosine",
            "ema_decay": 0.999,
            "grad_clip": 1.0,
        },
        "sample": {"every": 1000, "per_class": 10},
    },
    "cifar10-vae": {
        "family": "vae",
        "description": "class-conditional convolutional VAE on CIFAR-10 (Kingma & Welling 2014; Sohn et al. 2015): "
        "vector latent of 128 dimensions, labels fed to the encoder and the decoder, Gaussian likelihood with "
        "fixed sigma 0.5 on the [-1, 1] scale, beta 1",
        "model": {
            "class": "VAE",
            "kwargs": {
                "in_channels": 3,
                "image_size": 32,
                "latent": "vector",
                "latent_dim": 128,
                "channels": [32, 64],
                "num_res_blocks": 1,
                "num_classes": 10,
                "likelihood": "gaussian",
                "encoder_labels": True,
            },
        },
        "data": {"name": "cifar10"},
        "image_size": 32,
        # sigma 0.5: a smaller decoder std (0.2 tried) gives sharper reconstructions but a KL of
        # hundreds of nats and prior samples that are noise-like mush; 0.5 trades blur for coherent samples
        "train": {
            "beta": 1.0,
            "sigma": 0.5,
            "steps": 3000,
            "batch_size": 128,
            "lr": 2e-3,
            "warmup": 100,
            "lr_decay": "cosine",
            "ema_decay": 0.999,
            "grad_clip": 1.0,
        },
        "sample": {"every": 1000, "per_class": 10},
    },
    "mnist-kl-f4": {
        "family": "autoencoder",
        "description": "KL-regularized autoencoder on MNIST (the 'KL-f4' of Rombach et al. 2022): the spatial-latent "
        "VAE, 1x28x28 -> 4x7x7, Gaussian likelihood with sigma 0.1 and a small KL weight (beta 0.01)",
        "model": {
            "class": "VAE",
            "kwargs": {
                "in_channels": 1,
                "image_size": 28,
                "latent": "spatial",
                "latent_channels": 4,
                "channels": [32, 64],
                "num_res_blocks": 1,
                "num_classes": None,
                "likelihood": "gaussian",
            },
        },
        "data": {"name": "mnist"},
        "image_size": 28,
        # the KL only keeps the latent near N(0, I) in scale and smooth; reconstruction dominates
        "train": {
            "beta": 0.01,
            "sigma": 0.1,
            "steps": 3000,
            "batch_size": 128,
            "lr": 2e-3,
            "warmup": 100,
            "lr_decay": "cosine",
            "ema_decay": 0.999,
            "grad_clip": 1.0,
        },
    },
    "mnist-ldm": {
        "family": "latent-diffusion",
        "autoencoder": "mnist-kl-f4",
        "description": "class-conditional latent diffusion on MNIST (Rombach et al. 2022): the course's UNet on the "
        "4x7x7 latents of mnist-kl-f4 scaled to unit variance; v-prediction, cosine schedule, classifier-free "
        "guidance by label dropout",
        "model": {
            "class": "UNet",
            "kwargs": {
                "in_channels": 4,
                "base_channels": 64,
                "channel_mults": [1],
                "num_res_blocks": 2,
                "attention_resolutions": [7],
                "num_classes": 10,
                "dropout": 0.1,
                "image_size": 7,
            },
        },
        "data": {"name": "mnist"},
        "image_size": 7,
        "schedule": {"name": "cosine", "T": 1000, "zero_terminal_snr": False},
        "train": {
            "prediction": "v",
            "weighting": "uniform",
            "steps": 6000,
            "batch_size": 256,
            "lr": 1e-3,
            "warmup": 500,
            "lr_decay": "cosine",
            "weight_decay": 0.0,
            "ema_decay": 0.999,
            "p_uncond": 0.2,
            "grad_clip": 1.0,
        },
    },
    "cifar10-kl-f4": {
        "family": "autoencoder",
        "description": "KL-regularized autoencoder on CIFAR-10 (the 'KL-f4' of Rombach et al. 2022): the "
        "spatial-latent VAE, 3x32x32 -> 4x8x8, Gaussian likelihood with sigma 0.1 and a small KL weight (beta 0.01)",
        "model": {
            "class": "VAE",
            "kwargs": {
                "in_channels": 3,
                "image_size": 32,
                "latent": "spatial",
                "latent_channels": 4,
                "channels": [64, 128],
                "num_res_blocks": 1,
                "num_classes": None,
                "likelihood": "gaussian",
            },
        },
        "data": {"name": "cifar10"},
        "image_size": 32,
        "train": {
            "beta": 0.01,
            "sigma": 0.1,
            "steps": 4000,
            "batch_size": 128,
            "lr": 2e-3,
            "warmup": 100,
            "lr_decay": "cosine",
            "ema_decay": 0.999,
            "grad_clip": 1.0,
        },
    },
    # The CIFAR-10 pair below trains for the same wall-clock budget (--max-minutes), side by side with
    # one thread each, so the learning rate stays constant after warm-up (a budget, not a step count)
    "cifar10-ldm": {
        "family": "latent-diffusion",
        "autoencoder": "cifar10-kl-f4",
        "description": "class-conditional latent diffusion on CIFAR-10 (Rombach et al. 2022): the course's UNet on "
        "the 4x8x8 latents of cifar10-kl-f4 scaled to unit variance; v-prediction, cosine schedule, "
        "classifier-free guidance by label dropout",
        "model": {
            "class": "UNet",
            "kwargs": {
                "in_channels": 4,
                "base_channels": 64,
                "channel_mults": [1, 2],
                "num_res_blocks": 2,
                "attention_resolutions": [4],
                "num_classes": 10,
                "dropout": 0.1,
                "image_size": 8,
            },
        },
        "data": {"name": "cifar10"},
        "image_size": 8,
        "schedule": {"name": "cosine", "T": 1000, "zero_terminal_snr": False},
        "train": {
            "prediction": "v",
            "weighting": "uniform",
            "steps": 100000,
            "batch_size": 128,
            "lr": 1e-3,
            "warmup": 500,
            "lr_decay": "constant",
            "weight_decay": 0.0,
            "ema_decay": 0.999,
            "p_uncond": 0.2,
            "grad_clip": 1.0,
        },
    },
    "cifar10-ddpm": {
        "description": "class-conditional pixel-space UNet on CIFAR-10: the baseline trained for the same wall-clock "
        "budget as cifar10-ldm; v-prediction, cosine schedule, classifier-free guidance by label dropout",
        "model": {
            "class": "UNet",
            "kwargs": {
                "in_channels": 3,
                "base_channels": 32,
                "channel_mults": [1, 2, 2],
                "num_res_blocks": 2,
                "attention_resolutions": [8],
                "num_classes": 10,
                "dropout": 0.1,
                "image_size": 32,
            },
        },
        "data": {"name": "cifar10"},
        "image_size": 32,
        "schedule": {"name": "cosine", "T": 1000, "zero_terminal_snr": False},
        "train": {
            "prediction": "v",
            "weighting": "uniform",
            "steps": 100000,
            "batch_size": 128,
            "lr": 1e-3,
            "warmup": 500,
            "lr_decay": "constant",
            "weight_decay": 0.0,
            "ema_decay": 0.999,
            "p_uncond": 0.2,
            "grad_clip": 1.0,
        },
        "sample": {"every": 0, "per_class": 10, "steps": 20, "scale": 1.5},
    },
    "mnist-gan": {
        "family": "gan",
        "description": "class-conditional DCGAN on MNIST (Radford et al. 2016): label embedding in the generator, "
        "projection discriminator (Miyato & Koyama 2018) with spectral norm at half the generator's width, hinge "
        "loss, two time-scale learning rates (Heusel et al. 2017: the discriminator's 4x the generator's), the "
        "mode-seeking term (Mao et al. 2019: without it the generator ignored z, one image per digit), generator EMA",
        "model": {
            "class": "Generator",
            "kwargs": {"in_channels": 1, "image_size": 28, "latent_dim": 64, "width": 64, "num_classes": 10},
        },
        "discriminator": {
            "class": "Discriminator",
            "kwargs": {"in_channels": 1, "image_size": 28, "width": 32, "num_classes": 10, "spectral_norm": True},
        },
        "data": {"name": "mnist"},
        "image_size": 28,
        "train": {
            "loss": "hinge",
            "r1_gamma": 0.0,
            "mode_seeking": 1.0,
            "steps": 8000,
            "batch_size": 64,
            "lr_g": 1e-4,
            "lr_d": 4e-4,
            "ema_decay": 0.999,
        },
    },
    "cifar10-gan": {
        "family": "gan",
        "description": "class-conditional DCGAN on CIFAR-10 (Radford et al. 2016): label embedding in the generator, "
        "projection discriminator (Miyato & Koyama 2018) with spectral norm at half the generator's width (a CPU "
        "budget), hinge loss, the discriminator's learning rate 2x the generator's, the mode-seeking term "
        "(Mao et al. 2019; needed on MNIST), generator EMA",
        "model": {
            "class": "Generator",
            "kwargs": {"in_channels": 3, "image_size": 32, "latent_dim": 128, "width": 64, "num_classes": 10},
        },
        "discriminator": {
            "class": "Discriminator",
            "kwargs": {"in_channels": 3, "image_size": 32, "width": 32, "num_classes": 10, "spectral_norm": True},
        },
        "data": {"name": "cifar10"},
        "image_size": 32,
        "train": {
            "loss": "hinge",
            "r1_gamma": 0.0,
            "mode_seeking": 1.0,
            "steps": 20000,
            "batch_size": 64,
            "lr_g": 2e-4,
            "lr_d": 4e-4,
            "ema_decay": 0.999,
        },
    },
    "toy-ddpm": {
        "description": "MLP denoiser on the 2-D two-moons toy; eps-prediction, linear schedule",
        "model": {
            "class": "MLPDenoiser",
            "kwargs": {"dim": 2, "hidden": 128, "depth": 3, "time_dim": 64, "num_classes": None},
        },
        "data": {"name": "toy", "toy": "moons", "n": 20000},
        "schedule": {"name": "linear", "T": 1000, "zero_terminal_snr": False},
        "train": {
            "prediction": "eps",
            "weighting": "uniform",
            "steps": 3000,
            "batch_size": 512,
            "lr": 1e-3,
            "warmup": 100,
            "lr_decay": "cosine",
            "weight_decay": 0.0,
            "ema_decay": 0.995,
            "p_uncond": 0.0,
            "grad_clip": 1.0,
        },
    },
}


def _ac_gan(base: str) -> dict:
    """Recipe ``base`` with the auxiliary classifier of AC-GAN (Odena et al. 2017) switched on."""
    recipe = copy.deepcopy(RECIPES[base])
    recipe["description"] = (
        f"{base} with an auxiliary classifier (Odena et al. 2017, AC-GAN): the discriminator also learns to "
        f"classify real images, and the generator is rewarded when its images are classified as requested; "
        f"otherwise {base}'s recipe"
    )
    recipe["discriminator"]["kwargs"]["aux_classifier"] = True
    recipe["train"]["aux_weight"] = 1.0
    return recipe


RECIPES["mnist-gan-ac"] = _ac_gan("mnist-gan")


def family_of_recipe(name: str) -> str:
    """The model family a recipe trains: ``"diffusion"`` unless the recipe names another
    (``"vae"``, ``"autoencoder"``, ``"latent-diffusion"``, ``"gan"``)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}")
    return RECIPES[name].get("family", "diffusion")


def build_recipe(name: str, seed: int = 0) -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """``(fresh model, NoiseSchedule or None, recipe dict)`` for recipe ``name``; the model is seeded.

    Recipes without a noise schedule (a VAE) give None for the schedule.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}")
    recipe = copy.deepcopy(RECIPES[name])
    torch.manual_seed(seed)
    model = build_model(recipe["model"])
    return model, (schedule_from_config(recipe) if "schedule" in recipe else None), recipe


def load_data(spec: dict, seed: int = 0):
    """The training data a recipe names: MNIST or CIFAR-10 ``(x, y)``, or a 2-D toy tensor."""
    from .. import data

    if spec["name"] == "mnist":
        return data.mnist(train=True)
    if spec["name"] == "cifar10":
        return data.cifar10(train=True)
    if spec["name"] == "toy":
        return data.make_toy(spec["toy"], spec["n"], generator=torch.Generator().manual_seed(seed))
    raise ValueError(f"unknown data {spec['name']!r}; expected 'mnist', 'cifar10' or 'toy'")


def class_grid_sampler(
    schedule,
    prediction: str,
    per_class: int = 10,
    steps: int = 20,
    scale: float = 1.5,
    image_size: int = 28,
    seed: int = 0,
    decoder=None,
    latent_scale: float = 1.0,
):
    """``sample_fn(ema, step)``: a guided DDIM grid (Song et al. 2021; Ho & Salimans 2022), one class per column.

    For a latent model pass the autoencoder's ``decoder`` and the ``latent_scale``: the grid is
    sampled in latent space without clipping and decoded to images.
    """
    from ..diffusion.guidance import guided
    from ..samplers.ddim import ddim

    @torch.no_grad()
    def sample_fn(ema: nn.Module, step: int) -> torch.Tensor:
        dev = next(ema.parameters()).device
        y = torch.arange(ema.num_classes).repeat(per_class)
        g = torch.Generator().manual_seed(seed)
        x_T = torch.randn((len(y), ema.in_channels, image_size, image_size), generator=g).to(dev)
        fn = guided(ema, y.to(dev), scale, ema.null_label)
        x = ddim(
            fn,
            x_T,
            schedule,
            schedule.timesteps(steps, "trailing"),
            prediction=prediction,
            clip_x0=None if decoder is not None else 1.0,
        )
        return x if decoder is None else decoder(x / latent_scale)

    return sample_fn
