"""Identity consistency: cosine similarity of face embeddings between views of the same head.

The face-embedding model comes from a file the user gives (never downloaded):

* an ArcFace IResNet state dict (.pth/.pt/.safetensors), e.g. insightface's ``arcface_torch``
  ``backbone.pth`` for r18/r34/r50/r100: the depth is read from the file's keys; input 112 x 112 RGB
  in [-1, 1], output the embedding; or
* a saved model program, torch.export (``torch.export.save``, .pt2) or TorchScript (``torch.jit.save``),
  with the same contract: (B, 3, 112, 112) in [-1, 1] -> (B, D).

Definition. Each head is conditioned on the frontal camera and rendered (final image) from yaw 0 and
from each yaw in ``yaws`` (default +-20 and +-45 degrees, where a face is still visible). The face is
cut out with a fixed box (:data:`FACE_BOX`: centred, 0.56 of the image wide, top at 0.21 of its
height, which puts the eyes and mouth of a head framed like the official dataset roughly where
ArcFace's aligned 112 x 112 crops have them) and resized to 112 x 112. The score is the mean cosine
similarity between the frontal embedding and each other view's embedding (1 = same identity).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from panohead.generator import PanoHeadGenerator
from panohead.metrics.views import batches, render_views, seed_latents
from panohead.metrics.weights import load_program, program_format
from panohead.views.camera import frontal_camera, orbit_camera

FACE_SIZE = 112
FACE_BOX = (0.21, 0.22, 0.56)  # top, left, size as fractions of the image
IDENTITY_YAWS = (-45.0, -20.0, 20.0, 45.0)
# embed(faces (B, 3, 112, 112) in [-1, 1]) -> embeddings (B, D)
Embedder = Callable[[torch.Tensor], torch.Tensor]


class IBasicBlock(nn.Module):
    """ArcFace's pre-activation residual block: BN -> 3x3 -> BN -> PReLU -> 3x3 (stride) -> BN, plus shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, eps=1e-5)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
        self.prelu = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels, eps=1e-5)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels, eps=1e-5)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """ArcFace IResNet: 112 x 112 face -> embedding; ``blocks`` per stage, e.g. (3, 4, 14, 3) for r50."""

    # The four stages, set by name (layer1..layer4, the checkpoint's keys).
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, blocks: Sequence[int], embedding_dim: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        channels = 64
        for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True), start=1):
            layers = [IBasicBlock(channels, width, 2)] + [IBasicBlock(width, width, 1) for _ in range(count - 1)]
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
            channels = width
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.fc = nn.Linear(512 * 7 * 7, embedding_dim)
        self.features = nn.BatchNorm1d(embedding_dim, eps=1e-5)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(faces)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(self.bn2(x).flatten(1)))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or foreign file: say which one
        raise ValueError(f"{path}: not a readable state dict or model program ({type(error).__name__})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    return state


def iresnet_from_state(path: Path, state: dict[str, torch.Tensor]) -> IResNet:
    """Build the IResNet whose depth the keys describe and load the weights (strictly)."""
    state = {k.removeprefix("module."): v.float() for k, v in state.items()}
    counts = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for k in state if (m := re.match(rf"layer{stage}\.(\d+)\.conv1\.weight$", k))}
        counts.append(len(indices))
    if not all(counts) or "fc.weight" not in state:
        raise ValueError(
            f"{path}: not an ArcFace IResNet state dict (expected keys layer1..4.N.conv1.weight and "
            "fc.weight) nor a torch.export/TorchScript program"
        )
    model = IResNet(counts, state["fc.weight"].shape[0])
    for name, buffer in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state.setdefault(name, buffer)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"{path}: IResNet weights do not fit ({str(error).splitlines()[1].strip()})") from None
    return model


def load_face_model(path: str | Path, device: torch.device | str = "cpu") -> Embedder:
    """A face embedder from an IResNet state dict or a saved model program (see module docstring)."""
    path = Path(path)
    if program_format(path) is not None:
        return load_program(path, device, "face-embedding model")
    return iresnet_from_state(path, read_state_dict(path)).eval().requires_grad_(False).to(device)


def face_crops(images: torch.Tensor, box: tuple[float, float, float] = FACE_BOX) -> torch.Tensor:
    """(B, 3, H, W) images in [-1, 1] -> (B, 3, 112, 112) crops of ``box`` (top, left, size as fractions)."""
    height, width = images.shape[-2:]
    top, left, size = box
    y0, x0 = round(top * height), round(left * width)
    crop = images[..., y0 : y0 + round(size * height), x0 : x0 + round(size * width)]
    return F.interpolate(
        crop.float(),
        size=(FACE_SIZE, FACE_SIZE),
        mode="bilinear",
        align_corners=False,
        antialias=crop.shape[-1] > FACE_SIZE,
    )


@torch.no_grad()
def identity_consistency(
    generator: PanoHeadGenerator,
    embed: Embedder,
    seeds: Sequence[int],
    yaws: Sequence[float] = IDENTITY_YAWS,
    psi: float = 1.0,
    batch_size: int = 4,
    progress: bool = False,
) -> float:
    """Mean cosine similarity between each head's frontal face embedding and its other views' embeddings."""
    cameras = orbit_camera(torch.tensor([0.0, *yaws]), 0.0, generator)
    views = cameras.shape[0]
    z_all = seed_latents(generator, seeds)
    similarities = []
    for part in tqdm(list(batches(len(seeds), batch_size)), desc="identity", unit="batch", disable=not progress):
        z = z_all[part]
        out = render_views(generator, z, frontal_camera(generator, z.shape[0]), cameras, psi=psi, superresolve=True)
        embeddings = F.normalize(embed(face_crops(out["image"].clamp(-1, 1))).float(), dim=-1)
        embeddings = embeddings.unflatten(0, (z.shape[0], views))
        similarities.append((embeddings[:, :1] * embeddings[:, 1:]).sum(dim=-1).flatten().cpu())
    return float(torch.cat(similarities).mean())
