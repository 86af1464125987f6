"""Write snapshot pickles in the official persistence format from our networks (tests only).

No official code is involved: stand-in modules named like the official ones (``torch_utils.persistence``,
``dnnlib.util``, ``training.*``) are registered in ``sys.modules`` only while pickling, so the file
names exactly the globals an official snapshot names. Each network becomes a persistence record
(``type``, ``version``, ``module_src``, ``class_name``, ``state``) with the official class names,
sub-module names, parameter/buffer names, attributes and ``init_kwargs``; the record tree mirrors
one written by the official training code (checked against a real one while writing the loader).
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from panohead.config import GeneratorConfig, preset
from panohead.generator import PanoHeadGenerator
from panohead.nn.layers import EqualConv2d, EqualLinear, ModulatedConv, ModulatedToRGB
from panohead.nn.mapping import MappingNetwork
from panohead.nn.resample import binomial_filter
from panohead.nn.synthesis import SynthesisBlock, SynthesisNetwork
from panohead.training.discriminator import DiscriminatorConfig, TriDiscriminator

MODULE_SRC = "# Source text of the official module; the loader keeps it as text and never runs it.\n"

# Small configurations shaped like the two official generator families.
PANOHEAD_TINY = preset(
    "tiny",
    grid_depth=2,
    sr_upsample_first=False,
    sr_input_resolution=16,
    image_resolution=32,
    sr_channels=(16, 8),
    background_channel_base=128,
)
EG3D_TINY = preset(
    "tiny",
    plane_layout="eg3d",
    grid_depth=1,
    decoder_activation="sigmoid",
    raw_to_rgb=False,
    background=False,
    camera_adapter=False,
    crop_margin=0.0,
    image_resolution=64,
    sr_channels=(16, 8),
)
TINY_D = DiscriminatorConfig(resolution=32, channel_base=256, channel_max=32, mapping_layers=2, mbstd_group=2)


class Persistent:
    """Pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, like an official network."""

    def __init__(self, class_name: str, state: dict[str, Any], module_src: str = MODULE_SRC) -> None:
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name, state=self.state)
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,)

    def child(self, name: str) -> Persistent:
        return self.state["_modules"][name]


def _stand_in(module: str, name: str, base: type = object) -> type:
    cls = type(name, (base,), {})
    cls.__module__, cls.__qualname__ = module, name
    return cls


def _reconstruct_persistent_obj(meta):
    raise AssertionError("stand-in: an official snapshot is never unpickled with this function")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
EasyDict = _stand_in("dnnlib.util", "EasyDict", dict)
PLAIN = {
    "RaySampler": _stand_in("training.volumetric_rendering.ray_sampler", "RaySampler"),
    "OSGDecoder": _stand_in("training.triplane", "OSGDecoder"),
    "ImportanceRenderer": _stand_in("training.volumetric_rendering.renderer", "ImportanceRenderer"),
    "MipRayMarcher2": _stand_in("training.volumetric_rendering.ray_marcher", "MipRayMarcher2"),
}


@contextlib.contextmanager
def official_module_names():
    """Register the stand-in modules in sys.modules while pickling, then remove them."""
    modules: dict[str, types.ModuleType] = {}
    for name in (
        "torch_utils",
        "torch_utils.persistence",
        "dnnlib",
        "dnnlib.util",
        "training",
        "training.triplane",
        "training.volumetric_rendering",
        "training.volumetric_rendering.ray_sampler",
        "training.volumetric_rendering.renderer",
        "training.volumetric_rendering.ray_marcher",
    ):
        modules[name] = types.ModuleType(name)
    modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    modules["dnnlib.util"].EasyDict = EasyDict
    for cls in PLAIN.values():
        setattr(modules[cls.__module__], cls.__qualname__, cls)
    previous = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in previous.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def module_state(
    params: dict | None = None,
    buffers: dict | None = None,
    modules: dict | None = None,
    init_args: tuple = (),
    init_kwargs: dict | None = None,
    **attributes,
) -> dict[str, Any]:
    """The ``__dict__`` of a torch module as the official pickles hold it."""
    return {
        "training": False,
        "_parameters": OrderedDict(
            (k, nn.Parameter(v.detach().clone(), requires_grad=False)) for k, v in (params or {}).items()
        ),
        "_buffers": OrderedDict((k, v.detach().clone()) for k, v in (buffers or {}).items()),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": OrderedDict(modules or {}),
        "_init_args": init_args,
        "_init_kwargs": EasyDict(init_kwargs or {}),
        **attributes,
    }


def plain_object(name: str, **attributes) -> Any:
    obj = PLAIN[name]()
    obj.__dict__.update(module_state(**attributes))
    return obj


def fully_connected(layer: EqualLinear) -> Persistent:
    out_features, in_features = layer.weight.shape
    return Persistent(
        "FullyConnectedLayer",
        module_state(
            {"weight": layer.weight, "bias": layer.bias},
            init_args=(in_features, out_features),
            in_features=in_features,
            out_features=out_features,
            activation=layer.activation,
            weight_gain=np.float64(layer.weight_gain),
            bias_gain=layer.bias_gain,
        ),
    )


def synthesis_layer(conv: ModulatedConv) -> Persistent:
    out_channels, in_channels = conv.weight.shape[:2]
    return Persistent(
        "SynthesisLayer",
        module_state(
            {"weight": conv.weight, "noise_strength": conv.noise_strength, "bias": conv.bias},
            {"resample_filter": binomial_filter(), "noise_const": conv.noise_const},
            {"affine": fully_connected(conv.affine)},
            init_args=(in_channels, out_channels),
            init_kwargs={"resolution": conv.resolution, "conv_clamp": conv.conv_clamp},
            in_channels=in_channels,
            out_channels=out_channels,
            resolution=conv.resolution,
            up=2 if conv.up else 1,
            use_noise=True,
            activation="lrelu",
            conv_clamp=conv.conv_clamp,
            padding=1,
            act_gain=np.float64(np.sqrt(2)),
        ),
    )


def to_rgb(layer: ModulatedToRGB) -> Persistent:
    out_channels, in_channels = layer.weight.shape[:2]
    return Persistent(
        "ToRGBLayer",
        module_state(
            {"weight": layer.weight, "bias": layer.bias},
            modules={"affine": fully_connected(layer.affine)},
            init_args=(in_channels, out_channels),
            in_channels=in_channels,
            out_channels=out_channels,
            conv_clamp=layer.conv_clamp,
            weight_gain=np.float64(layer.weight_gain),
        ),
    )


def synthesis_block(block: SynthesisBlock, name: str = "SynthesisBlock") -> Persistent:
    modules = {"conv1": synthesis_layer(block.conv1), "torgb": to_rgb(block.torgb)}
    params = {}
    if block.conv0 is None:
        params["const"] = block.const
    else:
        modules = {"conv0": synthesis_layer(block.conv0), **modules}
    return Persistent(
        name,
        module_state(
            params,
            {"resample_filter": binomial_filter()},
            modules,
            architecture="skip",
            resolution=block.resolution,
            num_conv=block.num_conv,
            num_torgb=1,
            use_fp16=False,
        ),
    )


def synthesis_network(network: SynthesisNetwork, channel_base: int) -> Persistent:
    blocks = {f"b{res}": synthesis_block(network.blocks[str(res)]) for res in network.resolutions}
    img_channels = network.blocks["4"].torgb.weight.shape[0]
    return Persistent(
        "SynthesisNetwork",
        module_state(
            modules=blocks,
            init_kwargs={"channel_base": channel_base},
            img_resolution=network.resolution,
            img_channels=img_channels,
            num_ws=network.num_ws,
            block_resolutions=network.resolutions,
        ),
    )


def mapping_network(network: MappingNetwork, tracks_w_avg: bool = True) -> Persistent:
    """The official MappingNetwork; the discriminator's (``tracks_w_avg=False``) keeps no w_avg."""
    modules = {"embed": fully_connected(network.embed)}
    modules.update({f"fc{i}": fully_connected(layer) for i, layer in enumerate(network.layers)})
    return Persistent(
        "MappingNetwork",
        module_state(
            buffers={"w_avg": network.w_avg} if tracks_w_avg else {},
            modules=modules,
            z_dim=network.z_dim,
            c_dim=network.c_dim,
            w_dim=network.w_dim,
            num_ws=network.num_ws if tracks_w_avg else None,
            num_layers=len(network.layers),
            w_avg_beta=0.998 if tracks_w_avg else None,
        ),
    )


def conv2d(layer: EqualConv2d) -> Persistent:
    out_channels, in_channels, kernel = layer.weight.shape[:3]
    params = {"weight": layer.weight} if layer.bias is None else {"weight": layer.weight, "bias": layer.bias}
    extra = {"bias": None} if layer.bias is None else {}
    return Persistent(
        "Conv2dLayer",
        module_state(
            params,
            {"resample_filter": binomial_filter()},
            init_args=(in_channels, out_channels),
            init_kwargs={"kernel_size": kernel},
            in_channels=in_channels,
            out_channels=out_channels,
            activation=layer.activation,
            up=1,
            down=2 if layer.down else 1,
            conv_clamp=layer.conv_clamp,
            padding=kernel // 2,
            weight_gain=np.float64(layer.weight_gain),
            **extra,
        ),
    )


def discriminator_record(D: TriDiscriminator) -> Persistent:
    """PanoHead's MaskDualDiscriminatorV2 record (EG3D's DualDiscriminator without the mask channel)."""
    cfg = D.config
    modules = {}
    for res in D.resolutions:
        block = D.blocks[str(res)]
        layers = {"fromrgb": conv2d(block.fromrgb)} if block.fromrgb is not None else {}
        layers.update(conv0=conv2d(block.conv0), conv1=conv2d(block.conv1), skip=conv2d(block.skip))
        modules[f"b{res}"] = Persistent(
            "DiscriminatorBlock",
            module_state(
                buffers={"resample_filter": binomial_filter()}, modules=layers, architecture="resnet", resolution=res
            ),
        )
    modules["mapping"] = mapping_network(D.mapping, tracks_w_avg=False)
    epilogue = D.epilogue
    modules["b4"] = Persistent(
        "DiscriminatorEpilogue",
        module_state(
            modules={
                "mbstd": Persistent(
                    "MinibatchStdLayer", module_state(group_size=cfg.mbstd_group, num_channels=cfg.mbstd_channels)
                ),
                "conv": conv2d(epilogue.conv),
                "fc": fully_connected(epilogue.fc),
                "out": fully_connected(epilogue.out),
            },
            architecture="resnet",
            cmap_dim=epilogue.cmap_dim,
            resolution=4,
        ),
    )
    return Persistent(
        "MaskDualDiscriminatorV2" if cfg.mask_channel else "DualDiscriminator",
        module_state(
            buffers={"resample_filter": binomial_filter()},
            modules=modules,
            init_kwargs={
                "c_dim": cfg.c_dim,
                "img_resolution": cfg.resolution,
                "img_channels": 3,
                "channel_base": cfg.channel_base,
                "channel_max": cfg.channel_max,
                "architecture": "resnet",
            },
            c_dim=cfg.c_dim,
            img_resolution=cfg.resolution,
            img_channels=cfg.input_channels,
            disc_c_noise=0,
        ),
    )


def generator_record(G: PanoHeadGenerator, module_src: str = MODULE_SRC) -> Persistent:
    """The TriPlaneGenerator record (PanoHead's, or EG3D's when the config uses the eg3d layout)."""
    cfg: GeneratorConfig = G.config
    panohead = cfg.plane_layout == "panohead"
    superres_class = "SuperresolutionHybrid8XDC" if cfg.sr_upsample_first else "SuperresolutionHybrid2X"
    sr_blocks = {
        f"block{i}": synthesis_block(block, "SynthesisBlock" if block.up else "SynthesisBlockNoUp")
        for i, block in enumerate(G.superres.blocks)
    }
    superres = Persistent(
        superres_class,
        module_state(
            buffers={} if cfg.sr_upsample_first else {"resample_filter": binomial_filter()},
            modules=sr_blocks,
            input_resolution=cfg.sr_input_resolution,
            sr_antialias=cfg.sr_antialias,
        ),
    )
    net = nn.Sequential()
    net._modules.update(
        {"0": fully_connected(G.decoder.hidden), "1": nn.Softplus(), "2": fully_connected(G.decoder.out)}
    )
    backbone = Persistent(
        "Generator",
        module_state(
            modules={
                "synthesis": synthesis_network(G.synthesis, cfg.channel_base),
                "mapping": mapping_network(G.mapping_network),
            }
        ),
    )
    rendering = {
        "image_resolution": cfg.image_resolution,
        "disparity_space_sampling": False,
        "clamp_mode": "softplus",
        "superresolution_module": f"training.superresolution.{superres_class}",
        "c_gen_conditioning_zero": False,
        "c_scale": cfg.conditioning_scale,
        "superresolution_noise_mode": cfg.sr_noise_mode,
        "density_reg": 0,
        "decoder_lr_mul": cfg.decoder_lr_multiplier,
        "sr_antialias": cfg.sr_antialias,
        "depth_resolution": cfg.samples_coarse,
        "depth_resolution_importance": cfg.samples_fine,
        "ray_start": cfg.ray_start,
        "ray_end": cfg.ray_end,
        "box_warp": cfg.box_warp,
        "avg_camera_radius": cfg.camera_radius,
        "avg_camera_pivot": list(cfg.look_at),
    }
    modules = {"ray_sampler": plain_object("RaySampler"), "backbone": backbone, "superresolution": superres}
    if panohead:
        rendering.update(
            decoder_activation=cfg.decoder_activation,
            use_torgb_raw=cfg.raw_to_rgb,
            triplane_size=cfg.plane_resolution,
            triplane_depth=cfg.grid_depth,
            use_background=cfg.background,
        )
        modules["renderer"] = Persistent(
            "ImportanceRenderer",
            module_state(
                modules={"ray_marcher": Persistent("MipRayMarcher2", module_state())}, plane_axes=torch.eye(3)
            ),
        )
        modules["decoder"] = Persistent(
            "OSGDecoder",
            module_state(
                modules={"net": net},
                init_args=(cfg.plane_channels, {"decoder_activation": cfg.decoder_activation}),
                hidden_dim=cfg.decoder_hidden,
                activation=cfg.decoder_activation,
            ),
        )
        if G.raw_to_rgb is not None:
            modules["torgb"] = to_rgb(G.raw_to_rgb)
        if G.background is not None:
            modules["bcg_synthesis"] = synthesis_network(G.background, cfg.background_channel_base)
        modules["t_mapping"] = mapping_network(G.camera_adapter)
    else:
        modules["renderer"] = plain_object(
            "ImportanceRenderer", modules={"ray_marcher": plain_object("MipRayMarcher2")}
        )
        modules["decoder"] = plain_object("OSGDecoder", modules={"net": net}, hidden_dim=cfg.decoder_hidden)
    init_kwargs = {
        "z_dim": cfg.z_dim,
        "c_dim": cfg.c_dim,
        "w_dim": cfg.w_dim,
        "img_resolution": cfg.image_resolution,
        "img_channels": 3,
        "sr_num_fp16_res": 4,
        "mapping_kwargs": EasyDict(num_layers=cfg.mapping_layers),
        "rendering_kwargs": rendering,
        "channel_base": cfg.channel_base,
        "channel_max": cfg.channel_max,
        "num_fp16_res": 0,
        "conv_clamp": cfg.conv_clamp,
        "architecture": "skip",
    }
    return Persistent(
        "TriPlaneGenerator",
        module_state(
            modules=modules,
            init_kwargs=init_kwargs,
            z_dim=cfg.z_dim,
            c_dim=cfg.c_dim,
            w_dim=cfg.w_dim,
            img_resolution=cfg.image_resolution,
            img_channels=3,
            neural_rendering_resolution=cfg.neural_resolution,
            rendering_kwargs=rendering,
            _last_planes=None,
        ),
        module_src,
    )


def random_generator(config: GeneratorConfig, seed: int = 0) -> PanoHeadGenerator:
    """Our generator with every parameter random (biases, noise strengths and w_avg too)."""
    torch.manual_seed(seed)
    G = PanoHeadGenerator(config).eval().requires_grad_(False)
    for name, tensor in G.state_dict().items():
        if name.endswith(("bias", "noise_strength", "w_avg")):
            tensor.copy_(torch.randn_like(tensor) * 0.2)
    return G


def snapshot_bytes(
    G: PanoHeadGenerator,
    edit: Callable[[Persistent], None] | None = None,
    module_src: str = MODULE_SRC,
    with_training_copy: bool = True,
    D: TriDiscriminator | None = None,
    edit_d: Callable[[Persistent], None] | None = None,
) -> bytes:
    """Pickle bytes of an official snapshot dict holding ``G`` as G_ema (and G, and ``D``), in the official format.

    ``edit`` / ``edit_d`` may change the G_ema / D record before pickling (to test refusals).
    """
    with official_module_names():
        g_ema = generator_record(G, module_src)
        d = discriminator_record(D) if D is not None else None
        if edit is not None:
            edit(g_ema)
        if edit_d is not None:
            edit_d(d)
        snapshot = {
            "training_set_kwargs": EasyDict(resolution=G.config.image_resolution, path="heads.zip"),
            "G": generator_record(G, module_src) if with_training_copy else None,
            "D": d,
            "G_ema": g_ema,
            "augment_pipe": None,
        }
        return pickle.dumps(snapshot, protocol=4)
