"""The live dashboard: a fragment that redraws counters and charts while a job trains."""

from __future__ import annotations

import streamlit as st

from dlbuilder.compile import compile_graph
from dlbuilder.datasets import DATASETS
from dlbuilder.figures import dataset_preview_figure, learning_rate_figure, loss_figure, metric_figure, norms_figure
from dlbuilder.figures.neurons import neuron_figure
from dlbuilder.inspection.neurons import unit_choices
from dlbuilder.training.cost import describe_seconds
from dlbuilder.training.job import ACTIVE, JobHandle, JobSnapshot
from dlbuilder.ui import jobs
from dlbuilder.ui.text import plain
from dlbuilder.views import model_views, neuron_view, sequence_predictions_view

STATUS_HINTS = {
    "diverged": ("error", "Lower the learning rate (÷10), or turn on gradient clipping, then Start again."),
    "early_stopped": ("success", "Early stopping kept the best epoch's weights. Compare train and validation "
                                 "curves: the gap is overfitting."),
    "finished": ("success", "Done. Try more epochs, another optimizer, or regularisation, and compare runs."),
    "stopped": ("info", "Stopped. Start trains again from the seed's initial weights."),
    "error": ("error", "Something went wrong; the message says what. Change the setting it names and Start again."),
}
REFRESH_SECONDS = 0.2  # 5 updates per second while training
SLOW_REFRESH_SECONDS = 1.0
QUEUE_REFRESH_SECONDS = 2.0
# The neuron maps redraw once a second up to NEURON_UNITS_PER_SECOND units (inputs and outputs
# included), then less often: one map per unit makes a 6x8 net's redraw (~60 heat maps) cost the
# trainer a quarter of its speed at once a second, and a bigger net's maps change slowly anyway.
NEURON_UNITS_PER_SECOND = 16
NEURON_MAX_REFRESH_SECONDS = 3.0
LIVE_SEQUENCES = 4  # test sequences predicted once a second: a handful keeps the live loop fast
PROBE = "state.probe_model"
LAST_STATUS = "state.live_status"
LOG_SCALE = "dlb_log_scale"
OVERLAY = "dlb_overlay"
NEURONS = "dlb_neurons"
NEURON_UNIT = "dlb_neuron_unit"
NO_UNIT = "none"


def probe_model(job: JobHandle, reload: bool = True):
    """A CPU copy of the job's model for drawing (the training copy is never switched to eval mode).

    `reload=False` reuses the copy as it was last loaded (no new weights request) when there is one.
    """
    cached = st.session_state.get(PROBE)
    if not reload and cached is not None and cached[0] == job.id:
        return cached[1]
    state = job.state_dict()
    if state is None:
        return None
    if cached is None or cached[0] != job.id:
        cached = (job.id, compile_graph(job.document))
        st.session_state[PROBE] = cached
    cached[1].load_state_dict(state)
    return cached[1]


def dashboard(preview_bundle=None) -> None:
    """Counters and charts; refreshes itself while the job is active, and once more when it ends.

    The loss curve and the model's picture redraw 5 times a second; the slower-moving charts
    (neuron maps, metric, learning rate, norms) once a second, so the server leaves the trainer more CPU.
    """
    job = jobs.current()
    active = job is not None and job.active
    # This full run draws the current status (buttons included): only a later change needs another one.
    st.session_state[LAST_STATUS] = job.status if job is not None else None
    queued = job is not None and job.status == "queued"
    # A waiting page only shows its place: one cheap redraw every QUEUE_REFRESH_SECONDS (30 waiting pages
    # at 5 redraws a second would take the CPU the running pages need).
    st.fragment(run_every=(QUEUE_REFRESH_SECONDS if queued else REFRESH_SECONDS) if active else None)(_render)(
        preview_bundle)
    if job is not None and not queued:  # (leaving the queue redraws the whole page, these included)
        _neurons(job, active)
        st.fragment(run_every=SLOW_REFRESH_SECONDS if active else None)(_secondary_charts)()


def _render(preview_bundle) -> None:
    job = jobs.current()
    if job is None:
        if preview_bundle is not None:
            st.plotly_chart(dataset_preview_figure(preview_bundle), key="dlb_preview")
        return
    job.heartbeat()
    snapshot = job.snapshot()
    was = st.session_state.get(LAST_STATUS)
    st.session_state[LAST_STATUS] = snapshot.status
    if (was in ACTIVE and not job.active) or (was == "queued" and snapshot.status != "queued"):
        st.rerun()  # it ended or left the queue: redraw the whole page (buttons, refresh rate) once
    jobs.show_status(snapshot)
    if job.stopping:
        st.info("**Stopping…** the current update finishes first.")
    if snapshot.status == "queued":
        _queue_place(job)
        return
    status_banner(snapshot)
    _counters(snapshot, job.document.training)
    _charts(job, snapshot)


def _queue_place(job) -> None:
    """Where a waiting run stands: runs ahead of it and about how long, from the server's scheduler."""
    place = job.queue()
    if place is None:
        st.info("**Queued**: starting…")
        return
    ahead = {0: "yours is next", 1: "1 run ahead of yours"}.get(place.ahead, f"{place.ahead} runs ahead of yours")
    st.info(f"**Queued**: {ahead}, {describe_seconds(place.seconds)}. The server trains a few runs at a time "
            "and takes them in turns; yours starts by itself. Keep this page open (a closed page gives up "
            "its place).")


def _counters(snapshot: JobSnapshot, settings: dict) -> None:
    info = snapshot.info
    n = info.get("train_examples", 0)
    batch = min(settings["batch_size"], n)  # as the trainer uses it
    last = snapshot.epochs[-1] if snapshot.epochs else None
    test_loss = last.test_loss if last is not None else None  # scored only without a validation split
    columns = st.columns(4 + (snapshot.best_epoch is not None) + (test_loss is not None))
    columns[0].metric("Epoch", f"{snapshot.epoch:,}")
    columns[0].caption(f"of {snapshot.total_epochs:,}")
    columns[1].metric("Updates", f"{snapshot.step:,}")
    columns[2].metric("Updates per epoch", f"{snapshot.updates_per_epoch}",
                      help="One update per mini-batch: ceil(examples / batch size).")
    columns[2].caption(f"= ceil({n:,} / {batch}) = {snapshot.updates_per_epoch}" if batch else "")
    speed = last.examples_per_second if last is not None else 0.0
    columns[3].metric("Examples / s", f"{speed:,.0f}", help=f"Training speed on {info.get('name', '?')}")
    if snapshot.best_epoch is not None:
        columns[4].metric("Best epoch", f"{snapshot.best_epoch}",
                          f"patience {snapshot.patience_wait} / {settings['patience']}", delta_color="off")
    if test_loss is not None:  # Playground's two headline numbers
        columns[-1].metric("Test loss", f"{test_loss:.3f}", help="Loss on the test split after the latest "
                           "epoch, as Playground shows it. Nothing (early stopping, schedules) is tuned on it.")
        columns[-1].caption(f"training loss {last.train_loss:.3f}")


def _charts(job: JobHandle, snapshot: JobSnapshot) -> None:
    if not snapshot.epochs and not snapshot.steps:  # the first mini-batch losses already make a chart
        st.caption(plain(snapshot.message.capitalize() or "Preparing the data…") if job.active else "")
        return
    previous = jobs.previous_run() if st.session_state.get(OVERLAY) else None
    stopped = snapshot.epoch if snapshot.status == "early_stopped" else None
    left, right = st.columns(2)
    left.plotly_chart(loss_figure(snapshot.epochs, snapshot.steps, log_scale=st.session_state.get(LOG_SCALE, False),
                                  best_epoch=snapshot.best_epoch, previous=previous, stopped_epoch=stopped,
                                  updates_per_epoch=snapshot.updates_per_epoch), key="dlb_loss")
    with right:
        _model_views(job)


def _secondary_charts() -> None:
    job = jobs.current()
    if job is None:
        return
    _sequences(job)
    epochs = job.metrics.epochs()
    if not epochs:
        return
    previous = jobs.previous_run() if st.session_state.get(OVERLAY) else None
    metric = job.snapshot().info.get("metric", "accuracy")
    left, right = st.columns(2)
    left.plotly_chart(metric_figure(epochs, metric, previous=previous), key="dlb_metric")
    right.plotly_chart(learning_rate_figure(epochs), key="dlb_lr")
    # Drawn only when asked for: two more live charts cost the browser (and a projector laptop) frames.
    if st.toggle("Show per-layer gradient and weight norms (vanishing gradients show here)", key="dlb_norms"):
        left, right = st.columns(2)
        left.plotly_chart(norms_figure(epochs, "grad"), key="dlb_grad_norms")
        right.plotly_chart(norms_figure(epochs, "weight"), key="dlb_weight_norms")


def _model_views(job: JobHandle) -> None:
    bundle, info = job.bundle(), job.snapshot().info
    if bundle is None or not info:
        return
    model = probe_model(job)
    if model is None:
        return
    figures = model_views(model, bundle, job.document.data.params, info["loss"], info["problem"], live=job.active)
    for index, (title, figure) in enumerate(figures.items()):
        st.markdown(f"**{title}**")
        st.plotly_chart(figure, key=f"dlb_view_{index}")


def _sequences(job: JobHandle) -> None:
    """A few test sequences with predicted vs true tags or outputs, for sequence data."""
    bundle, info = job.bundle(), job.snapshot().info
    if bundle is None or not info or bundle.info.display != "sequence":
        return
    model = probe_model(job, reload=False)  # the weights the fast charts just loaded: no second copy
    if model is None:
        return
    for title, figure in sequence_predictions_view(model, bundle, info["loss"], LIVE_SEQUENCES).items():
        st.markdown(f"**{title}**")
        st.plotly_chart(figure, key="dlb_sequence_predictions")


def neuron_refresh_seconds(units: int) -> float:
    """How often the live neuron maps redraw for a network with this many units to draw."""
    return min(NEURON_MAX_REFRESH_SECONDS, max(SLOW_REFRESH_SECONDS, units / NEURON_UNITS_PER_SECOND))


def _neurons(job: JobHandle, active: bool) -> None:
    """Playground's per-neuron maps, under the boundary, in a fragment of their own (see NEURON_UNITS_PER_SECOND)."""
    info = _data_info(job)
    if info is None or info.display != "points2d":
        return
    if not st.toggle("Show every neuron's output over the plane, as Playground does", key=NEURONS):
        return
    units = sum(int(node.params.get("units", 0)) for node in job.document.nodes) + info.input_shape[0]
    every = neuron_refresh_seconds(units)
    st.fragment(run_every=every if active else None)(_neuron_maps)(every)


def _data_info(job: JobHandle):
    """The job's dataset description: its bundle's, or (before the worker has sent it) the cheap `describe`."""
    bundle = job.bundle()
    if bundle is not None:
        return bundle.info
    spec = DATASETS.get(job.document.data.name) if job.document.data is not None else None
    try:
        return spec.describe(job.document.data.params) if spec is not None else None
    except (ValueError, KeyError):  # (an uploaded CSV that is gone: its job's bundle answers later)
        return None


def _neuron_maps(every: float) -> None:
    job = jobs.current()
    model = probe_model(job, reload=False) if job is not None and job.bundle() is not None else None
    if model is None:  # (the worker has not sent its data yet, or no weights have come back)
        return
    neurons = neuron_view(model, job.bundle(), job.document.data.params)
    choices = unit_choices(neurons)
    label = st.selectbox("Show the incoming weights of", [NO_UNIT, *choices], key=NEURON_UNIT)
    st.plotly_chart(neuron_figure(neurons, choices.get(label)), key="dlb_neuron_maps")
    pace = "once a second" if every <= SLOW_REFRESH_SECONDS else f"every {every:.1f} s (one map per neuron)"
    st.caption("Each square is one neuron's output over the same plane as the boundary: blue positive, orange "
               "negative, white near zero. Lines are weights: blue positive, orange negative, thicker = larger. "
               f"Redrawn {pace} while training.")


def status_banner(snapshot: JobSnapshot | None) -> None:
    if snapshot.status in STATUS_HINTS:
        kind, hint = STATUS_HINTS[snapshot.status]
        # the job's message can quote the data (a CSV column, a value from a share link): plain text
        getattr(st, kind)(f"**{snapshot.status.replace('_', ' ').capitalize()}**: {plain(snapshot.message)}. {hint}")
    elif snapshot.status == "paused":
        st.warning("**Paused.** Resume, or use Step once to watch single updates.")
