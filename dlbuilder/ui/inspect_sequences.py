"""The Inspect page's sequence panel: predictions on test sentences, attention per head (followed live
while the job trains), hidden states, gradients back through time, word vectors, and the student's
own sentence tagged with its attention map (see `inspect_panels` for the probes' copy of the model)."""

from __future__ import annotations

import streamlit as st

from dlbuilder.datasets.tokens import MAX_TEXT_CHARS
from dlbuilder.figures.sequences import attention_figure, embedding_figure, gradient_steps_figure, hidden_state_figure
from dlbuilder.inspection.attention import attention_maps, embedding_projection, hidden_states, timestep_gradient_norms
from dlbuilder.inspection.sequence_predictions import (background_class, example_inputs, example_text,
                                                       read_typed_text, sequence_nodes)
from dlbuilder.inspection.sequence_steps import (attention_steps, input_steps, projected_words, source_input,
                                                 token_strings, written_tokens)
from dlbuilder.training.job import JobHandle
from dlbuilder.training.losses import compute_loss
from dlbuilder.training.setup import Setup
from dlbuilder.ui import text
from dlbuilder.ui.inspect_panels import clicked, panel, remembered
from dlbuilder.ui.live import probe_model
from dlbuilder.views import sequence_predictions_view, typed_prediction_figure

ADVICE = "Press \"Use the latest weights\", or train again."
LIVE_SECONDS = 2.0  # attention maps redrawn this often while the job trains
CHOICES = 100  # test examples offered in the chooser
GRADIENT_EXAMPLES = 64  # test examples the gradients back through time average over
KEPT = "state.sequence_kept_gradients"  # label -> per-step norms kept from earlier runs
KEPT_LINES = 6
SHOWN = 6  # test examples in the predictions table


def sequences_panel(job: JobHandle, version: int, setup: Setup) -> None:
    """Every sequence view that applies to this network, on one chosen test example."""
    model, bundle = setup.model, setup.bundle
    nodes = sequence_nodes(model)
    with panel(ADVICE):
        for title, figure in remembered("sequence_table", (version,), lambda: sequence_predictions_view(
                model, bundle, setup.loss, SHOWN)).items():
            st.markdown(f"**{title}**")
            st.plotly_chart(figure, key="dlb_seq_predictions")
    count = min(CHOICES, len(bundle.x_test))
    if count == 0:
        st.info("The test split is empty: use a larger test share (Train page, Data) to see examples.")
        return
    index = st.selectbox(f"Test example (the first {count})", range(count), key="dlb_seq_example",
                         format_func=lambda i: f"{i}: {example_text(bundle, i)}")  # options are plain text
    if nodes.attention:
        _attention(job, setup, index)
    if nodes.recurrent:
        left, right = st.columns(2)
        with left, panel(ADVICE):
            _hidden_states(version, setup, nodes.recurrent, index)
        with right, panel(ADVICE):
            _gradients(job, version, setup, nodes.recurrent)
    if nodes.embeddings:
        with panel(ADVICE):
            _embeddings(version, setup, nodes.embeddings)
    seq2seq = bundle.info.target_vocabulary is not None
    if (len(model.input_ids) == 1 or seq2seq) and nodes.token_inputs and bundle.info.vocabulary is not None:
        with panel(ADVICE):
            _typed(version, setup)


def _attention(job: JobHandle, setup: Setup, index: int) -> None:
    st.subheader("Attention")
    st.caption("Row t: how strongly step t attends to each step of the input (each row sums to 1). "
               "Padding is left out.")
    live = job.active and st.toggle(f"Follow training (redraw every {LIVE_SECONDS:g} s)", value=True,
                                    key="dlb_seq_live")
    st.fragment(run_every=LIVE_SECONDS if live else None)(_attention_maps)(job, setup, index, live)


def _attention_maps(job: JobHandle, setup: Setup, index: int, live: bool) -> None:
    if live and not job.active:  # training ended: the page reloads the final weights, without the timer
        st.rerun()
    with panel(ADVICE):
        model = (probe_model(job) if live else None) or setup.model  # live: a separate copy, fresh weights
        example = example_inputs(setup.bundle, index)
        written = written_tokens(setup.bundle.info, setup.bundle.y_test[index].numpy())
        for number, found in enumerate(attention_maps(model, example)):
            query, key = attention_steps(model, setup.bundle.info, example, found, written)
            st.plotly_chart(attention_figure(found.weights, query.tokens, key.tokens, query.padding, key.padding,
                                             title=f"{found.node}: {found.kind}-attention",
                                             **_axis_titles(found)),
                            key=f"dlb_seq_attention_{number}")
        if live:
            st.caption(f"Weights as of update {job.snapshot().step:,}.")


def _hidden_states(version: int, setup: Setup, recurrent: tuple[str, ...], index: int) -> None:
    st.subheader("Hidden state over time")
    model, info = setup.model, setup.bundle.info
    node = st.selectbox("Recurrent layer", recurrent, key="dlb_seq_hidden_node")
    example = example_inputs(setup.bundle, index)
    states = remembered("hidden", (version, node, index), lambda: hidden_states(model, example, node))
    steps = input_steps(model, info, example, source_input(model, node), len(states))
    kept = [t for t in range(len(states)) if steps.padding is None or not steps.padding[t]] or list(range(len(states)))
    module = model.get_submodule(node)
    st.plotly_chart(hidden_state_figure(states[kept], [steps.tokens[t] for t in kept], node,
                                        directions=2 if module.rnn.bidirectional else 1), key="dlb_seq_hidden")
    st.caption("Each column is the state after reading that token; each row one unit (blue positive, "
               "orange negative).")


def _gradients(job: JobHandle, version: int, setup: Setup, recurrent: tuple[str, ...]) -> None:
    st.subheader("Gradients back through time")
    test = setup.splits["test"].head(GRADIENT_EXAMPLES)

    def norms():
        def loss(prediction, targets):
            return compute_loss(setup.loss_fn, setup.loss, prediction, targets)
        return {node: timestep_gradient_norms(setup.model, test.inputs, test.t, loss, node) for node in recurrent}
    current = remembered("step_gradients", (version,), norms)
    types = {node.id: node.type.upper() for node in job.document.nodes}
    lines = {f"{node} ({types.get(node, '?')}, this run)": values for node, values in current.items()}
    kept = st.session_state.get(KEPT, {})
    st.plotly_chart(gradient_steps_figure({**lines, **kept}, dashed=tuple(kept)), key="dlb_seq_gradients")
    st.caption(f"How much of the loss's gradient reaches the hidden state at each step, over {len(test)} test "
               "examples. A plain RNN's falls steeply towards step 1 (vanishing gradients); an LSTM's stays flatter.")
    if clicked("Keep these lines to compare with the next run", "dlb_seq_keep",
               help="Train another network (an LSTM instead of an RNN, or with clipping), come back: "
                    "these lines stay, dashed."):
        renamed = {label.replace("this run", f"run {job.id}"): values for label, values in lines.items()}
        st.session_state[KEPT] = dict(list({**kept, **renamed}.items())[-KEPT_LINES:])
        st.rerun()


def _embeddings(version: int, setup: Setup, embeddings: tuple[str, ...]) -> None:
    st.subheader("Word vectors")
    node = st.selectbox("Embedding layer", embeddings, key="dlb_seq_embedding_node")
    ids, groups, names, vocabulary = remembered("projected_words", (version, node),
                                                lambda: projected_words(setup.model, setup.bundle, node))
    projection = remembered("projection", (version, node), lambda: embedding_projection(setup.model, node, ids))
    st.plotly_chart(embedding_figure(projection.coordinates, token_strings(ids, vocabulary), projection.explained,
                                     groups, names, node), key="dlb_seq_embedding")
    coloured = " Colour: the tag each word most often has in training." if groups is not None else ""
    st.caption(f"The {len(ids)} most frequent tokens; words used alike end up close together.{coloured}")


def _typed(version: int, setup: Setup) -> None:
    info, bundle = setup.bundle.info, setup.bundle
    st.subheader("Try your own input")
    words = info.vocabulary.level == "word"
    sentences = bundle.extras.get("test_sentences") or ()
    typed = st.text_input("Type a sentence" if words else "Type your own input", sentences[0] if sentences
                          else example_text(bundle, 0), max_chars=MAX_TEXT_CHARS, key="dlb_seq_text",
                          help=text.plain(f"At most {info.input_shape[0]} {'words' if words else 'characters'}; "
                                          f"{'words' if words else 'characters'} the model never saw are read "
                                          "as <unk>. Press Enter to apply."))
    front = bundle.extras.get("padding") == "front"
    found = remembered("typed", (version, typed), lambda: read_typed_text(setup.model, info, typed, setup.loss, front))
    st.plotly_chart(typed_prediction_figure(found, background_class(bundle)), key="dlb_seq_typed")
    if found.unknown:
        st.caption(text.plain("Not in the vocabulary, read as <unk>: " + ", ".join(found.unknown), 240))
    if not found.finished:
        st.caption(f"No end token within {info.target_steps} steps: the output was cut there.")
    written = found.predicted + ["<end>"] if found.kind == "translation" else None
    for number, attention in enumerate(attention_maps(setup.model, found.inputs)):
        query, key = attention_steps(setup.model, info, found.inputs, attention, written)
        st.plotly_chart(attention_figure(attention.weights, query.tokens, key.tokens, query.padding, key.padding,
                                         title=f"{attention.node} on your input", **_axis_titles(attention)),
                        key=f"dlb_seq_typed_attention_{number}")


def _axis_titles(found) -> dict:
    """Cross-attention reads as output → source; self-attention as step → step."""
    if found.kind == "cross":
        return {"x_title": "source: the step read", "y_title": "output: the step written"}
    return {}
