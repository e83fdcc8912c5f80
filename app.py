"""dlbuilder: navigation only. Each page lives in pages/."""

# Streamlit runs this file as the `__main__` module, so every training worker process (started by
# multiprocessing) imports it again as `__mp_main__`: there it must do nothing, or each worker
# would run the app without a session (slow starts, "missing ScriptRunContext" in the server log).
if __name__ == "__main__":
    import streamlit as st

    from dlbuilder.ui import jobs, lessons, projector, session

    st.set_page_config(page_title="dlbuilder", page_icon="🧠", layout="wide")
    jobs.warm_up()  # the worker pool starts while the student reads the first page
    session.load_from_link()
    projector.load_from_link()
    jobs.check_run_link()
    navigation = st.navigation([
        st.Page("pages/home.py", title="Start", icon="🏠", default=True),
        st.Page("pages/lessons.py", title="Lessons", icon="📘"),
        st.Page("pages/build.py", title="Build", icon="🧱"),
        st.Page("pages/train.py", title="Train", icon="📈"),
        st.Page("pages/inspect.py", title="Inspect", icon="🔍"),
        st.Page("pages/experiments.py", title="Experiments", icon="🧪"),
    ])
    lessons.follow_link(on_default_page=navigation.url_path == "")  # ?lesson= or ?l=, on the first run
    projector.apply_style()
    with st.sidebar:
        projector.switch()
        jobs.keep_alive()
    navigation.run()
    session.publish_link()  # the address bar keeps ?g=, the lesson and projector mode across pages
    lessons.publish_link()
    projector.publish_link()
    jobs.publish_run_link()
