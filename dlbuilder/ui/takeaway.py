"""Taking the network away: PyTorch code, JSON and ONNX files, share links, Playground import."""

from __future__ import annotations

import streamlit as st

from dlbuilder.compile import compile_graph
from dlbuilder.document import Document, DocumentError, load_document
from dlbuilder.export import export_onnx, python_source
from dlbuilder.export.python_source import class_name
from dlbuilder.playground_import import import_playground
from dlbuilder.share import share_url
from dlbuilder.ui import guard, session
from dlbuilder.ui.text import bullets, plain
from dlbuilder.validation import ValidationReport

MAX_UPLOAD_BYTES = 1_000_000
PLAYGROUND_EXAMPLE = ("https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=circle"
                      "&learningRate=0.03&networkShape=4,2&noise=0&percTrainData=50&x=true&y=true")


def _file_stem(document: Document) -> str:
    return class_name(document.name).lower()


def code_panel(document: Document, report: ValidationReport) -> None:
    if not report.ok:
        st.warning("Fix the problems above to see the PyTorch code.")
        return
    with guard.guarded("Change the network (or Undo the last change) and open this tab again."):
        _code(python_source(document), _file_stem(document))


def _code(source: str, stem: str) -> None:
    st.caption("A standalone PyTorch module (it needs only torch). Copy it with the icon at the top right.")
    st.download_button("Download .py", source, file_name=f"{stem}.py", mime="text/x-python")
    st.code(source, language="python")


def file_panel(document: Document, report: ValidationReport) -> None:
    save, open_ = st.columns(2)
    with save:
        st.markdown("**Save**")
        st.download_button("Download the network (.json)", document.to_json(),
                           file_name=f"{_file_stem(document)}.json", mime="application/json")
        if st.button("Prepare ONNX file", disabled=not report.ok,
                     help="ONNX runs in many tools (onnxruntime, Netron viewer)."):
            with guard.guarded("Save the network as .json instead, or change the layer the export names."):
                data = export_onnx(compile_graph(document))
                st.download_button("Download .onnx", data, file_name=f"{_file_stem(document)}.onnx")
        st.caption("Trained weights are downloaded from the Train page once a network has been trained.")
    with open_:
        st.markdown("**Open**")
        upload = st.file_uploader("A network saved as .json", type=["json"], key=f"dlb_upload_{session.revision()}")
        if upload is not None:
            with guard.guarded("Check that the file is a network saved by dlbuilder, or build it here."):
                _open_upload(upload)


def _open_upload(upload) -> None:
    data = upload.getvalue()
    if len(data) > MAX_UPLOAD_BYTES:
        st.error(f"{plain(upload.name)} is {len(data):,} bytes; a network file is at most {MAX_UPLOAD_BYTES:,}.")
        return
    try:
        session.commit(load_document(data))
    except DocumentError as error:
        st.error(f"{plain(upload.name)} is not a network dlbuilder can open:\n\n" + bullets(error.problems[:10]))
        return
    session.notify("success", f"Opened {upload.name}.")
    st.rerun()


def share_panel(document: Document) -> None:
    base = str(st.context.url or "").split("?")[0] or "http://localhost:8501/"
    with guard.guarded("Save the network as .json instead (Save / open tab)."):
        _link(share_url(base, document))


def _link(link: str) -> None:
    st.markdown("Anyone who opens this link gets this network, its dataset and training settings.")
    st.code(link, language=None, wrap_lines=True)
    st.caption(f"{len(link):,} characters. The address bar always holds the current link too.")


def playground_panel() -> None:
    st.markdown("Paste the address of a [TensorFlow Playground](https://playground.tensorflow.org) setup "
                "to get the same network, dataset and training settings here.")
    st.text_input("Playground address", placeholder=PLAYGROUND_EXAMPLE, key="dlb_playground_url")
    st.button("Import", key="dlb_playground_import", on_click=_import_playground)


@guard.callback("Check the address (copy it again from Playground's address bar), or build the network here.")
def _import_playground() -> None:
    url = st.session_state.get("dlb_playground_url", "")
    result = import_playground(url)
    session.commit(result.document)
    message = "Imported the Playground setup."
    if result.warnings:
        message += " Note: " + " ".join(result.warnings)
    session.notify("warning" if result.warnings else "success", message)
