"""Training the population emulator: an ensemble, with Lightning and MLflow.

Each step takes one twin (heart, tissue, scar, mechanics) and its samples
of the response sweep: it encodes the twin once, decodes its lead queries
with both decoders (coarse travel times; refined shortest paths) and takes
a Huber loss on each one's activation at the coarse nodes (ms, scar
excluded) plus the squared error of the standardised response targets.
The ensemble's members differ in seed only (initialisation and order);
their spread, scaled on a calibration split
(`experiments/population/train.py`), gives the intervals. Every member is
logged to MLflow (config, seed, dataset hash, metrics) and saved with its
SHA-256 (`save_checkpoint`), reloadable with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch

from simulators.errors import DataError
from twinml.data.features import T_SCALE_MS
from twinml.data.population import N_BINS, Example, pool_matrix
from twinml.models.checkpoints import save_checkpoint
from twinml.models.population import PopulationGNN, load_member
from twinml.training.activation import _flatten
from twinml.training.runs import cpu_trainer, fit, mlflow_logger

logger = logging.getLogger(__name__)

__all__ = [
    "PopulationConfig",
    "TwinTensors",
    "load_member",
    "tensors",
    "train_ensemble",
]


@dataclass(frozen=True)
class PopulationConfig:
    """Hyper-parameters of the population emulator and its training."""

    width: int = 32
    n_layers: int = 3
    decoder_width: int = 48
    pooled_dim: int = 8
    head_width: int = 96
    epochs: int = 30
    lr: float = 3e-3
    seed: int = 0
    n_members: int = 3
    huber_ms: float = 1.0
    response_weight: float = 1.0
    spacing_mm: float = 7.0

    def as_dict(self) -> dict:
        """Plain dict for logging."""
        return asdict(self)


@dataclass(eq=False)
class TwinTensors:
    """One example as tensors (coarse graph, query, targets)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    pool: torch.Tensor
    g: torch.Tensor
    lead: torch.Tensor
    q: torch.Tensor
    b: torch.Tensor  # shortest-path times at the coarse nodes / T_SCALE_MS
    vv: torch.Tensor
    y: torch.Tensor  # coarse reference times, NaN in scar
    r: torch.Tensor  # response targets, NaN when missing


def tensors(examples: Example | list[Example]) -> TwinTensors:
    """Tensors of one twin's examples (they share its graph; B queries)."""
    exs = [examples] if isinstance(examples, Example) else list(examples)
    g = exs[0].graph
    f = g.features
    rep = g.coarse.rep
    return TwinTensors(
        x=torch.from_numpy(f.x),
        edge_index=torch.from_numpy(f.edge_index),
        edge_attr=torch.from_numpy(f.edge_attr),
        pool=torch.from_numpy(pool_matrix(g.bins)),
        g=torch.from_numpy(g.globals_),
        lead=torch.tensor([e.lead for e in exs]),
        q=torch.from_numpy(np.stack([e.q for e in exs])),
        b=torch.from_numpy(np.stack([e.b_ms for e in exs]) / np.float32(T_SCALE_MS)),
        vv=torch.tensor([e.vv_delay_ms / 100.0 for e in exs], dtype=torch.float32),
        y=torch.from_numpy(np.stack([e.t_ms[rep] for e in exs]).astype(np.float32)),
        r=torch.from_numpy(np.stack([e.targets for e in exs]).astype(np.float32)),
    )


def by_twin(examples: list[Example]) -> list[list[Example]]:
    """Examples grouped by twin (same heart, tissue, scar and mechanics)."""
    therapy = ("lv_lead_apicobasal", "lv_lead_rotational_deg", "vv_delay_ms")
    groups: dict[str, list[Example]] = {}
    for e in examples:
        twin = e.sample.items()
        key = repr(sorted((k, v) for k, v in twin if k not in therapy and k[0] != "_"))
        groups.setdefault(key, []).append(e)
    return list(groups.values())


def run(model: PopulationGNN, t: TwinTensors) -> tuple[torch.Tensor, ...]:
    """Coarse times (B, N), responses (B, n_targets) and refined times (B, N)."""
    h = model.encode(t.x, t.edge_index, t.edge_attr)
    times, resp = model.decode(h, t.x, t.pool, t.g, t.lead, t.q, t.vv)
    refined = model.refiner.times(t.b, model.refiner(h, t.lead, t.q, t.b))
    return times, resp, refined


class PopulationModule(L.LightningModule):
    """LightningModule around `PopulationGNN`."""

    def __init__(self, model: PopulationGNN, config: PopulationConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config

    def _losses(self, t: TwinTensors) -> tuple[torch.Tensor, torch.Tensor]:
        times, resp, refined = run(self.model, t)
        live = torch.isfinite(t.y)
        act = sum(
            torch.nn.functional.huber_loss(
                pred[live], t.y[live], delta=self.config.huber_ms
            )
            for pred in (times, refined)
        )
        known = torch.isfinite(t.r)
        z = (resp - torch.nan_to_num(t.r)) / self.model.target_std
        res = (z[known] ** 2).mean() if known.any() else times.sum() * 0.0
        return act, res

    def training_step(self, batch, batch_idx):
        act, res = self._losses(batch)
        loss = act + self.config.response_weight * res
        self.log("train_act_loss", act, on_epoch=True, on_step=False, batch_size=1)
        self.log("train_resp_loss", res, on_epoch=True, on_step=False, batch_size=1)
        return loss

    def validation_step(self, batch, batch_idx):
        times, resp, refined = run(self.model, batch)
        live = torch.isfinite(batch.y)
        mae = (refined[live] - batch.y[live]).abs().mean()
        self.log("val_act_mae_ms", mae, on_epoch=True, batch_size=1)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.config.lr, weight_decay=1e-5)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=self.config.epochs
        )
        return [opt], [sched]


class _Examples(torch.utils.data.Dataset):
    def __init__(self, items: list[TwinTensors]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> TwinTensors:
        return self.items[i]


def _loader(items, shuffle: bool, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        _Examples(items),
        batch_size=None,
        shuffle=shuffle,
        generator=gen if shuffle else None,
        collate_fn=lambda t: t,
    )


def _new_model(
    example: TwinTensors, config: PopulationConfig, k_init: float = 1.0
) -> PopulationGNN:
    return PopulationGNN(
        node_dim=example.x.shape[1],
        edge_dim=example.edge_attr.shape[1],
        query_dim=example.q.shape[2],
        n_globals=example.g.shape[0],
        n_bins=example.pool.shape[1],
        n_targets=example.r.shape[1],
        width=config.width,
        n_layers=config.n_layers,
        decoder_width=config.decoder_width,
        pooled_dim=config.pooled_dim,
        head_width=config.head_width,
        k_init=k_init,
    )


def graph_factor(items: list[TwinTensors], refined: bool = False) -> float:
    """Least-squares factor from a travel-time input to the targets.

    The coarse graph's earliest travel time, or with `refined` the
    shortest path over the mesh edges.
    """
    num = den = 0.0
    for t in items:
        q = (t.b if refined else t.q[..., 2]).numpy() * T_SCALE_MS
        y = t.y.numpy()
        ok = np.isfinite(y)
        num += float(q[ok] @ y[ok])
        den += float(q[ok] @ q[ok])
    return num / den if den > 0 else 1.0


def train_ensemble(
    train: list[Example],
    val: list[Example],
    config: PopulationConfig,
    out_dir: Path,
    tracking_db: Path,
    run_params: dict,
    members: list[int] | None = None,
) -> list[Path]:
    """Fit `config.n_members` members and save each checkpoint.

    Parameters
    ----------
    train, val : list of Example
        Training and validation examples (validation only reports).
    config : PopulationConfig
    out_dir : Path
        Folder of the checkpoints ``member_<k>.pt``.
    tracking_db : Path
        SQLite file of the MLflow backend.
    run_params : dict
        Dataset hash, sweep settings and environment, logged with each run.
    members : list of int, optional
        Fit only these members (seed ``config.seed + k``), for example to
        train them in parallel processes; all by default.

    Returns
    -------
    list of Path
        The members' checkpoints.
    """
    if not train:
        raise DataError("no training examples: run the response sweep first")
    items = [tensors(group) for group in by_twin(train)]
    val_items = [tensors(group) for group in by_twin(val)]
    k_init, k_paths = graph_factor(items), graph_factor(items, refined=True)
    logger.info(
        "%d twins; graph factors %.3f (coarse) %.3f (paths)",
        len(items),
        k_init,
        k_paths,
    )

    # target standardisation from the training set
    r = np.stack([e.targets for e in train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a target never given
        mean = np.nanmean(r, axis=0)
        std = np.nanstd(r, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)

    out_dir = Path(out_dir)
    paths = []
    for member in range(config.n_members) if members is None else members:
        seed = config.seed + member
        L.seed_everything(seed, workers=True, verbose=False)
        model = _new_model(items[0], config, k_init)
        with torch.no_grad():
            model.refiner.log_k.fill_(float(np.log(k_paths)))
        model.target_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        model.target_std.copy_(torch.from_numpy(std.astype(np.float32)))
        module = PopulationModule(model, config)
        mlf = mlflow_logger("twinml-population", tracking_db)
        mlf.log_hyperparams(
            {**config.as_dict(), "member": member, **_flatten(run_params)}
        )
        trainer = cpu_trainer(
            config.epochs,
            mlf,
            num_sanity_val_steps=0,
            check_val_every_n_epoch=max(1, config.epochs // 5),
        )
        metrics = fit(
            trainer,
            module,
            _loader(items, True, seed),
            _loader(val_items, False, seed) if val_items else None,
        )
        logger.info("member %d: %s", member, metrics)
        path = out_dir / f"member_{member}.pt"
        save_checkpoint(
            path, {"state_dict": model.state_dict(), "init": _init_args(model, config)}
        )
        mlf.experiment.log_artifact(mlf.run_id, str(path))
        mlf.finalize("success")
        paths.append(path)
    return paths


def _init_args(model: PopulationGNN, config: PopulationConfig) -> dict:
    act = model.activation
    return {
        "node_dim": act.embed_node[0].in_features,
        "edge_dim": act.embed_edge[0].in_features,
        "query_dim": act.decoder[0].in_features - 2 * config.width,
        "n_globals": model.head[0].in_features - N_BINS * (config.pooled_dim + 2) - 1,
        "n_bins": N_BINS,
        "n_targets": model.target_mean.numel(),
        "width": config.width,
        "n_layers": config.n_layers,
        "decoder_width": config.decoder_width,
        "pooled_dim": config.pooled_dim,
        "head_width": config.head_width,
    }
