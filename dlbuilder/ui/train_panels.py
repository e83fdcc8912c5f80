"""The Train page's panels: data, settings, controls and status. Live charts are in ui/live.py."""

from __future__ import annotations

import streamlit as st

from dlbuilder.datasets import DATASETS
from dlbuilder.document import Document
from dlbuilder.editing import set_data_params, set_dataset, set_training
from dlbuilder.training.job import JobSnapshot
from dlbuilder.training.settings import SETTING_GROUPS, TRAINING_PARAMS, relevant_settings
from dlbuilder.ui import jobs, session
from dlbuilder.ui.forms import param_input

PARAMS = {p.name: p for p in TRAINING_PARAMS}
SLIDER_DATA_PARAMS = ("noise", "train_fraction", "val_fraction", "num_samples")
STATUS_HINTS = {
    "diverged": ("error", "Lower the learning rate (÷10), or turn on gradient clipping, then Start again."),
    "early_stopped": ("success", "Early stopping kept the best epoch's weights. Compare train and validation "
                                 "curves: the gap is overfitting."),
    "finished": ("success", "Done. Try more epochs, another optimizer, or regularisation, and compare runs."),
    "stopped": ("info", "Stopped. Start trains again from the seed's initial weights."),
    "error": ("error", "Something went wrong; the message says what. Change the setting it names and Start again."),
}


def _commit_and_restart(document: Document) -> None:
    session.commit(document)
    if jobs.current() is not None:  # same seed, new data: retrain so the runs can be compared
        jobs.start(document)


def data_panel(document: Document) -> None:
    """Dataset choice and its settings (noise, split, input features)."""
    names = list(DATASETS)
    current = document.data.name if document.data else None
    st.session_state["dlb_train_dataset"] = current
    st.selectbox("Dataset", names, index=None, key="dlb_train_dataset", placeholder="Choose a dataset…",
                 format_func=lambda n: f"{DATASETS[n].title} ({DATASETS[n].category})",
                 on_change=lambda: _commit_and_restart(set_dataset(session.document(),
                                                                   st.session_state["dlb_train_dataset"])))
    if document.data is None:
        return
    spec = DATASETS[document.data.name]
    st.caption(spec.doc)
    values = {}
    for param in spec.params:
        values[param.name] = param_input(param, document.data.params.get(param.name), slider=param.name in
                                         SLIDER_DATA_PARAMS, key=f"dlb_data_{param.name}_{session.revision()}")
    if values != document.data.params:
        _commit_and_restart(set_data_params(document, values))
        st.rerun()


def settings_panel(document: Document) -> None:
    """Loss, optimizer, schedule, batches, regularisation, early stopping, device, seed."""
    settings = document.training
    shown = relevant_settings(settings)
    changed = dict(settings)
    for group, names in SETTING_GROUPS.items():
        visible = [n for n in names if n in shown]
        with st.expander(group, expanded=group in ("Loss and optimizer", "Batches and epochs")):
            for name in visible:
                changed[name] = param_input(PARAMS[name], settings[name], key=f"dlb_set_{name}_{session.revision()}")
            if group == "Batches and epochs":
                seed = st.number_input("seed", min_value=0, max_value=2**31 - 1, value=document.seed, step=1,
                                       key=f"dlb_seed_{session.revision()}",
                                       help="Same seed = same data, same first weights, same batches.")
    if changed != settings or seed != document.seed:
        session.commit(set_training(document, changed, seed))
        st.rerun()


def controls(document: Document, snapshot: JobSnapshot | None) -> None:
    """Start / Pause-Resume / Step once / Stop / Reset."""
    active = snapshot is not None and snapshot.status in ("pending", "running", "paused")
    paused = snapshot is not None and snapshot.status == "paused"
    start, pause, step, stop, reset = st.columns(5)
    if start.button("▶ Start" if not active else "↻ Restart", type="primary", width="stretch", key="dlb_start",
                    help="Train from the seed's initial weights with the settings below."):
        message = jobs.start(document)
        if message:
            st.error(message)
        else:
            st.rerun()
    job = jobs.current()
    if pause.button("⏵ Resume" if paused else "⏸ Pause", disabled=not active, width="stretch", key="dlb_pause"):
        job.resume() if paused else job.pause()
        st.rerun()
    if step.button("Step once", disabled=not active, width="stretch", key="dlb_step",
                   help="While paused: one mini-batch update."):
        job.step_once()
        st.rerun()
    if stop.button("⏹ Stop", disabled=not active, width="stretch", key="dlb_stop"):
        jobs.stop()
        st.rerun()
    if reset.button("Reset", width="stretch", key="dlb_reset", disabled=snapshot is None,
                    help="Forget this run; Start begins again from the seed."):
        jobs.forget()
        st.rerun()


def status_banner(snapshot: JobSnapshot | None) -> None:
    if snapshot is None:
        st.info("Press **Start** to train. Curves, the decision boundary and the counters update live.")
        return
    if snapshot.status in STATUS_HINTS:
        kind, hint = STATUS_HINTS[snapshot.status]
        getattr(st, kind)(f"**{snapshot.status.replace('_', ' ').capitalize()}**: {snapshot.message}. {hint}")
    elif snapshot.status == "paused":
        st.warning("**Paused.** Resume, or use Step once to watch single updates.")
