"""Whose song is it? All the logic of the pipeline, as plain Python.

One module per stage (sync, features, train, promotion, embed, predict) and
one each for config, the feature schema, the database, retries and the
Spotify client (README.md beside this file). No Airflow import here: the DAGs
in dags/ call these functions.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (oneDNN, absl, NodeDef notes) would bury the
# one-line messages people read; real failures still arrive as Python exceptions.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
