"""The Inspect page's convolution panel: filters, feature maps, activation maximisation, saliency and
adversarial examples of the probes' copy of the job's model (see `inspect_panels`)."""

from __future__ import annotations

import copy

import streamlit as st

from dlbuilder.figures.convolution import (adversarial_figure, feature_maps_figure, filter_figure, maximised_figure,
                                           saliency_figure)
from dlbuilder.inspection.adversarial import adversarial_example, saliency
from dlbuilder.inspection.convolution import conv_filters, conv_nodes, conv_of, feature_maps, maximise_activation
from dlbuilder.training.setup import Setup
from dlbuilder.ui import background, text
from dlbuilder.ui.inspect_panels import clicked, panel, remembered

ADVICE = "Press \"Use the latest weights\", or train again."
MAXIMISED_CHANNELS = 8  # channels grown side by side
MAX_STEPS = 300  # gradient-ascent steps a student may ask for: a few seconds on one CPU thread


def convolution_panel(version: int, setup: Setup) -> None:
    """Filters, then the chosen test image's feature maps, maximised channels, saliency and an adversarial twin."""
    model, bundle = setup.model, setup.bundle
    value_range = tuple(bundle.extras.get("value_range", (0.0, 1.0)))
    with panel(ADVICE):
        _filters(model)
    st.divider()
    count = len(bundle.x_test)
    left, right = st.columns(2)
    index = int(left.number_input(f"Test image (0 to {count - 1})", 0, count - 1, 0, key="dlb_inspect_image"))
    image = bundle.x_test[index]
    with panel(ADVICE):
        maps = remembered("feature_maps", (version, index), lambda: feature_maps(model, image))
        names = [found.node for found in maps]
        node = right.selectbox("Feature maps of", names, key="dlb_inspect_maps_node", format_func=text.plain)
        chosen = next(found for found in maps if found.node == node)
        st.plotly_chart(feature_maps_figure(chosen.maps, node=node), key="dlb_inspect_maps")
    st.divider()
    with panel(ADVICE):
        _maximised(version, model, value_range)
    if setup.problem != "classification":
        st.caption("Saliency and adversarial examples need a classifier: this network's task is "
                   f"{text.plain(setup.problem)}.")
        return
    st.divider()
    class_names = bundle.info.class_names
    with panel(ADVICE):
        found = remembered("saliency", (version, index), lambda: saliency(model, image))
        st.plotly_chart(saliency_figure(image.numpy(), found.map, found.target, found.predicted, found.probability,
                                        class_names, value_range), key="dlb_inspect_saliency")
    with panel(ADVICE):
        _adversarial(version, index, model, image, value_range, class_names)


def _filters(model) -> None:
    nodes = conv_nodes(model)
    left, right = st.columns(2)
    node = left.selectbox("Filters of", nodes, key="dlb_inspect_filter_node", format_func=text.plain)
    in_channels = conv_of(model.get_submodule(node)).in_channels
    colour = in_channels == 3 and node == nodes[0]  # the image's own colours: one RGB picture per filter
    channel = None
    if in_channels > 1 and not colour:  # deeper layers: one input channel's slice at a time
        channel = int(right.number_input(f"Input channel (0 to {in_channels - 1})", 0, in_channels - 1, 0,
                                         key=f"dlb_inspect_filter_channel_{node}"))
    filters = conv_filters(model, node, channel)
    st.plotly_chart(filter_figure(filters.images, filters.limit, node=node, input_channel=channel),
                    key="dlb_inspect_filters")


def _maximised(version: int, model, value_range) -> None:
    st.markdown("**Activation maximisation**: images grown from noise to excite each channel.")
    nodes = conv_nodes(model)
    left, middle, right = st.columns(3)
    # the deepest by default: a first layer's 3x3 filters are best excited by plain bright or dark patches
    node = left.selectbox("Channels of", nodes, len(nodes) - 1, key="dlb_inspect_max_node", format_func=text.plain)
    steps = middle.slider("Steps", 10, MAX_STEPS, 100, 10, key="dlb_inspect_max_steps")
    learning_rate = right.select_slider("Learning rate", [0.01, 0.02, 0.05, 0.1, 0.2], 0.05,
                                        key="dlb_inspect_max_lr")
    blur_col, l2_col = st.columns(2)
    blur = blur_col.select_slider("Blur (smooths the image every 4 steps)", [0.0, 0.3, 0.5, 1.0], 0.0,
                                  key="dlb_inspect_max_blur")
    l2 = l2_col.select_slider("L2 pull towards grey (keeps pixels moderate)", [0.0, 0.01, 0.1, 1.0], 0.0,
                              key="dlb_inspect_max_l2")
    channels = tuple(range(min(MAXIMISED_CHANNELS, conv_of(model.get_submodule(node)).out_channels)))
    arguments = (version, node, steps, learning_rate, blur, l2)
    if clicked("Grow images", "dlb_inspect_maximise", help="Run gradient ascent in the background for these "
               "settings; the page stays usable, and Cancel stops it."):
        twin = copy.deepcopy(model)  # the page keeps drawing with `model` while the thread works on the copy
        background.start("maximised", arguments, lambda reporter: maximise_activation(
            twin, node, channels, steps=steps, learning_rate=learning_rate, blur=blur, l2=l2,
            value_range=value_range, progress=lambda done, total: reporter.progress(done, total, "steps")),
            f"Gradient ascent, {steps} steps")
    if background.task("maximised", arguments) is None:
        st.caption("Press **Grow images** to run gradient ascent for these settings.")
        return

    def draw(grown):
        st.plotly_chart(maximised_figure(grown.images, grown.targets, grown.before, grown.after, node=node,
                                         value_range=value_range), key="dlb_inspect_maximised")
        st.caption("Under each image: the channel's mean activation on the starting noise → on the grown image.")
    background.follow("maximised", arguments, draw)


def _adversarial(version: int, index: int, model, image, value_range, class_names) -> None:
    width = value_range[1] - value_range[0]
    epsilon = st.slider("ε (largest change per pixel, as a share of the pixel range)", 0.0, 0.5, 0.05, 0.01,
                        key="dlb_inspect_epsilon")
    found = remembered("adversarial", (version, index, epsilon),
                       lambda: adversarial_example(model, image, epsilon * width, value_range=value_range))
    st.plotly_chart(adversarial_figure(found.original, found.perturbation, found.perturbed, found.epsilon,
                                       (found.original_class, found.original_confidence),
                                       (found.perturbed_class, found.perturbed_confidence),
                                       found.smallest_epsilon, class_names, value_range),
                    key="dlb_inspect_adversarial")
    if found.flipped:
        st.caption("The prediction flipped, though each pixel moved by at most ε.")
    else:
        st.caption("Still the same prediction: raise ε past the smallest flipping value in the title.")
