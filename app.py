"""dlbuilder: navigation only. Each page lives in pages/."""

import streamlit as st

from dlbuilder.ui import jobs, session

st.set_page_config(page_title="dlbuilder", page_icon="🧠", layout="wide")
session.load_from_link()
navigation = st.navigation([
    st.Page("pages/home.py", title="Start", icon="🏠", default=True),
    st.Page("pages/build.py", title="Build", icon="🧱"),
    st.Page("pages/train.py", title="Train", icon="📈"),
])
with st.sidebar:
    jobs.keep_alive()
navigation.run()
session.publish_link()
