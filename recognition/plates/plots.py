"""PNG plots beside an `eval plates` report: precision-recall and reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plots(report: dict[str, Any], json_path: Path) -> list[Path]:
    """`<stem>_pr.png` and `<stem>_reliability.png` next to the JSON; returns those written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[Path] = []
    curve = report.get("pr_curve") or []
    if curve:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot([c[2] for c in curve], [c[1] for c in curve])
        ax.set(xlabel="recall (IoU 0.5)", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.set_title(f"plate detector: mAP50 {report.get('map50')}")
        ax.grid(alpha=0.3)
        path = json_path.with_name(json_path.stem + "_pr.png")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out.append(path)
    cal = report.get("calibration")
    if cal:
        bins = [b for b in cal["bins"] if b["n"]]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
        ax.bar(
            [(b["lo"] + b["hi"]) / 2 for b in bins],
            [b["accuracy"] for b in bins],
            width=0.09,
            alpha=0.7,
            label="share exact",
        )
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="k")
        ax.set(xlabel="plate confidence", ylabel="share read exactly", xlim=(0, 1), ylim=(0, 1))
        ax.set_title(f"reliability: ECE {cal['ece']} over {cal['n']} reads")
        ax.legend(loc="upper left")
        path = json_path.with_name(json_path.stem + "_reliability.png")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out.append(path)
    return out
