"""Convolution probes: filters, feature maps and activation maximisation of an image network.

Every probe takes a GraphModel whose first input is an image (C, H, W), puts the model back
into the mode it was in, never touches the parameters' `.grad`, and returns NumPy on the CPU.
Pass a copy of a training job's model: eval mode is switched on while a probe runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbuilder.compile import GraphModel
from dlbuilder.probes import eval_mode, model_device

MAX_TARGETS = 32  # channels or classes optimised at once (one image each, one batch)
MAX_STEPS = 1000  # gradient-ascent steps
MAX_LEARNING_RATE = 10.0
MAX_JITTER = 8  # pixels
MAX_BLUR = 3.0  # Gaussian sigma in pixels
MAX_L2 = 100.0
BLUR_EVERY = 4  # steps between blurs: every step would wash the image out (Yosinski et al. 2015)
POOLS = (nn.MaxPool2d, nn.AvgPool2d)

Progress = Callable[[int, int], object]  # (steps done, steps in all); return False to stop early


@dataclass(frozen=True)
class Filters:
    """One conv layer's filters as images: (out, K, K), or (out, 3, K, K) for a colour first layer."""

    node: str
    images: np.ndarray
    input_channel: int | None  # which input channel's slice; None when images show all of them
    in_channels: int
    limit: float  # largest |weight| of the whole layer: one symmetric colour scale for all filters


@dataclass(frozen=True)
class FeatureMaps:
    """What one conv or pool node makes of one image: maps (C, H, W)."""

    node: str
    kind: str  # "conv", "pool", or "other" for any other node chosen that makes maps
    maps: np.ndarray


@dataclass(frozen=True)
class MaximisedImages:
    """Images grown by gradient ascent, one per target; activations measured without jitter."""

    node: str
    targets: tuple[int, ...]  # channels (of an image node) or units (of a vector node, e.g. classes)
    images: np.ndarray  # (len(targets), C, H, W)
    before: np.ndarray  # (len(targets),) target activation of the starting noise
    after: np.ndarray  # (len(targets),) target activation of the final image
    steps: int  # steps actually taken (fewer when stopped early)


def image_shape(model: GraphModel) -> tuple[int, int, int]:
    """The (C, H, W) of the network's image input; a ValueError that says what to use otherwise."""
    spec = model.input_specs[0] if model.input_specs else None
    if spec is None or spec.dtype != "float" or len(spec.shape) != 3:
        raise ValueError("these views need a network whose input is an image (C,H,W): "
                         "pick an image dataset such as digits, or the lenet preset")
    return tuple(spec.shape)


def as_image(model: GraphModel, image) -> torch.Tensor:
    """One image as a float (1, C, H, W) tensor on the model's device; (H, W) is taken as grey."""
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu()
    else:
        image = torch.as_tensor(np.asarray(image, dtype=np.float32))
    shape = image_shape(model)
    if image.ndim == 2:
        image = image[None]
    if tuple(image.shape) != shape:
        raise ValueError(f"the image is {tuple(image.shape)} but the network reads {shape}: "
                         "choose an example of the network's own dataset")
    if not torch.isfinite(image).all():
        raise ValueError("the image has NaN or infinite pixels: choose another example")
    return image[None].to(model_device(model))


def check_number(name: str, value: float, low: float, high: float) -> float:
    """`value` as a float if low <= value <= high (NaN fails), else a ValueError naming the range."""
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}: change {name}")
    return value


def checked_range(value_range) -> tuple[float, float]:
    """(low, high) of the data's valid pixel values, finite and low < high, else a ValueError."""
    low, high = (check_number("value_range", v, -1e6, 1e6) for v in value_range)
    if not low < high:
        raise ValueError(f"value_range {tuple(value_range)} is empty: give (low, high) with low < high")
    return low, high


def conv_of(module: nn.Module) -> nn.Conv2d | None:
    """The nn.Conv2d a conv2d node starts with (Conv2d, or Sequential(Conv2d, activation))."""
    if isinstance(module, nn.Sequential) and len(module):
        module = module[0]
    return module if isinstance(module, nn.Conv2d) else None


def conv_nodes(model: GraphModel) -> list[str]:
    """Node ids of the conv2d layers, in forward order."""
    return [step.node for step in model.steps if conv_of(model.get_submodule(step.node)) is not None]


def image_nodes(model: GraphModel) -> list[str]:
    """Node ids of the conv2d and pooling layers, in forward order (the feature-map views)."""
    return [step.node for step in model.steps
            if conv_of(model.get_submodule(step.node)) is not None
            or isinstance(model.get_submodule(step.node), POOLS)]


def _conv(model: GraphModel, node: str) -> nn.Conv2d:
    conv = conv_of(model.get_submodule(node)) if node in dict(model.named_children()) else None
    if conv is None:
        raise ValueError(f"{node!r} is not a conv2d layer: choose one of {conv_nodes(model) or 'none'}")
    return conv


def conv_filters(model: GraphModel, node: str, input_channel: int | None = None) -> Filters:
    """A conv layer's filters: whole (grey or colour) for input_channel None, else one input channel's slice.

    A layer with more than one input channel that is not a colour image (3) needs input_channel.
    """
    weight = _conv(model, node).weight.detach().float().cpu()  # (out, in, K, K)
    in_channels = weight.shape[1]
    limit = float(weight.abs().max()) if weight.numel() else 0.0
    if input_channel is None and in_channels in (1, 3):
        images = weight[:, 0] if in_channels == 1 else weight
        return Filters(node, images.numpy(), None, in_channels, limit)
    if input_channel is None or not 0 <= int(input_channel) < in_channels:
        raise ValueError(f"{node} reads {in_channels} channels: choose input_channel from 0 to {in_channels - 1}")
    return Filters(node, weight[:, int(input_channel)].numpy(), int(input_channel), in_channels, limit)


def feature_maps(model: GraphModel, image, nodes: list[str] | None = None) -> list[FeatureMaps]:
    """Outputs of the conv and pool nodes (or `nodes`) for one image (C, H, W), in forward order."""
    chosen = image_nodes(model) if nodes is None else list(nodes)
    unknown = [node for node in chosen if node not in {step.node for step in model.steps}]
    if unknown:
        raise ValueError(f"no layer named {unknown[0]!r}: choose from {image_nodes(model) or 'the layers'}")
    x = as_image(model, image)
    with eval_mode(model), torch.no_grad(), model.capture(chosen, attention=False) as captured:
        model(x)
    result = []
    for node in chosen:
        output = captured.outputs[node][0].float().cpu()
        if output.ndim != 3:
            raise ValueError(f"{node} makes {tuple(output.shape)}, not maps (C,H,W): choose a conv or pool layer")
        module = model.get_submodule(node)
        kind = "pool" if isinstance(module, POOLS) else "conv" if conv_of(module) is not None else "other"
        result.append(FeatureMaps(node, kind, output.numpy()))
    return result


def target_values(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Row i's activation of targets[i]: the channel's spatial mean for maps (B, C, H, W), else unit (B, U)."""
    flat = output.flatten(2).mean(dim=2) if output.ndim > 2 else output  # (B, C)
    return flat.gather(1, targets[:, None])[:, 0]


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each channel blurred with a Gaussian of `sigma` pixels (edge pixels repeated outside the image)."""
    radius = max(1, math.ceil(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius,) * 4, mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _checked_targets(model: GraphModel, node: str, targets, x: torch.Tensor) -> torch.Tensor:
    names = {step.node for step in model.steps}
    if node not in names:
        raise ValueError(f"no layer named {node!r}: choose one of {sorted(names)}")
    targets = [int(t) for t in islice(targets, MAX_TARGETS + 1)]  # never walks a huge range
    if not 1 <= len(targets) <= MAX_TARGETS:
        got = len(targets) if len(targets) <= MAX_TARGETS else "more"
        raise ValueError(f"choose between 1 and {MAX_TARGETS} channels or classes at once, got {got}")
    with torch.no_grad(), model.capture([node], attention=False) as captured:
        model(x[:1])
    output = captured.outputs[node]
    if output.ndim not in (2, 4):
        raise ValueError(f"{node} makes {tuple(output.shape[1:])}: choose a conv, pool, dense or output layer")
    count = output.shape[1]
    if not all(0 <= t < count for t in targets):
        raise ValueError(f"{node} has {count} channels or units: choose targets from 0 to {count - 1}")
    return torch.tensor(targets, device=x.device)


def _captured_targets(model: GraphModel, modules: list[nn.Module], x: torch.Tensor,
                      targets: torch.Tensor) -> list[torch.Tensor]:
    """(B,) each image's own target in each module's output, from one forward, graph kept for backward."""
    outputs: dict[int, torch.Tensor] = {}
    hooks = [module.register_forward_hook(lambda m, i, out, k=k: outputs.update({k: out}))
             for k, module in enumerate(modules)]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [target_values(outputs[k], targets) for k in range(len(modules))]


def _objective(model: GraphModel, node: str, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B,) the target's activation; before the activation function where a conv channel is silent.

    ReLU zeroes a channel whose pre-activation is negative everywhere, and with it the gradient:
    there the ascent follows the convolution's own output until the channel wakes up.
    """
    module = model.get_submodule(node)
    conv = conv_of(module)
    if conv is None or conv is module:
        return _captured_targets(model, [module], x, targets)[0]
    before_activation, activation = _captured_targets(model, [conv, module], x, targets)
    return torch.where(activation > 0, activation, before_activation)


@dataclass(frozen=True)
class _Ascent:
    """Checked settings of one activation maximisation."""

    steps: int
    learning_rate: float
    jitter: int
    blur: float
    l2: float
    low: float
    high: float


def _checked_ascent(shape, steps, learning_rate, jitter, blur, l2, value_range) -> _Ascent:
    low, high = checked_range(value_range)
    return _Ascent(steps=int(check_number("steps", steps, 1, MAX_STEPS)),
                   learning_rate=check_number("learning_rate", learning_rate, 1e-6, MAX_LEARNING_RATE),
                   jitter=int(check_number("jitter", jitter, 0, min(MAX_JITTER, min(shape[1:]) // 2))),
                   blur=check_number("blur", blur, 0, MAX_BLUR), l2=check_number("l2", l2, 0, MAX_L2),
                   low=low, high=high)


def _ascend(model: GraphModel, node: str, image: torch.Tensor, targets: torch.Tensor, ascent: _Ascent,
            generator: torch.Generator, progress: Progress | None) -> int:
    """Adam steps on `image` (B, C, H, W) in place; returns the number of steps taken."""
    optimizer = torch.optim.Adam([image], lr=ascent.learning_rate)
    grey, jitter, done = (ascent.low + ascent.high) / 2, ascent.jitter, 0
    for done in range(1, ascent.steps + 1):
        shift = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist() if jitter else [0, 0]
        objective = _objective(model, node, torch.roll(image, shifts=shift, dims=(2, 3)), targets)
        if ascent.l2:
            objective = objective - ascent.l2 * ((image - grey) ** 2).flatten(1).mean(dim=1)
        (image.grad,) = torch.autograd.grad(-objective.sum(), image)
        optimizer.step()
        with torch.no_grad():
            if ascent.blur and done % BLUR_EVERY == 0:
                image.copy_(_gaussian_blur(image, ascent.blur))
            image.clamp_(ascent.low, ascent.high)
        if progress is not None and progress(done, ascent.steps) is False:
            break
    return done


def maximise_activation(model: GraphModel, node: str, targets, steps: int = 100, learning_rate: float = 0.05,
                        jitter: int = 1, blur: float = 0.0, l2: float = 0.0, seed: int = 0,
                        value_range: tuple[float, float] = (0.0, 1.0),
                        progress: Progress | None = None) -> MaximisedImages:
    """Grow one image per target (a channel's mean activation, or a unit such as a class score) from noise.

    Adam ascends `activation - l2 * mean((image - grey)^2)`; each step sees the image rolled by up to
    `jitter` pixels, every BLUR_EVERY steps the image is blurred (sigma `blur`), and pixels stay in
    `value_range`. The noise is grey plus a tenth of the range times N(0, 1), from `seed`. All targets
    are optimised together, one image each in one batch; `progress(done, steps)` may return False to stop.
    """
    shape = image_shape(model)
    ascent = _checked_ascent(shape, steps, learning_rate, jitter, blur, l2, value_range)
    generator = torch.Generator().manual_seed(int(seed))
    grey, spread = (ascent.low + ascent.high) / 2, (ascent.high - ascent.low) / 10
    with eval_mode(model):
        device = model_device(model)
        target_ids = _checked_targets(model, node, targets, torch.zeros(1, *shape, device=device))
        noise = grey + spread * torch.randn((len(target_ids), *shape), generator=generator)
        image = noise.clamp(ascent.low, ascent.high).to(device).requires_grad_(True)
        measured = [model.get_submodule(node)]
        with torch.no_grad():
            (before,) = _captured_targets(model, measured, image, target_ids)
        done = _ascend(model, node, image, target_ids, ascent, generator, progress)
        with torch.no_grad():
            (after,) = _captured_targets(model, measured, image, target_ids)
    return MaximisedImages(node, tuple(target_ids.tolist()), image.detach().float().cpu().numpy(),
                           before.float().cpu().numpy(), after.float().cpu().numpy(), done)
