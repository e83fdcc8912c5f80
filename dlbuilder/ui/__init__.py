"""The only engine package that may import streamlit: shared widgets and session state for pages."""
