"""The peer anchor of the VAE issue: the classic MLP VAE (784-400-20, Bernoulli decoder; Kingma & Welling
2014, the PyTorch examples' architecture), trained here and read with the course's own instruments.

    python benchmarks/peer_mlp_vae.py --epochs 10 --experiment peer_mlp_vae

Trains the unconditional MLP VAE (Adam 1e-3, batch 128, binary cross-entropy on pixels in [0, 1])
on MNIST, draws ``--n`` prior samples, and measures them and the reconstructions of ``--n`` test
digits with the MNIST feature network: classifier FID over the real-vs-real floor, the share of
samples classified with confidence >= 0.9, the range of digit shares, precision/recall and
sharpness. The model is written here from the paper's description (it is the baseline the
course's conditional VAE is compared with, not part of the package). The result goes through
the results writer (refusing to overwrite without ``--overwrite``).
"""

from __future__ import annotations

import shlex
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from diffusion_course.cli.common import Parser, fail, positive_int
from diffusion_course.data import mnist
from diffusion_course.evaluation import floors, image_metrics
from diffusion_course.evaluation.features import feature_network
from diffusion_course.evaluation.results import provenance, result_path, write_result
from diffusion_course.evaluation.sharpness import sharpness

PROG = "python benchmarks/peer_mlp_vae.py"


class MLPVAE(nn.Module):
    """784-400-20 encoder, 20-400-784 decoder with Bernoulli logits (Kingma & Welling 2014, appendix C)."""

    def __init__(self, hidden: int = 400, latent: int = 20) -> None:
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.mu, self.logvar = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 784))
        self.latent = latent

    def encode(self, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.enc(x01.reshape(len(x01), -1)))
        return self.mu(h), self.logvar(h)

    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder means (sigmoid of the logits) as images in [-1, 1], shaped (N, 1, 28, 28)."""
        return (torch.sigmoid(self.dec(z)) * 2 - 1).reshape(-1, 1, 28, 28)


def train(model: MLPVAE, x01: torch.Tensor, epochs: int, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(epochs):
        perm, total = torch.randperm(len(x01), generator=g), 0.0
        for i in range(0, len(x01), 128):
            xb = x01[perm[i : i + 128]].reshape(-1, 784)
            mu, logvar = model.encode(xb)
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)
            recon = F.binary_cross_entropy_with_logits(model.dec(z), xb, reduction="sum")
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum()
            loss = (recon + kl) / len(xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(round(total / len(x01), 2))
    return losses


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--n", type=positive_int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--experiment", default="peer_mlp_vae")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if a.n < 10:
        return fail(PROG, "--n must be >= 10")
    path = result_path(a.experiment, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    torch.manual_seed(a.seed)
    model = MLPVAE()
    x, _ = mnist(train=True)
    t0 = time.perf_counter()
    losses = train(model, (x + 1) / 2, a.epochs, a.seed)
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        z = torch.randn(a.n, model.latent, generator=torch.Generator().manual_seed(a.seed + 1))
        samples = model.decode_images(z)
        floor = floors.real_floor(a.n)
        r = image_metrics.evaluate_images(samples)
        _, probs = image_metrics.extract(samples, feature_network("mnist"))
        x_test, _ = mnist(train=False, n=a.n, generator=torch.Generator().manual_seed(a.seed))
        recon = model.decode_images(model.encode((x_test + 1) / 2)[0])
        rr = image_metrics.evaluate_images(recon)
    fid, hist = r["mnist_classifier_fid"], r["class_histogram_pct"]
    result = {
        "model": "MLP VAE 784-400-20, Bernoulli decoder, unconditional (Kingma & Welling 2014)",
        "epochs": a.epochs,
        "train_seconds": round(train_s),
        "epoch_losses": losses,
        "n": a.n,
        "floor_fid": floor["mnist_classifier_fid"],
        "samples": {
            "mnist_classifier_fid": fid,
            "fid_over_floor": round(fid / floor["mnist_classifier_fid"], 2),
            "confident_pct": round(100 * float((probs.max(1).values >= 0.9).double().mean()), 1),
            "digit_share_range_pct": [min(hist), max(hist)],
            "precision_pct": r["precision_pct"],
            "recall_pct": r["recall_pct"],
            "sharpness": {k: v for k, v in sharpness(samples, "mnist").items() if k.endswith("_ratio")},
        },
        "reconstructions": {
            "mnist_classifier_fid": rr["mnist_classifier_fid"],
            "fid_over_floor": round(rr["mnist_classifier_fid"] / floor["mnist_classifier_fid"], 2),
        },
    }
    print(write_result(a.experiment, result, prov, root=a.results_dir, overwrite=a.overwrite))
    s = result["samples"]
    print(
        f"trained {a.epochs} epochs in {train_s:.0f} s; samples FID {fid} = {s['fid_over_floor']}x the floor, "
        f"{s['confident_pct']}% confident, digit shares {s['digit_share_range_pct']}; reconstructions "
        f"{result['reconstructions']['fid_over_floor']}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
