"""A small UNet denoiser for 28x28 (MNIST) and 32x32 (CIFAR-10) images.

The architecture follows DDPM (Ho et al. 2020), itself a PixelCNN++-style UNet
(Ronneberger et al. 2015; Salimans et al. 2017): at each resolution ``num_res_blocks`` residual
blocks (GroupNorm, SiLU, 3x3 convolutions) that read a time embedding, self-attention at low
resolution, strided-convolution downsampling, nearest-neighbour upsampling, and skip connections
from every block of the way down to the way up. Two later refinements are used: the time
embedding enters each block as a scale and shift of the second GroupNorm ("adaptive group
norm", Dhariwal & Nichol 2021), and the last layer of each residual branch is zero-initialised,
so every block starts as the identity.

Classifier-free guidance (Ho & Salimans 2022): with ``num_classes`` set, a label embedding is
added to the time embedding; label ``num_classes`` is the null label ("no condition"), and
``y=None`` means the null label for the whole batch.

The network knows nothing about noise schedules: ``t`` is just a number per example.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .embeddings import ClassEmbedding, TimeEmbedding, as_batch_times

__all__ = ["UNet", "ResBlock", "SelfAttention", "count_parameters"]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm (Wu & He 2018) with up to 32 groups of at least 4 channels each."""
    groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0 and channels // g >= min(4, channels))
    return nn.GroupNorm(groups, channels)


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """Residual block of DDPM (Ho et al. 2020) with adaptive GroupNorm (Dhariwal & Nichol 2021)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_ch)
        self.norm2, self.drop = _norm(out_ch), nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.drop(F.silu(h)))


class SelfAttention(nn.Module):
    """Multi-head self-attention over pixels (Vaswani et al. 2017), as placed in DDPM's UNet."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels {channels} must be divisible by heads {heads}")
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class _Stage(nn.Module):
    """One residual block, optionally followed by self-attention."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float, attention: bool, heads: int):
        super().__init__()
        self.res = ResBlock(in_ch, out_ch, emb_dim, dropout)
        self.attn = SelfAttention(out_ch, heads) if attention else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.attn(self.res(x, emb))


class _Down(nn.Conv2d):
    def __init__(self, ch: int) -> None:
        super().__init__(ch, ch, 3, stride=2, padding=1)


class _Up(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _resolutions(image_size: int, levels: int) -> list[int]:
    sizes = [image_size]
    for _ in range(levels - 1):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class UNet(nn.Module):
    """UNet denoiser of DDPM (Ho et al. 2020) for small images, optionally class-conditional.

    ``model(x_t, t)`` or ``model(x_t, t, y)``: ``x_t`` of shape ``(B, in_channels, H, W)`` with
    ``H`` and ``W`` divisible by ``2 ** (len(channel_mults) - 1)``; ``t`` of shape ``(B,)`` (or a
    scalar); ``y`` labels in ``0..num_classes-1`` or the null label ``num_classes``. Returns a
    tensor shaped like ``x_t`` (eps, x0, v or score: the training loss decides).

    Level ``i`` runs at ``image_size / 2**i`` pixels with ``base_channels * channel_mults[i]``
    channels. ``attention_resolutions`` lists the resolutions (in pixels, for inputs of
    ``image_size``) that get self-attention; ``None`` means the lowest resolution only and
    ``()`` means none. The time embedding has ``4 * base_channels`` features.
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults=(1, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions=None,
        num_classes: int | None = None,
        dropout: float = 0.1,
        image_size: int = 28,
        attention_heads: int = 4,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        channel_mults = tuple(int(m) for m in channel_mults)
        if not channel_mults or min(channel_mults) < 1:
            raise ValueError(f"channel_mults must be a non-empty sequence of positive ints; got {channel_mults}")
        if base_channels < 1 or num_res_blocks < 1 or in_channels < 1:
            raise ValueError(
                "in_channels, base_channels and num_res_blocks must be positive; got "
                f"{in_channels}, {base_channels}, {num_res_blocks}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1); got {dropout}")
        sizes = _resolutions(image_size, len(channel_mults))
        attn = [sizes[-1]] if attention_resolutions is None else [int(r) for r in attention_resolutions]
        if any(r not in sizes for r in attn):
            raise ValueError(
                f"attention_resolutions {tuple(attn)} must be among this UNet's resolutions "
                f"{tuple(sizes)} (image_size={image_size}, channel_mults={channel_mults})"
            )
        self.config = {
            "in_channels": in_channels,
            "base_channels": base_channels,
            "channel_mults": list(channel_mults),
            "num_res_blocks": num_res_blocks,
            "attention_resolutions": attn,
            "num_classes": num_classes,
            "dropout": dropout,
            "image_size": image_size,
            "attention_heads": attention_heads,
            "out_channels": out_channels,
        }
        self.in_channels, self.num_classes, self.null_label = in_channels, num_classes, num_classes
        self.levels = len(channel_mults)
        emb_dim = 4 * base_channels
        self.time_embed = TimeEmbedding(emb_dim, freq_dim=base_channels)
        self.class_embed = ClassEmbedding(num_classes, emb_dim) if num_classes else None
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        ch, skips = base_channels, [base_channels]
        self.down = nn.ModuleList()
        for level, mult in enumerate(channel_mults):
            use_attn = sizes[level] in attn
            for _ in range(num_res_blocks):
                self.down.append(_Stage(ch, base_channels * mult, emb_dim, dropout, use_attn, attention_heads))
                ch = base_channels * mult
                skips.append(ch)
            if level < self.levels - 1:
                self.down.append(_Down(ch))
                skips.append(ch)
        mid_attn = sizes[-1] in attn
        self.mid = nn.ModuleList(
            [
                _Stage(ch, ch, emb_dim, dropout, mid_attn, attention_heads),
                _Stage(ch, ch, emb_dim, dropout, False, attention_heads),
            ]
        )
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            use_attn = sizes[level] in attn
            for _ in range(num_res_blocks + 1):
                self.up.append(
                    _Stage(
                        ch + skips.pop(),
                        base_channels * mult,
                        emb_dim,
                        dropout,
                        use_attn,
                        attention_heads,
                    )
                )
                ch = base_channels * mult
            if level > 0:
                self.up.append(_Up(ch))
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), _zero(nn.Conv2d(ch, out_channels or in_channels, 3, padding=1)))

    def _check_input(self, x: Tensor) -> None:
        factor = 2 ** (self.levels - 1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects x of shape (B, {self.in_channels}, H, W); got {tuple(x.shape)}")
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(
                f"UNet with {self.levels} levels needs H and W divisible by {factor}; got {tuple(x.shape[2:])}"
            )

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        self._check_input(x)
        emb = self.time_embed(as_batch_times(t, x.shape[0], x.device))
        if self.class_embed is not None:
            emb = emb + self.class_embed(y, x.shape[0])
        elif y is not None:
            raise ValueError("this UNet is unconditional (num_classes=None); got labels y")
        h = self.conv_in(x)
        hs = [h]
        for m in self.down:
            h = m(h, emb) if isinstance(m, _Stage) else m(h)
            hs.append(h)
        for m in self.mid:
            h = m(h, emb)
        for m in self.up:
            h = m(torch.cat([h, hs.pop()], dim=1), emb) if isinstance(m, _Stage) else m(h)
        return self.out(h)
