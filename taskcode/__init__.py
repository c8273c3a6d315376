"""Whose song is it? All the logic of the pipeline, as plain Python.

One module per stage (sync, features, train, registry, embed, predict) and
one module each for config, database, retries and the Spotify client. No
Airflow import here: the DAGs in dags/ call these functions.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (oneDNN, absl, NodeDef notes) would bury the
# one-line messages people read; real failures still arrive as Python exceptions.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
