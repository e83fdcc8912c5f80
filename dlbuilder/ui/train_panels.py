"""The Train page's panels: data, settings, controls and status. Live charts are in ui/live.py."""

from __future__ import annotations

import json

import streamlit as st

from dlbuilder.datasets import DATASETS, store_upload
from dlbuilder.datasets.base import DatasetBundle, DatasetError
from dlbuilder.document import Document
from dlbuilder.editing import fit_to_data, set_data_params, set_dataset, set_training
from dlbuilder.training.checkpoint import checkpoint_bytes
from dlbuilder.training.job import ACTIVE, JobSnapshot
from dlbuilder.training.settings import SETTING_GROUPS, TRAINING_PARAMS, relevant_settings
from dlbuilder.ui import guard, jobs, session
from dlbuilder.ui.forms import param_input
from dlbuilder.ui.text import plain

PARAMS = {p.name: p for p in TRAINING_PARAMS}
SLIDER_DATA_PARAMS = ("noise", "train_fraction", "val_fraction", "num_samples")


@guard.callback("Choose the setting again, or Reset and Start.")
def _commit_and_restart(document: Document) -> None:
    session.commit(document)
    if jobs.current() is not None:  # same seed, new data: retrain so the runs can be compared
        jobs.start(document)


def data_panel(document: Document, shown: set[str] | None = None) -> None:
    """Dataset choice and its settings (noise, split, input features); only those in `shown` if given
    (projector mode: the settings a lesson uses)."""
    names = list(DATASETS)
    current = document.data.name if document.data else None
    if shown is None or "dataset" in shown or current is None:
        st.session_state["dlb_train_dataset"] = current
        st.selectbox("Dataset", names, index=None, key="dlb_train_dataset", placeholder="Choose a dataset…",
                     format_func=lambda n: f"{DATASETS[n].title} ({DATASETS[n].category})",
                     on_change=_choose_dataset)
    if document.data is None:
        return
    spec = DATASETS[document.data.name]
    if shown is None:
        st.caption(spec.doc)
    if spec.name == "csv":
        _csv_upload(document)
    values = {}
    for param in spec.params:
        if param.name == "file" or (shown is not None and param.name not in shown):
            values[param.name] = document.data.params.get(param.name, param.default)
            continue
        values[param.name] = param_input(param, document.data.params.get(param.name), slider=param.name in
                                         SLIDER_DATA_PARAMS, key=f"dlb_data_{param.name}_{session.revision()}")
    if values != document.data.params:
        _commit_and_restart(set_data_params(document, values))
        st.rerun()


@guard.callback("Choose the dataset again, or another one.")
def _choose_dataset() -> None:
    _commit_and_restart(set_dataset(session.document(), st.session_state["dlb_train_dataset"]))


def settings_panel(document: Document, shown: set[str] | None = None) -> None:
    """Loss, optimizer, schedule, batches, regularisation, early stopping, device, seed; only those in
    `shown` if given (projector mode: the settings a lesson uses), each group then open."""
    settings = document.training
    relevant = relevant_settings(settings) & (set(settings) if shown is None else shown)
    changed, seed = dict(settings), document.seed
    for group, names in SETTING_GROUPS.items():
        visible = [n for n in names if n in relevant]
        with_seed = group == "Batches and epochs" and (shown is None or "seed" in shown)
        if not visible and not with_seed:
            continue
        with st.expander(group, expanded=shown is not None or group in ("Loss and optimizer", "Batches and epochs")):
            for name in visible:
                changed[name] = param_input(PARAMS[name], settings[name], key=f"dlb_set_{name}_{session.revision()}")
            if with_seed:
                seed = st.number_input("seed", min_value=0, max_value=2**31 - 1, value=document.seed, step=1,
                                       key=f"dlb_seed_{session.revision()}",
                                       help="Same seed = same data, same first weights, same batches.")
    if changed != settings or seed != document.seed:
        session.commit(set_training(document, changed, seed))
        st.rerun()


def controls(document: Document, snapshot: JobSnapshot | None) -> None:
    """Start / Pause-Resume / Step once / Stop / Reset."""
    active = snapshot is not None and snapshot.status in ACTIVE
    paused = snapshot is not None and snapshot.status == "paused"
    start, pause, step, stop, reset = st.columns(5)
    start.button("▶ Start" if not active else "↻ Restart", type="primary", width="stretch", key="dlb_start",
                 on_click=_start, help="Train from the seed's initial weights with the settings below.")
    pause.button("⏵ Resume" if paused else "⏸ Pause", disabled=not active, width="stretch", key="dlb_pause",
                 on_click=_pause_or_resume)
    step.button("Step once", disabled=not active, width="stretch", key="dlb_step",
                on_click=lambda: jobs.current().step_once(), help="While paused: one mini-batch update.")
    stop.button("⏹ Stop", disabled=not active, width="stretch", key="dlb_stop", on_click=jobs.stop)
    reset.button("Reset", width="stretch", key="dlb_reset", disabled=snapshot is None, on_click=jobs.forget,
                 help="Forget this run; Start begins again from the seed.")


@guard.callback("Check the settings it names, or Reset and Start again.")
def _start() -> None:
    message = jobs.start(session.document())
    if message:
        session.notify("error", message)


def _pause_or_resume() -> None:
    job = jobs.current()
    if job is not None:
        job.resume() if job.status == "paused" else job.pause()


@st.cache_data(max_entries=64, show_spinner=False)
def _bundle(name: str, params_json: str, seed: int) -> DatasetBundle:
    return DATASETS[name].load(json.loads(params_json), seed)


def preview_bundle(document: Document) -> DatasetBundle | None:
    """The document's dataset as generated (cached per settings), or None if it cannot be made."""
    if document.data is None:
        return None
    try:
        return _bundle(document.data.name, json.dumps(document.data.params, sort_keys=True), document.seed)
    except Exception as error:  # noqa: BLE001 (the page stays usable without the preview)
        st.error(plain(guard.explain(error, "Change the dataset's settings, or choose another dataset.")))
        return None


def teacher_switches(document: Document) -> None:
    """One-click demos: overfit a tiny subset, log-scale loss, overlay the previous run."""
    with st.expander("Teacher switches", expanded=True):
        tiny = st.toggle("Overfit a tiny subset (50 examples)", value=document.training["subset"] == 50,
                         key=f"dlb_tiny_{session.revision()}",
                         help="A working network drives training loss to ~0 on 50 examples: a quick bug check.")
        if tiny != (document.training["subset"] == 50):
            session.commit(set_training(document, {"subset": 50 if tiny else 0}))
            st.rerun()
        st.toggle("Log-scale loss axis", key="dlb_log_scale")
        st.toggle("Overlay the previous run (same seed: an A/B comparison)", key="dlb_overlay",
                  disabled=jobs.previous_run() is None,
                  help="Start again after changing one setting (e.g. add Dropout) to compare.")


def takeaway(job) -> None:
    """Download the trained network (weights + document) once the job has ended."""
    weights = job.state_dict() if job is not None and not job.active else None
    if weights is None:
        return
    with st.expander("Take the trained network away", expanded=False), \
            guard.guarded("Export the network's code from the Build page, and train it again from there."):
        st.download_button("Download weights (.safetensors, with the network inside)",
                           checkpoint_bytes(job.document, weights),
                           file_name="trained.safetensors", key="dlb_weights",
                           help="Load with dlbuilder (python -m dlbuilder) or safetensors + the exported code.")


def _csv_upload(document: Document) -> None:
    """Upload a CSV file: numeric columns become inputs, the target column (default: last) the labels."""
    if document.data.params.get("file"):
        with guard.guarded("Upload the file again, or another one."):
            info = DATASETS["csv"].describe(document.data.params)
            what = f"{info.num_classes} classes" if info.task == "classification" else "values (regression)"
            columns = ", ".join(info.feature_names[:6]) + ("…" if len(info.feature_names) > 6 else "")
            st.caption(f"Using your uploaded file: {len(info.feature_names)} input columns "
                       f"({plain(columns, limit=300)}) → {what}. Upload another to replace it.")
    upload = st.file_uploader("Your CSV file (at most 5 MB)", type=["csv", "txt", "tsv"],
                              key=f"dlb_csv_{session.revision()}",
                              help="One row per example, a header row, numbers in every feature column.")
    if upload is not None:
        with guard.guarded("Check the file (a header row, then numbers), or upload another."):
            _store(document, upload)


def _store(document: Document, upload) -> None:
    """Keep the upload (checked first, bounded per session) and make it the document's dataset."""
    try:
        key = store_upload(upload.getvalue(), owner=session.upload_owner(), params=document.data.params)
    except DatasetError as error:
        st.error(plain(f"{upload.name}: {error}"))
        return
    if key != document.data.params.get("file"):
        _commit_and_restart(fit_to_data(set_data_params(document, {"file": key})))
        session.notify("success", f"Uploaded {upload.name}.")
        st.rerun()
