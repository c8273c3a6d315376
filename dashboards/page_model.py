"""Model: every trained version, how good the champion is, and whether the network is worth it."""

import common
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from taskcode import queries

st.title("The model")

versions = common.ask(queries.model_versions)
if versions.empty:
    st.info(common.NO_MODEL)
    st.stop()

champion = common.ask(queries.champion)
first, second, third, fourth = st.columns(4)
first.metric("Champion", f"version {champion['version']}" if champion else "none yet")
second.metric("Champion F1", f"{champion['f1']:.3f}" if champion and champion["f1"] is not None else "–")
third.metric("Versions trained", len(versions))
fourth.metric("Promotions", int(versions["promoted"].sum()))
if champion is None:
    st.info("No version has been promoted yet: a candidate becomes champion when it beats the F1 gate.")

# -- every version --------------------------------------------------------------
st.subheader("Versions")
st.dataframe(
    common.blank_missing(versions[["version", "created_at", "status", "f1", "roc_auc", "accuracy", "decision"]]),
    hide_index=True,
    column_config={
        "created_at": st.column_config.DatetimeColumn("trained", format="YYYY-MM-DD HH:mm"),
        "f1": st.column_config.NumberColumn("F1 (macro)", format="%.3f"),
        "roc_auc": st.column_config.NumberColumn("ROC AUC", format="%.3f"),
        "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
    },
)


def show_gate_evidence(versions: pd.DataFrame) -> None:
    """How the gate judged each version: its F1 gain, the 95% interval of the gain, the probability it is better."""
    judged = versions[versions["gain"].notna()]
    if judged.empty:
        return
    st.markdown("**The promotion gate** (a paired bootstrap of the F1 gain on each version's test songs)")
    st.table(
        pd.DataFrame(
            {
                "version": judged["version"].astype(str),
                "judged against": judged["judged_against"],
                "F1 gain": judged["gain"].map("{:+.3f}".format),
                "95% interval": [
                    f"{low:+.3f} to {high:+.3f}" for low, high in zip(judged["gain_low"], judged["gain_high"])
                ],
                "probability better": judged["probability_better"].map("{:.3f}".format),
                "status": judged["status"],
            }
        ).set_index("version")
    )


show_gate_evidence(versions)

chart = go.Figure()
chart.add_trace(
    go.Scatter(
        x=versions["version"],
        y=versions["f1"],
        mode="lines+markers",
        name="F1",
        line=dict(color="#9e9e9e"),
        marker=dict(size=8, color="#9e9e9e"),
    )
)
promoted = versions[versions["promoted"]]
chart.add_trace(
    go.Scatter(
        x=promoted["version"],
        y=promoted["f1"],
        mode="markers+text",
        name="promoted",
        text=["champion" if s == "champion" else "promoted" for s in promoted["status"]],
        textposition="top center",
        marker=dict(symbol="star", size=16, color="#ff7f0e"),
    )
)
if versions["majority_f1"].notna().any():
    chart.add_trace(
        go.Scatter(
            x=versions["version"],
            y=versions["majority_f1"],
            mode="lines",
            name="always guess the biggest library",
            line=dict(dash="dot", color="#d62728"),
        )
    )
chart.update_layout(
    height=320,
    margin=dict(l=10, r=10, t=30, b=10),
    xaxis=dict(title="version", dtick=1),
    yaxis=dict(title="F1 on held-out songs"),
    title="F1 over versions (stars: promotions)",
)
st.plotly_chart(chart, key="f1_chart")

# -- one version in detail (default: the champion) -----------------------------------
numbers = versions["version"].tolist()
default = numbers.index(champion["version"]) if champion else len(numbers) - 1
version = st.selectbox(
    "Details of version",
    numbers,
    index=default,
    key="model_version",
    format_func=lambda v: f"version {v} ({versions.set_index('version').loc[v, 'status']})",
)
details = common.ask(queries.model_version, version)
metrics, baselines = details["metrics"] or {}, details["baselines"] or {}
people = list(details["people"])

if not metrics:
    st.info(f"Version {version} has no metrics stored ({details['decision'] or 'no decision recorded'}).")
    st.stop()

st.caption(
    f"Decision: {details['decision'] or '–'} · people: {', '.join(people)} · "
    f"trained in {details['training_seconds'] or 0:.1f} s"
)

per_person = pd.DataFrame(
    {
        "person": people,
        "F1": [metrics.get("f1_per_person", {}).get(p) for p in people],
        "precision": [metrics.get("precision", {}).get(p) for p in people],
        "recall": [metrics.get("recall", {}).get(p) for p in people],
        "songs": [metrics.get("counts", {}).get("per_person", {}).get(p) for p in people],
    }
)
st.dataframe(
    common.blank_missing(per_person),
    hide_index=True,
    column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in ("F1", "precision", "recall")},
)

left, right = st.columns(2)
confusion = metrics.get("confusion")
if confusion:
    heatmap = go.Figure(
        go.Heatmap(
            z=confusion["matrix"],
            x=confusion["labels"],
            y=confusion["labels"],
            colorscale="Blues",
            texttemplate="%{z}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    heatmap.update_layout(
        title="Confusion matrix (test songs)",
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title="predicted"),
        yaxis=dict(title="true", autorange="reversed"),
    )
    left.plotly_chart(heatmap, key="confusion_chart")
else:
    left.caption("No confusion matrix stored for this version.")

curves = metrics.get("roc_curve") or {}
if curves:
    roc = go.Figure()
    colours = common.person_colours(people)
    for person, curve in curves.items():
        area = float(np.trapezoid(curve["tpr"], curve["fpr"])) if len(curve["fpr"]) > 1 else float("nan")
        roc.add_trace(
            go.Scatter(
                x=curve["fpr"],
                y=curve["tpr"],
                mode="lines",
                name=f"{person} (AUC {area:.2f})",
                line=dict(color=colours.get(person)),
            )
        )
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="#9e9e9e")))
    roc.update_layout(
        title=f"ROC curve (ROC AUC {metrics.get('roc_auc', float('nan')):.3f})",
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title="false positive rate", range=[0, 1]),
        yaxis=dict(title="true positive rate", range=[0, 1]),
    )
    right.plotly_chart(roc, key="roc_chart")
else:
    right.caption("No ROC curve stored for this version.")

# -- how this version learned, and what it learned from --------------------------------
GROUP_LABELS = {
    "audio": "the sound (audio features)",
    "artists": "the artists (who likes them)",
    "metadata": "the track's facts (year, explicit, artists)",
}


def curve_figure(curve: dict, best_epoch: int) -> go.Figure:
    """Training and validation loss per epoch, the epoch early stopping kept marked."""
    epochs = list(range(1, len(curve["loss"]) + 1))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=epochs, y=curve["loss"], mode="lines", name="training songs", line=dict(color="#1f77b4"))
    )
    figure.add_trace(
        go.Scatter(x=epochs, y=curve["val_loss"], mode="lines", name="validation songs", line=dict(color="#ff7f0e"))
    )
    figure.add_trace(
        go.Scatter(
            x=[best_epoch],
            y=[curve["val_loss"][best_epoch - 1]],
            mode="markers+text",
            name=f"best epoch ({best_epoch}), kept",
            text=[f"best: epoch {best_epoch}"],
            textposition="top left" if best_epoch > len(epochs) / 2 else "top right",
            marker=dict(symbol="star", size=14, color="#2ca02c"),
        )
    )
    figure.add_vline(x=best_epoch, line=dict(dash="dot", color="#2ca02c"))
    figure.update_layout(
        title="Training curve (loss per epoch)",
        height=340,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title="epoch"),
        yaxis=dict(title="loss"),
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return figure


def importance_figure(importance: dict, people: list[str]) -> go.Figure:
    """One horizontal bar per signal group: the test F1 lost when it is shuffled, the biggest on top."""
    ranked = sorted(importance.items(), key=lambda item: item[1]["f1_drop"])
    drops = [values["f1_drop"] for _, values in ranked]
    figure = go.Figure(
        go.Bar(
            x=drops,
            y=[GROUP_LABELS.get(group, group) for group, _ in ranked],
            orientation="h",
            error_x=dict(type="data", array=[values["std"] for _, values in ranked], color="#555555"),
            text=[f"{drop:+.3f}" for drop in drops],
            textposition="inside",
            insidetextanchor="start",
            marker_color="#1f77b4",
            hovertemplate="%{y}: F1 %{x:+.3f} lost when shuffled<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"What tells {' and '.join(people)} apart",
        height=340,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title="F1 lost when the group is shuffled", zeroline=True),
        uniformtext=dict(minsize=10, mode="hide"),  # a value too long for its bar: on hover only
    )
    return figure


def curve_sentence(epochs: int, best_epoch: int) -> str:
    """What the curve teaches, and why this epoch's weights are the ones kept."""
    lesson = (
        "Each epoch the network sees every training song once. Its loss on them keeps falling; "
        "the loss on the validation songs, which it never learns from, stops falling once it starts to memorise"
    )
    if best_epoch == epochs:
        return f"{lesson}. Here it was still falling at the last epoch ({epochs}): its weights are kept."
    return f"{lesson}: early stopping kept the weights of epoch {best_epoch}, the lowest."


def show_learning(version: int, metrics: dict, people: list[str]) -> None:
    """The curve and the importances side by side, each with the sentence that reads it."""
    st.subheader("How it learned, and from what")
    if "curve" not in metrics and "importance" not in metrics:
        st.caption(f"Version {version} was trained before training curves and importances were stored.")
        return
    left, right = st.columns(2)
    if metrics.get("curve"):
        left.plotly_chart(curve_figure(metrics["curve"], metrics["best_epoch"]), key="curve_chart")
        left.caption(curve_sentence(len(metrics["curve"]["val_loss"]), metrics["best_epoch"]))
    if metrics.get("importance"):
        right.plotly_chart(importance_figure(metrics["importance"], people), key="importance_chart")
        right.caption(
            "Shuffle one group of signals across the test songs and measure again: the F1 lost is what only "
            "that group tells the model (bars: the mean of a few shuffles, whiskers: their spread). "
            "Near 0: the model does as well without it."
        )


show_learning(version, metrics, people)

# -- is the neural network worth it? ------------------------------------------------
st.subheader("Is the neural network worth it?")
rows = [
    {
        "model": f"neural network (version {version})",
        "F1": metrics.get("f1"),
        "ROC AUC": metrics.get("roc_auc"),
        "accuracy": metrics.get("accuracy"),
    }
]
for name, values in baselines.items():
    rows.append(
        {
            "model": name.replace("_", " "),
            "F1": values.get("f1"),
            "ROC AUC": values.get("roc_auc"),
            "accuracy": values.get("accuracy"),
        }
    )


def majority_accuracy(majority_f1: float, n_people: int) -> float:
    """Always guessing one person k of N test songs scores F1 2n/(n+N) for k and 0 for the others:
    solved for the share n/N, that is the guess's accuracy."""
    share = majority_f1 * n_people / 2
    return share / (1 - share)


if metrics.get("majority_f1") is not None:
    rows.append(
        {
            "model": "always guess the biggest library",
            "F1": metrics["majority_f1"],
            "ROC AUC": 0.5,
            "accuracy": majority_accuracy(metrics["majority_f1"], len(people)),
        }
    )
comparison = pd.DataFrame(rows)
st.dataframe(
    common.blank_missing(comparison),
    hide_index=True,
    column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in ("F1", "ROC AUC", "accuracy")},
)

scored = {name: values.get("f1") for name, values in baselines.items() if values.get("f1") is not None}
if not scored or metrics.get("f1") is None:
    st.caption("No baselines stored for this version, so there is nothing to compare with.")
else:
    best = max(scored, key=scored.get)
    gain = metrics["f1"] - scored[best]
    label = best.replace("_", " ")
    if gain > 0.005:
        st.success(f"Yes: the network beats the best baseline ({label}) by {gain:.3f} F1.")
    elif gain >= -0.005:
        st.warning(f"Hardly: the network is about as good as a {label} (F1 {gain:+.3f}).")
    else:
        st.warning(f"No: a {label} does better ({-gain:.3f} F1 more); the network is not worth it on this data.")
