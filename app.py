"""dlbuilder: navigation only. Each page lives in pages/."""

# Streamlit runs this file as the `__main__` module, so every training worker process (started by
# multiprocessing) imports it again as `__mp_main__`: there it must do nothing, or each worker
# would run the app without a session (slow starts, "missing ScriptRunContext" in the server log).
if __name__ == "__main__":
    import streamlit as st

    from dlbuilder.ui import jobs, session

    st.set_page_config(page_title="dlbuilder", page_icon="🧠", layout="wide")
    jobs.warm_up()  # the worker pool starts while the student reads the first page
    session.load_from_link()
    navigation = st.navigation([
        st.Page("pages/home.py", title="Start", icon="🏠", default=True),
        st.Page("pages/build.py", title="Build", icon="🧱"),
        st.Page("pages/train.py", title="Train", icon="📈"),
        st.Page("pages/inspect.py", title="Inspect", icon="🔍"),
    ])
    with st.sidebar:
        jobs.keep_alive()
    navigation.run()
    session.publish_link()
