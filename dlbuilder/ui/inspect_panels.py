"""The Inspect page's panels: the probes' own copy of the job's model, the linear-model surface,
weights and gradients, and the bottleneck. Convolution views live in `inspect_conv`.

Every panel works on a copy of the job's model made here (the probes switch eval mode and may run
long, so never on the copy the Train page draws with), refreshed only when the student asks.
Tabs all run on every rerun, so each result is remembered with the arguments it was made from.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import streamlit as st

from dlbuilder.figures.bottleneck import code_grid_figure, code_scatter_figure
from dlbuilder.figures.distributions import (dead_units_figure, gradient_check_figure, gradient_norm_figure,
                                             histogram_heatmap_figure, ridge_figure)
from dlbuilder.figures.images import reconstruction_figure
from dlbuilder.figures.surface import contour_figure, surface_figure
from dlbuilder.inspection.bottleneck import bottleneck_view, find_bottleneck
from dlbuilder.inspection.convolution import conv_nodes
from dlbuilder.inspection.distributions import (KINDS, HistogramRecorder, dead_relu_units, fixed_batch,
                                                gradient_norms, replay_histograms)
from dlbuilder.inspection.gradient_check import gradient_check, loss_objective
from dlbuilder.inspection.linear_surface import (PRESET_DOCS, descend, learning_rate_presets, load_linear_problem,
                                                 loss_surface, race)
from dlbuilder.inspection.sequence_predictions import sequence_reason
from dlbuilder.training.job import JobHandle
from dlbuilder.training.setup import Setup, prepare
from dlbuilder.ui import background, guard, text

# (job id, weights version, Setup holding a copy of the job's weights, whether copied after the job ended)
SETUP = "state.inspect_setup"
PRESSED = "state.inspect_pressed."  # + a button's key: pressed, not yet acted on
RESULTS = "state.inspect_results"  # slot -> (arguments, result): each panel's last computation
HISTORY_EPOCHS = 16  # weight snapshots replayed for the histograms over epochs
BATCH = 256  # examples in the fixed batch of the histograms, norms and dead units
CHECKED_EXAMPLES = 4  # the gradient check costs two forward passes per entry: a few examples suffice
CODED_EXAMPLES = 500  # test examples placed on the bottleneck's code plane
# the tabs, in the page's order
SURFACE = "Error surface (linear model)"
LANDSCAPE = "Loss landscape"
CONVOLUTION = "Convolution"
WEIGHTS = "Weights & gradients"
BOTTLENECK = "Bottleneck"
SEQUENCES = "Sequences"


@contextmanager
def panel(advice: str):
    """`guard.guarded`, but the probes' own ValueErrors (they say what to change) show as themselves."""
    with guard.guarded(advice):
        try:
            yield
        except ValueError as error:
            text.show("error", str(error))


def clicked(label: str, key: str, **options) -> bool:
    """st.button, but the press is kept until read: an early st.rerun (first visit) would drop a plain one."""
    st.button(label, key=key, on_click=st.session_state.__setitem__, args=(PRESSED + key, True), **options)
    return bool(st.session_state.pop(PRESSED + key, False))


def remembered(slot: str, arguments: tuple, compute):
    """compute() once for these arguments: reruns (any widget, any tab) reuse the result."""
    results = st.session_state.setdefault(RESULTS, {})
    if slot not in results or results[slot][0] != arguments:
        results[slot] = (arguments, compute())
    return results[slot][1]


# -- the probes' copy of the job's model -------------------------------------------------------------


def inspection_setup(job: JobHandle) -> tuple[int, Setup] | None:
    """(weights version, a CPU Setup whose model holds the job's weights); made once per job and refresh,
    and once more when a job that was still training then has ended (its final weights)."""
    cached = st.session_state.get(SETUP)
    if cached is not None and cached[0] == job.id and (cached[3] or job.active):
        return cached[1], cached[2]
    ended = not job.active  # asked before the copy: a job ending meanwhile gets reloaded next time
    state = job.state_dict()
    if state is None:  # the worker has not sent weights yet
        return None
    setup = prepare(job.document, device="cpu", bundle=job.bundle())
    setup.model.load_state_dict(state)
    version = (cached[1] + 1) if cached is not None else 0
    st.session_state[SETUP] = (job.id, version, setup, ended)
    return version, setup


def refresh_button(job: JobHandle) -> None:
    """Load the job's latest weights on request (a running job's weights change every update)."""
    if clicked("Use the latest weights", "dlb_inspect_refresh",
               help="The views below use a copy of the weights taken when you opened this page or last "
                    "pressed this button; press it to see what training has changed since."):
        forget_weights()


def forget_weights() -> None:
    """Make the next `inspection_setup` copy the job's weights again."""
    cached = st.session_state.get(SETUP)
    if cached is not None:
        st.session_state[SETUP] = (None, cached[1], None, False)  # keep the version counting up


def availability(version: int, setup: Setup) -> dict[str, str | None]:
    """Each network view's reason to stay off for this network and data (None: it applies)."""
    def reasons():
        images = setup.bundle is not None and setup.bundle.x_test.dim() == 4
        convolution = None
        if not conv_nodes(setup.model) or not images:
            convolution = ("this network has no Conv2D layer on image data: train the lenet preset (Build page) "
                           "to see filters, feature maps and adversarial examples")
        bottleneck = ("the code views need an autoencoder (a network that rebuilds its input) with a 2-unit "
                      "layer in the middle: train the autoencoder preset to see its 2-D codes")
        if setup.problem == "reconstruction":
            try:
                find_bottleneck(setup.model)
                bottleneck = None
            except ValueError:
                pass
        return {CONVOLUTION: convolution, BOTTLENECK: bottleneck,
                SEQUENCES: sequence_reason(setup.model, setup.bundle)}
    return remembered("availability", (version,), reasons)


def tabs(loaded: tuple[int, Setup] | None, default: str | None = None) -> dict:
    """The tabs that apply to this network, by name; a one-line reason for each left out.

    `default`: the tab to open first (an open lesson's), when it applies."""
    reasons = availability(*loaded) if loaded else {}
    order = [SURFACE] + ([] if loaded is None else [LANDSCAPE, CONVOLUTION, SEQUENCES, WEIGHTS, BOTTLENECK])
    names = [name for name in order if reasons.get(name) is None]
    off = [f"{name}: {reason}" for name, reason in reasons.items() if reason is not None]
    if off:
        st.caption("Not shown for this network. " + " · ".join(off) + ".")
    return dict(zip(names, st.tabs(names, default=default if default in names else None)))


# -- 1. the exact surface of y = w x + b ------------------------------------------------------------------


def linear_surface_panel() -> None:
    """The exact MSE surface of y = w x + b on the 1-D sine set, with gradient descent's path replayed."""
    st.caption("A line y = w·x + b fitted to the 1-D **sine** set by mean squared error: with two weights "
               "the whole error surface can be drawn exactly, and the optimizer's path on it.")
    problem = remembered("linear_problem", ("sine",), lambda: load_linear_problem("sine"))
    presets = learning_rate_presets(problem)
    left, right = st.columns([2, 1])
    preset = left.radio("Learning rate for gradient descent", list(presets), index=1, horizontal=True,
                        key="dlb_surface_preset", format_func=lambda name: f"{name} ({presets[name]:.3g})")
    left.caption(PRESET_DOCS[preset].replace("lambda_max", "λmax"))
    racing = right.checkbox("Optimizer race", help="SGD, momentum, RMSprop and Adam from one start, each "
                            "with a learning rate that suits it (the preset above does not apply).",
                            key="dlb_surface_race")
    paths = remembered("linear_paths", (preset, racing), lambda: (
        list(race(problem).values()) if racing else [descend(problem, "sgd", presets[preset])]))
    longest = max(len(path.loss) for path in paths) - 1
    step = st.slider("Step", 0, longest, longest, key=f"dlb_surface_step_{preset}_{racing}",
                     help="Replay the path: drag to see where each update took the weights.")
    for path in paths:
        if path.diverged and step >= path.diverged_at:
            text.show("warning", f"{path.label} diverged at step {path.diverged_at}: each step overshot the "
                                 "valley further. Pick a smaller learning rate.")
    surface = remembered("linear_surface", ("sine",), lambda: loss_surface(problem))
    left, right = st.columns(2)
    left.plotly_chart(contour_figure(surface, paths, step=step, title="Error surface from above"),
                      key="dlb_surface_contour")
    right.plotly_chart(surface_figure(surface, paths, step=step, title="Error surface in 3-D"),
                       key="dlb_surface_3d")


# -- 4. weights, activations and gradients -------------------------------------------------------------


def weights_panel(job: JobHandle, version: int, setup: Setup) -> None:
    """Histograms over epochs, gradient norms and dead ReLU units on a fixed batch, and the gradient check."""
    batch = remembered("batch", (version,), lambda: fixed_batch(setup, size=BATCH))
    st.caption(f"On a fixed batch of {len(batch.targets)} training examples (the same every time).")
    with panel("Press \"Use the latest weights\", or train again."):
        kind = st.radio("Show", KINDS, horizontal=True, key="dlb_inspect_kind")
        arguments = (version,)
        if background.task("histories", arguments) is None:
            twin, snapshots, epoch = copy.deepcopy(setup.model), job.metrics.snapshots(), job.snapshot().epoch
            background.start("histories", arguments, lambda reporter: replay_histograms(
                twin, batch, snapshots, epoch, HISTORY_EPOCHS,
                progress=lambda done, total: reporter.progress(done, total, "epochs replayed")),
                "Histograms over epochs")
        background.follow("histories", arguments, lambda recorder: _histograms(recorder, kind))
    left, right = st.columns(2)
    with panel("Press \"Use the latest weights\", or train again."):
        norms = remembered("norms", (version,), lambda: gradient_norms(setup.model, batch))
        left.plotly_chart(gradient_norm_figure(norms), key="dlb_inspect_norms")
    with panel("Press \"Use the latest weights\", or train again."):
        dead = remembered("dead", (version,), lambda: dead_relu_units(setup.model, batch))
        if dead:
            right.plotly_chart(dead_units_figure(dead), key="dlb_inspect_dead")
        else:
            right.caption("No ReLU layers: no units can die.")
    _gradient_check(version, setup, batch)


def _histograms(recorder: HistogramRecorder, kind: str) -> None:
    stacks = [recorder.stacked(kind, node) for node in recorder.nodes(kind)]
    st.plotly_chart(histogram_heatmap_figure(stacks), key="dlb_inspect_histograms")
    st.caption("One row per layer: epochs go up, values across; darker = more of the layer's values there.")
    layer = st.selectbox("One layer as a ridge plot (as TensorBoard draws it)", ["none", *recorder.nodes(kind)],
                         key="dlb_inspect_ridge", format_func=text.plain)
    if layer != "none":
        st.plotly_chart(ridge_figure(recorder.stacked(kind, layer)), key="dlb_inspect_ridge_figure")


def _gradient_check(version: int, setup: Setup, batch) -> None:
    st.markdown("**Check gradients**: autograd against central finite differences in float64, "
                f"on {CHECKED_EXAMPLES} examples and a sample of each layer's weights.")
    if clicked("Check gradients", "dlb_inspect_gradcheck"):
        with panel("Try again, or report the network that fails."), st.spinner("Comparing gradients…"):
            inputs = tuple(x[:CHECKED_EXAMPLES] for x in batch.inputs)
            objective = loss_objective(batch.loss, batch.targets[:CHECKED_EXAMPLES])
            st.session_state.setdefault(RESULTS, {})["gradcheck"] = (
                (version,), gradient_check(setup.model, inputs, objective))
    found = st.session_state.get(RESULTS, {}).get("gradcheck")
    if found is None or found[0] != (version,):
        return
    check = found[1]
    if check.passed:
        st.success(f"Pass: every layer's autograd gradient matches finite differences within {check.tolerance:g}.")
    else:
        failed = ", ".join(layer.node for layer in check.layers if layer.passed is False)
        text.show("error", f"Fail in {failed}: autograd and finite differences disagree beyond "
                           f"{check.tolerance:g}. A custom layer's backward pass is wrong there.")
    left, right = st.columns(2)
    left.plotly_chart(gradient_check_figure(check), key="dlb_inspect_gradcheck_figure")
    right.dataframe([{key: (text.plain(value) if isinstance(value, str) else value) for key, value in row.items()}
                     for row in check.rows()], hide_index=True,
                    column_config={name: st.column_config.NumberColumn(format="%.2e") for name in
                                   ("largest relative error", "autograd", "finite difference")})


# -- 5. a 2-unit bottleneck --------------------------------------------------------------------------------


def bottleneck_panel(version: int, setup: Setup) -> None:
    """The test set's 2-D codes by class, images decoded over the code plane, and reconstructions."""
    bundle = setup.bundle

    def view():
        x = bundle.x_test[:CODED_EXAMPLES]
        y = bundle.y_test[:CODED_EXAMPLES]
        labels = y if y.dim() == 1 and not y.is_floating_point() else None
        return bottleneck_view(setup.model, x, labels)
    with panel("Press \"Use the latest weights\", or train again."):
        found = remembered("bottleneck", (version,), view)
        st.caption(f"The code layer **{text.plain(found.node)}** squeezes each example into 2 numbers.")
        left, right = st.columns(2)
        left.plotly_chart(code_scatter_figure(found.codes, found.labels, bundle.info.class_names),
                          key="dlb_inspect_codes")
        right.plotly_chart(code_grid_figure(found.grid), key="dlb_inspect_code_grid")
        rebuilt = found.rebuilt
        st.plotly_chart(reconstruction_figure(rebuilt.inputs, rebuilt.outputs, rebuilt.errors, pairs_per_row=4),
                        key="dlb_inspect_rebuilt")
