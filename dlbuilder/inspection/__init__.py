"""Probes for the Inspect page: they take a model (or a job's weight snapshots) and return arrays.

Figures for them live in `dlbuilder/figures/`; nothing here draws or imports streamlit.
"""
