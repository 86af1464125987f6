"""The 8-bit block codes of compact snapshots: exact zeros and signs, errors within their stated bounds."""

from __future__ import annotations

import torch

from panohead.training.blockquant import BLOCK, decode_linear8, decode_log8, encode_linear8, encode_log8


def test_linear_codes_keep_shape_zeros_and_err_by_at_most_half_a_step_of_each_block():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(3, 5, 50, generator=generator) * torch.logspace(-6, 2, 3)[:, None, None]
    values[1, 2] = 0.0
    codes, scales = encode_linear8(values)
    assert codes.shape == values.shape and codes.dtype == torch.int8 and scales.dtype == torch.bfloat16
    assert scales.shape == (-(-values.numel() // BLOCK),)
    restored = decode_linear8(codes, scales)
    assert torch.equal(restored[1, 2], torch.zeros(50))
    blocks = torch.nn.functional.pad(values.flatten(), (0, -values.numel() % BLOCK)).view(-1, BLOCK)
    bound = (blocks.abs().amax(dim=1) / 254 * 1.01).repeat_interleave(BLOCK)[: values.numel()].view(values.shape)
    assert ((restored - values).abs() <= bound).all()
    assert torch.equal(decode_linear8(*encode_linear8(torch.zeros(7))), torch.zeros(7))


def test_log_codes_keep_zeros_exact_and_relative_error_within_the_blocks_step():
    generator = torch.Generator().manual_seed(1)
    values = torch.exp2(torch.rand(1000, generator=generator) * 60 - 70)  # 2**-70 .. 2**-10, as Adam's v spans
    values[::7] = 0.0
    values[2 * BLOCK :] = 3e-5  # blocks of one value: the step is tiny, the error too
    codes, low, step = encode_log8(values)
    assert codes.dtype == torch.uint8 and low.dtype == step.dtype == torch.bfloat16
    restored = decode_log8(codes, low, step)
    assert torch.equal(restored == 0, values == 0)
    assert torch.allclose(restored[2 * BLOCK :], values[2 * BLOCK :], rtol=1e-4, atol=0)
    positive = values > 0
    relative = (restored[positive] / values[positive]).log2().abs()
    half_step = (step.float() / 2 * 1.001).repeat_interleave(BLOCK)[: values.numel()][positive]
    assert (relative <= half_step + 1e-6).all()
    assert relative.max() < 60 / 254  # 60 octaves over 254 levels: half a level is about 8% of v, 4% of sqrt(v)
