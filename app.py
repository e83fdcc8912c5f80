"""dlbuilder: navigation only. Each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="dlbuilder", page_icon="🧠", layout="wide")
navigation = st.navigation([
    st.Page("pages/home.py", title="Start", icon="🏠", default=True),
])
navigation.run()
