"""``python -m diffusion_course train RECIPE``: train a recipe and write its checkpoint.

python -m diffusion_course train mnist-ddpm --device cuda --out runs/mnist.pt
python -m diffusion_course train toy-ddpm --steps 2000
python -m diffusion_course train mnist-ddpm --out runs/mnist.pt --resume   # after an interruption
python -m diffusion_course train mnist-classifier --out runs/clf.pt --epochs 5
python -m diffusion_course train cifar10-classifier --out runs/cifar_clf.pt --checkpoint-every 200  # --resume later
python -m diffusion_course train mnist-vae --out runs/vae.pt --beta 0.5     # a VAE recipe; --beta: KL weight
python -m diffusion_course train mnist-ldm --out runs/ldm.pt                # latent diffusion on a shipped autoencoder
python -m diffusion_course train mnist-gan --out runs/gan.pt --max-minutes 30  # a GAN recipe, with a time budget
python -m diffusion_course train mnist-ddpm --channels-last --bf16            # speed options (see the README)
torchrun --standalone --nproc_per_node=2 -m diffusion_course train mnist-ddpm --device cpu  # 2 processes

Under torchrun every process runs this command; --batch-size stays the global batch (each
process trains on its share), and only rank 0 prints and writes files.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from .common import Parser, command_line, fail, nonnegative_int, positive_int, run_guarded

PROG = "python -m diffusion_course train"
CLASSIFIER_RECIPES = ("mnist-classifier", "cifar10-classifier")


def _dropout_rate(text: str) -> float:
    """An argparse type: a label-dropout probability in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1); got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"must be in [0, 1) (the share of labels replaced by the null label); got {value}"
        )
    return value


def _finite(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {value}")
    return value


def _nonnegative(text: str) -> float:
    """An argparse type: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text!r}") from None
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {value}")
    return value


def _parser() -> Parser:
    from ..training.recipes import RECIPES

    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "recipe",
        choices=sorted(RECIPES) + list(CLASSIFIER_RECIPES),
        metavar="RECIPE",
        help=f"one of {sorted(RECIPES) + list(CLASSIFIER_RECIPES)}",
    )
    p.add_argument("--steps", type=positive_int, help="total training steps (also when resuming)")
    p.add_argument("--epochs", type=positive_int, help="classifier: training epochs (default 5 MNIST, 16 CIFAR-10)")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--lr-decay",
        choices=("constant", "cosine"),
        help="learning rate after the warm-up: constant, or cosine decay to a tenth of it at --steps "
        "(default: the recipe's)",
    )
    p.add_argument(
        "--warmup",
        type=nonnegative_int,
        help="diffusion recipes: steps of linear learning-rate warm-up (default: the recipe's; a short budget "
        "may want fewer)",
    )
    p.add_argument(
        "--p-uncond",
        type=_dropout_rate,
        help="label-dropout rate for classifier-free guidance, in [0, 1)",
    )
    p.add_argument("--beta", type=_nonnegative, help="VAE recipes: the KL weight beta (1: the ELBO)")
    p.add_argument(
        "--log-snr-shift",
        type=_finite,
        help="diffusion recipes: add this to the schedule's log SNR at every t (Hoogeboom et al. 2023; "
        "> 0: less noise; default: the recipe's)",
    )
    p.add_argument(
        "--device",
        help="cpu, cuda, mps (default: DIFFUSION_COURSE_DEVICE, else the best available)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="checkpoint path (default: runs/<recipe>/<recipe>.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the resume state next to --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint at --out")
    p.add_argument("--overwrite-shipped", action="store_true", help="allow replacing a shipped checkpoint")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 autocast of the forward pass (CUDA, and the CPU; recorded in the checkpoint)",
    )
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="image recipes: weights and batches in channels_last (NHWC) memory order (recorded in the checkpoint)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="compile the trained networks with torch.compile (recorded in the checkpoint)",
    )
    p.add_argument("--sample-every", type=int, help="steps between sample grids (0: none)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=1000,
        help="steps between checkpoints (0: at the end)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        help="diffusion and GAN recipes: stop cleanly after this many minutes of wall time (a training budget)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--add-to-manifest", metavar="NAME", help="record the checkpoint in the manifest as NAME")
    return p


def _device(args):
    """``--device`` (or the best available); ``cuda:LOCAL_RANK`` for each process under torchrun."""
    from ..config import device as pick_device
    from ..training.distributed import local_device

    return local_device(pick_device(args.device))


def _main() -> bool:
    """True in a single process and on rank 0 under torchrun: the process that prints and writes files."""
    from ..training.distributed import is_main

    return is_main()


def _launched(args, fn) -> int:
    """Join torchrun's process group (when launched by it) and run ``fn`` under the speed options."""
    from ..training.distributed import init_process_group, launched
    from ..training.speed import speed_options

    if launched():
        init_process_group(_device(args))
    with speed_options(bf16=args.bf16, channels_last=args.channels_last, compile=args.compile):
        return fn()


def _speed_config(args) -> dict:
    """The speed options and the number of processes, as the loop records them in a checkpoint config."""
    from ..training.distributed import world

    return {"bf16": args.bf16, "channels_last": args.channels_last, "compile": args.compile, "world_size": world()[1]}


def _load(recipe: dict, seed: int):
    """The recipe's training data; under torchrun rank 0 reads (or fetches) it first, then the others."""
    from ..training.distributed import main_first
    from ..training.recipes import load_data

    with main_first():
        return load_data(recipe["data"], seed)


def _is_toy(recipe: str) -> bool:
    """True for a recipe that trains on 2-D points (no images, so no memory format to choose)."""
    from ..training.recipes import RECIPES

    return RECIPES[recipe]["data"]["name"] == "toy"


def _out_path(args) -> Path:
    """``--out``, or ``runs/<recipe>/<recipe>.pt``."""
    return Path(args.out) if args.out else Path("runs") / args.recipe / f"{args.recipe}.pt"


DIFFUSION_OVERRIDES = ("steps", "batch_size", "lr", "lr_decay", "warmup", "p_uncond")  # options a diffusion run takes


def _recipe_with_overrides(args, keys: tuple[str, ...]):
    """``(model, schedule, recipe)`` of ``args.recipe``, its training settings overridden by the given options."""
    from ..training.recipes import build_recipe

    model, schedule, recipe = build_recipe(args.recipe, args.seed)
    for key in keys:
        if getattr(args, key) is not None:
            recipe["train"][key] = getattr(args, key)
    return model, schedule, recipe


def _shifted(args, recipe: dict, schedule):
    """The recipe's schedule with ``--log-snr-shift`` applied, recorded in ``recipe["schedule"]`` for the checkpoint."""
    from ..diffusion.schedules import schedule_from_config

    if args.log_snr_shift is None:
        return schedule
    recipe["schedule"] = {**recipe["schedule"], "log_snr_shift": args.log_snr_shift}
    return schedule_from_config(recipe)


def _budget(args) -> list:
    """A callback that stops the run after ``--max-minutes`` of wall time (none without the option)."""
    from ..training.callbacks import stop_after_seconds

    return [] if args.max_minutes is None else [stop_after_seconds(60 * args.max_minutes)]


def _run_config(args, recipe: dict, command: str, **extra) -> dict:
    """What every trained checkpoint records about its run: recipe, command, data, description."""
    return {
        "recipe": args.recipe,
        "command": command,
        "data": recipe["data"],
        "description": recipe["description"],
        **extra,
    }


def _train_classifier(args, argv: list[str]) -> int:
    import torch

    from ..training.classifier import save_classifier, train_classifier

    dataset = args.recipe.removesuffix("-classifier")
    out = _out_path(args)
    if _main() and out.exists() and not (args.overwrite or args.resume):
        return fail(PROG, f"{out} exists; pass --overwrite to replace it or --resume to continue its run")
    dev = _device(args)
    command = command_line("train", argv)
    t0 = time.perf_counter()
    model, acc = train_classifier(
        args.epochs,
        args.batch_size,
        args.lr,
        seed=args.seed,
        device=dev,
        log=lambda s: print(s, flush=True),
        progress=not args.no_progress,
        dataset=dataset,
        checkpoint_path=out if _main() else None,  # under torchrun only rank 0 writes
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        allow_shipped=args.overwrite_shipped,
        config={"command": command, "dataset": dataset},
    )
    minutes = (time.perf_counter() - t0) / 60
    if not _main():
        return 0
    entry = save_classifier(
        model,
        out,
        command,
        round(acc, 4),
        overwrite=True,  # the loop wrote this run's checkpoint; add the measured accuracy to it
        allow_shipped=args.overwrite_shipped,
        name=args.add_to_manifest,
        train_minutes=round(minutes, 1),
        device=str(dev),
        torch_threads=torch.get_num_threads(),
        **_speed_config(args),
    )
    print(f"test accuracy {acc:.4f}; wrote {out} ({out.stat().st_size} bytes) in {minutes:.1f} min")
    if entry is not None:
        print(f"recorded {out} in the manifest as {args.add_to_manifest!r}")
    return 0


def _train_diffusion(args, argv: list[str]) -> int:
    from ..checkpoints import add_to_manifest
    from ..training.diffusion import train_diffusion
    from ..training.recipes import class_grid_sampler

    model, schedule, recipe = _recipe_with_overrides(args, DIFFUSION_OVERRIDES)
    schedule = _shifted(args, recipe, schedule)
    tr = recipe["train"]
    out = _out_path(args)
    dev = _device(args)
    sample = recipe.get("sample")
    sample_every = args.sample_every if args.sample_every is not None else (sample or {}).get("every", 0)
    sample_fn = None
    if sample and sample_every:
        sample_fn = class_grid_sampler(
            schedule,
            tr["prediction"],
            sample["per_class"],
            sample["steps"],
            sample["scale"],
            recipe.get("image_size", 28),
            args.seed,
        )
    command = command_line("train", argv)
    config = _run_config(args, recipe, command, schedule=recipe["schedule"])
    if "image_size" in recipe:
        config["image_size"] = recipe["image_size"]
    result = train_diffusion(
        model,
        _load(recipe, args.seed),
        schedule,
        device=dev,
        seed=args.seed,
        bf16=args.bf16,
        progress=not args.no_progress,
        sample_every=sample_every,
        sample_fn=sample_fn,
        run_dir=out.parent,
        checkpoint_path=out if _main() else None,  # under torchrun only rank 0 writes
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        allow_shipped=args.overwrite_shipped,
        config=config,
        callbacks=_budget(args),
        **tr,
    )
    if not _main():
        return 0
    print(
        f"trained {args.recipe}: {result.step} steps in {result.seconds:.0f} s on {dev}, "
        f"final loss {result.config['final_loss']:.4f}; wrote {out}"
    )
    if args.add_to_manifest:
        add_to_manifest(
            args.add_to_manifest,
            out,
            command,
            recipe["description"],
            {"final_loss": result.config["final_loss"], "steps": result.step},
        )
        print(f"recorded {out} in the manifest as {args.add_to_manifest!r}")
    return 0


def _train_latent(args, argv: list[str]) -> int:
    from ..checkpoints import add_to_manifest, load_any, weights_sha256
    from ..pipelines.latent import decoder_of
    from ..training.diffusion import train_diffusion
    from ..training.latent import check_autoencoder, latent_dataset
    from ..training.recipes import class_grid_sampler

    model, schedule, recipe = _recipe_with_overrides(args, DIFFUSION_OVERRIDES)
    schedule = _shifted(args, recipe, schedule)
    tr = recipe["train"]
    out = _out_path(args)
    dev = _device(args)
    ae_name = recipe["autoencoder"]
    autoencoder, _ = load_any(ae_name)
    check_autoencoder(autoencoder)
    t0 = time.perf_counter()
    latents, scale = latent_dataset(autoencoder.to(dev), *_load(recipe, args.seed))
    if _main():
        print(
            f"encoded {len(latents[0])} images to latents {tuple(autoencoder.latent_shape)} in "
            f"{time.perf_counter() - t0:.0f} s; latent scale factor 1/std = {scale:.4f}",
            flush=True,
        )
    sample_every = args.sample_every if args.sample_every is not None else 0
    sample_fn = None
    if sample_every:
        size = autoencoder.latent_shape[-1]
        sample_fn = class_grid_sampler(
            schedule, tr["prediction"], 10, 20, 1.5, size, args.seed, decoder_of(autoencoder), scale
        )
    command = command_line("train", argv)
    config = _run_config(
        args,
        recipe,
        command,
        schedule=recipe["schedule"],
        family="latent-diffusion",
        autoencoder=ae_name,
        autoencoder_sha256=weights_sha256(ae_name),
        latent_scale=scale,
        data_shape=list(autoencoder.latent_shape),
        clip_x0=None,
        image_size=autoencoder.image_size,
    )
    result = train_diffusion(
        model,
        latents,
        schedule,
        device=dev,
        seed=args.seed,
        bf16=args.bf16,
        progress=not args.no_progress,
        sample_every=sample_every,
        sample_fn=sample_fn,
        run_dir=out.parent,
        checkpoint_path=out if _main() else None,  # under torchrun only rank 0 writes
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        allow_shipped=args.overwrite_shipped,
        config=config,
        callbacks=_budget(args),
        **tr,
    )
    if not _main():
        return 0
    print(
        f"trained {args.recipe}: {result.step} steps in {result.seconds:.0f} s on {dev}, "
        f"final loss {result.config['final_loss']:.4f}; wrote {out}"
    )
    if args.add_to_manifest:
        import torch

        add_to_manifest(
            args.add_to_manifest,
            out,
            command,
            recipe["description"],
            {"final_loss": result.config["final_loss"], "steps": result.step},
            family="latent-diffusion",
            device=str(dev),
            torch_threads=torch.get_num_threads(),
            train_minutes=round(result.seconds / 60, 1),
        )
        print(f"recorded {out} in the manifest as {args.add_to_manifest!r}")
    return 0


def _collapse_detector(dataset: str, every: int):
    """Every ``every`` steps, print the class coverage of 500 samples read by the dataset's classifier."""
    from ..evaluation.features import FEATURE_NETWORKS, feature_network
    from ..evaluation.image_metrics import class_coverage
    from ..training.gan import coverage_monitor

    def measure(x, labels) -> dict:
        if dataset not in FEATURE_NETWORKS:
            return {"class_coverage": "no feature network"}
        import torch

        with torch.no_grad():
            probs = feature_network(dataset)(x).softmax(1)
        cov = class_coverage(probs, labels)
        # a class counts as covered when it gets at least half its uniform share of the samples
        covered = sum(h >= 0.5 / len(cov["histogram"]) for h in cov["histogram"])
        return {"classes_covered": covered, **{k: round(v, 3) for k, v in cov.items() if isinstance(v, float)}}

    return coverage_monitor(every, measure, printer=lambda s: print(f"collapse check: {s}", flush=True))


def _train_gan(args, argv: list[str]) -> int:
    import torch

    from ..checkpoints import add_to_manifest, build_model
    from ..training.gan import train_gan

    model, _, recipe = _recipe_with_overrides(args, ("steps", "batch_size", "lr_decay"))
    tr = dict(recipe["train"])
    if args.lr is not None:
        tr["lr_g"] = tr["lr_d"] = args.lr
    torch.manual_seed(args.seed + 1)
    discriminator = build_model(recipe["discriminator"])
    out = _out_path(args)
    dev = _device(args)
    command = command_line("train", argv)
    config = _run_config(args, recipe, command, image_size=recipe["image_size"], family="gan")
    hooks = _budget(args)
    if args.checkpoint_every:
        hooks.append(_collapse_detector(recipe["data"]["name"], args.checkpoint_every))
    result = train_gan(
        model,
        discriminator,
        _load(recipe, args.seed),
        device=dev,
        seed=args.seed,
        progress=not args.no_progress,
        callbacks=hooks,
        checkpoint_path=out if _main() else None,  # under torchrun only rank 0 writes
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        allow_shipped=args.overwrite_shipped,
        config=config,
        **tr,
    )
    if not _main():
        return 0
    losses = {k: round(sum(v[-100:]) / max(1, len(v[-100:])), 4) for k, v in result.losses.items()}
    print(f"trained {args.recipe}: {result.step} steps in {result.seconds:.0f} s on {dev}; last-100 losses {losses}")
    if args.add_to_manifest:
        add_to_manifest(
            args.add_to_manifest,
            out,
            command,
            recipe["description"],
            {**{f"final_{k}_loss": v for k, v in losses.items()}, "steps": result.step},
            family="gan",
            device=str(dev),
            torch_threads=torch.get_num_threads(),
            train_minutes=round(result.seconds / 60, 1),
        )
        print(f"recorded {out} in the manifest as {args.add_to_manifest!r}")
    return 0


def _train_vae(args, argv: list[str]) -> int:
    from ..checkpoints import add_to_manifest
    from ..training.callbacks import sample_grid
    from ..training.vae import train_vae, vae_grid_sampler

    model, _, recipe = _recipe_with_overrides(args, ("steps", "batch_size", "lr", "lr_decay", "beta"))
    tr = recipe["train"]
    out = _out_path(args)
    dev = _device(args)
    sample = recipe.get("sample") or {}
    sample_every = args.sample_every if args.sample_every is not None else sample.get("every", 0)
    hooks = []
    if sample_every:
        hooks.append(sample_grid(sample_every, vae_grid_sampler(sample.get("per_class", 10), args.seed), out.parent))
    command = command_line("train", argv)
    config = _run_config(args, recipe, command, image_size=recipe["image_size"], family=recipe.get("family", "vae"))
    result = train_vae(
        model,
        _load(recipe, args.seed),
        device=dev,
        seed=args.seed,
        progress=not args.no_progress,
        callbacks=hooks,
        checkpoint_path=out if _main() else None,  # under torchrun only rank 0 writes
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        allow_shipped=args.overwrite_shipped,
        config=config,
        **tr,
    )
    if not _main():
        return 0
    c = result.config
    print(
        f"trained {args.recipe}: {result.step} steps in {result.seconds:.0f} s on {dev}; EMA model on "
        f"{c['final_eval_n']} training images: recon {c['final_recon']:.2f} + KL {c['final_kl']:.2f} nats "
        f"(beta {c['beta']}); wrote {out}"
    )
    if args.add_to_manifest:
        import torch

        metrics = {k: c[k] for k in ("final_recon", "final_kl", "final_neg_elbo", "final_loss")}
        add_to_manifest(
            args.add_to_manifest,
            out,
            command,
            recipe["description"],
            {**metrics, "steps": result.step},
            family=recipe.get("family", "vae"),
            device=str(dev),
            torch_threads=torch.get_num_threads(),
            train_minutes=round(result.seconds / 60, 1),
        )
        print(f"recorded {out} in the manifest as {args.add_to_manifest!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Train a recipe and write its checkpoint (EMA weights + config with the exact command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.max_minutes is not None and not args.max_minutes > 0:
        return fail(PROG, f"--max-minutes must be > 0; got {args.max_minutes}")
    if args.recipe in CLASSIFIER_RECIPES:
        for flag, value in (("--max-minutes", args.max_minutes), ("--warmup", args.warmup)):
            if value is not None:
                return fail(PROG, f"{flag} applies to diffusion recipes; classifiers train for --epochs")
        return run_guarded(PROG, lambda: _launched(args, lambda: _train_classifier(args, argv)))
    if args.epochs is not None:
        return fail(PROG, "--epochs applies to the classifier recipes; diffusion and VAE recipes take --steps")
    from ..training.recipes import family_of_recipe

    family = family_of_recipe(args.recipe)
    if args.channels_last and _is_toy(args.recipe):
        return fail(PROG, f"--channels-last applies to image recipes; {args.recipe} trains on 2-D points")
    if family in ("vae", "autoencoder"):
        kind = "VAE" if family == "vae" else family
        diffusion_only = (("--p-uncond", args.p_uncond), ("--max-minutes", args.max_minutes), ("--warmup", args.warmup))
        for flag, value in diffusion_only:
            if value is not None:
                return fail(PROG, f"{flag} applies to diffusion recipes; {args.recipe} is a {kind} recipe")
        return run_guarded(PROG, lambda: _launched(args, lambda: _train_vae(args, argv)))
    if args.beta is not None:
        return fail(PROG, f"--beta applies to VAE recipes; {args.recipe} is a diffusion recipe")
    if family == "latent-diffusion":
        return run_guarded(PROG, lambda: _launched(args, lambda: _train_latent(args, argv)))
    if family == "gan":
        for flag, value in (("--p-uncond", args.p_uncond), ("--warmup", args.warmup)):
            if value is not None:
                return fail(PROG, f"{flag} applies to diffusion recipes; {args.recipe} is a GAN recipe")
        return run_guarded(PROG, lambda: _launched(args, lambda: _train_gan(args, argv)))
    return run_guarded(PROG, lambda: _launched(args, lambda: _train_diffusion(args, argv)))
