"""Whose song is it? The dashboard: `make dashboard`, or `streamlit run dashboards/app.py`.

It only reads PostgreSQL (the database of DATABASE_URL, else the embedded
local one), through `taskcode.queries` on a read-only connection, and never
loads the model: the pipeline stores everything shown here. Each page is a
small script beside this file; `common.py` holds what they share.
"""

import common
import streamlit as st

st.set_page_config(page_title="Whose song is it?", page_icon="🎵", layout="wide")

page = st.navigation(
    [
        st.Page("page_map.py", title="Map", icon=":material/scatter_plot:", default=True),
        st.Page("page_model.py", title="Model", icon=":material/model_training:", url_path="model"),
        st.Page("page_data.py", title="Data", icon=":material/database:", url_path="data"),
        st.Page("page_predict.py", title="Whose song is it?", icon=":material/help:", url_path="whose-song"),
        st.Page("page_discover.py", title="Discover", icon=":material/explore:", url_path="discover"),
    ]
)

if st.sidebar.button("Reload data", help=f"Data is kept for {common.CACHE_SECONDS} s; this fetches it now."):
    common.clear_cache()

common.run(page)
