"""Start page: what works today, honestly, and how to use it."""

import pandas as pd
import streamlit as st

from dlbuilder.overview import dataset_rows, layer_rows, preset_rows
from dlbuilder.ui import session

session.ensure_app_navigation()

st.title("dlbuilder")
st.markdown(
    "Build neural networks from layers, train them with PyTorch and watch them learn.\n\n"
    "1. **Build** — click layers together on a canvas (or start from a preset below); every layer "
    "shows its output shape and parameter count, and problems are named with what to change.\n"
    "2. **Train** — pick the data, loss, optimizer and schedule, press Start and watch the loss "
    "curves and the decision boundary form live; early stopping, dropout A/B runs, a tiny-subset "
    "check.\n"
    "3. **Inspect** — loss landscapes with the optimizer's path, conv filters and feature maps, "
    "activation maximisation, adversarial examples, weight and gradient histograms, a gradient check.\n"
    "4. **Share** — the address bar always holds a link that reopens the whole setup."
)
st.page_link("pages/lessons.py", label="Teaching? Open a ready-made lesson", icon=":material/school:")
st.page_link("pages/build.py", label="Open the Build page", icon=":material/account_tree:")
st.page_link("pages/train.py", label="Open the Train page", icon=":material/monitoring:")
st.page_link("pages/inspect.py", label="Open the Inspect page", icon=":material/search:")

st.header("Ready-made networks")
st.caption("Each one is checked and compiled by the engine right now; 'parameters' is its real count.")
st.table(pd.DataFrame(preset_rows()).set_index("preset"))

left, right = st.columns(2)
with left:
    st.header("Layers")
    st.table(pd.DataFrame(layer_rows()).set_index("layer"))
with right:
    st.header("Datasets")
    st.table(pd.DataFrame(dataset_rows()).set_index("dataset"))

st.header("Use it today from the command line")
st.code(
    "python -m dlbuilder presets                       # list the networks above\n"
    "python -m dlbuilder show lenet > lenet.json       # a network as an editable document\n"
    "python -m dlbuilder validate lenet.json           # every problem, each naming its layer\n"
    "python -m dlbuilder export lenet.json --to python -o lenet.py   # standalone PyTorch code\n"
    "python -m dlbuilder train lenet.json --epochs 20 --out runs/lenet",
    language="bash",
)
