"""Landscape diagnostics of a trained network's checkpoint (what ``deeprelax analyze`` runs).

Loads a trainer checkpoint (``deeprelax-checkpoint-v1``), rebuilds the model with
``build_model(config["model"])``, draws ``batches`` x ``batch_size`` training examples
(seeded) and runs :func:`deeprelax.analysis.analysis_report` on the loss over them
(cross-entropy, batch norm in eval mode, dropout off): top-k Hessian eigenvalues, SLQ density,
Hutchinson trace, local entropy, epsilon- and SAM-sharpness, and with a second checkpoint the
loss/error interpolation between the two. Writes ``OUT/analysis.json`` and ``OUT/density.png``,
``OUT/top_eigenvalues.png``, ``OUT/interpolation.png`` (with a second checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from deeprelax import analysis
from deeprelax.analysis import AnalysisSettings

from .checkpoint import load_checkpoint
from .data import load_dataset
from .models import build_model

__all__ = ["analyze_checkpoint", "checkpoint_report"]


def _load_model(path: str | Path, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    ckpt = load_checkpoint(path)
    config = ckpt["config"]
    if "model" not in config or "dataset" not in config:
        raise ValueError(f"{path}: checkpoint config lacks 'model' or 'dataset'")
    model = build_model(config["model"])
    analysis.check_state_dict(model, ckpt["model_state"], source=str(path))
    model.load_state_dict(ckpt["model_state"])
    return model.to(device).eval(), config


def _batches(x: torch.Tensor, y: torch.Tensor, n: int, size: int, seed: int, device) -> list:
    if n * size > len(x):
        raise ValueError(f"Invalid --batches value: {n} x {size} exceeds the {len(x)} examples")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: n * size]
    return [(x[i].to(device), y[i].to(device)) for i in idx.split(size)]


def _check(settings: AnalysisSettings, batches: int, batch_size: int) -> None:
    if settings.bottom < 0:
        raise ValueError(f"Invalid --bottom value: {settings.bottom}")
    values = {"k": settings.k, "batches": batches, "batch_size": batch_size}
    values.update(
        (name, getattr(settings, name)) for name in ("probes", "lanczos_steps", "gamma", "beta")
    )
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"Invalid --{name.replace('_', '-')} value: {value}")


def checkpoint_report(
    checkpoint: str | Path,
    settings: AnalysisSettings | None = None,
    *,
    other: str | Path | None = None,
    batches: int = 4,
    batch_size: int = 250,
    data_dir: str | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The analysis report (:func:`deeprelax.analysis.analysis_report`) of the model saved in
    ``checkpoint`` over ``batches`` x ``batch_size`` training examples drawn with
    ``settings.seed``; ``other``: a second checkpoint of the same model to interpolate towards.
    Returns the dict written to analysis.json (the checkpoint, its config and the data first)."""
    settings = settings or AnalysisSettings()
    _check(settings, batches, batch_size)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config = _load_model(checkpoint, dev)
    other_model = other_config = None
    if other:
        other_model, other_config = _load_model(other, dev)
        if other_config["model"] != config["model"]:
            raise ValueError(
                f"{other}: a checkpoint of model {other_config['model']!r}, "
                f"but {checkpoint} is of {config['model']!r}"
            )
    (x_tr, y_tr), (x_te, y_te) = load_dataset(config["dataset"], data_dir=data_dir)
    train = _batches(x_tr, y_tr, batches, batch_size, settings.seed, dev)
    test = None
    if other_model is not None:
        test = _batches(x_te, y_te, 1, min(len(x_te), batches * batch_size), 0, dev)
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "config": config,
        "num_params": None,
        "num_examples": batches * batch_size,
        "data": f"{batches} x {batch_size} training examples (seed {settings.seed})",
    }
    report.update(
        analysis.analysis_report(
            model, F.cross_entropy, train, settings,
            other=other_model, test_batches=test, other_source=str(other),
        )
    )  # fmt: skip
    if other_config is not None:
        report["interpolation"]["other_optim"] = other_config.get("optim")
    return report


def analyze_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    settings: AnalysisSettings | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`checkpoint_report` (``kwargs`` are its keywords), written to ``out/analysis.json``
    with its figures (:func:`deeprelax.figures.analysis_figures`); returns the report."""
    from deeprelax.figures import analysis_figures

    report = checkpoint_report(checkpoint, settings, **kwargs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "analysis.json", "w") as fh:
        json.dump(report, fh, indent=1, default=float)
    name = f"{report['config'].get('model')}/{report['config'].get('optim', '?')}"
    other_name = report.get("interpolation", {}).get("other_optim")
    analysis_figures(report, out, name, other_name)
    return report
