"""Declarative parameter spaces of virtual patients, and seeded sampling.

A `ParameterSpace` is a tuple of `Parameter` rows, each a name with its
unit in it, a group and a range. `response_space` is the space of issue 5:

- ``shape``: the biventricular ellipsoid of `simulators.mesh.biv`
  (its keyword arguments, mm; the grid step is a sweep setting);
- ``tissue``: fibre, cross-fibre and fast endocardial velocities (mm/ms),
  and a scar (``scar`` 0 none / 1 present, then its radius, place on the
  LV endocardium by ventricular coordinates, transmurality and border);
- ``mechanics``: contractility and stiffness, times the healthy heart's;
- ``therapy``: the LV lead as a (height, angle) pair snapped to the
  nearest candidate (`twinml.twins.sites`), and the VV delay. The LBBB
  baseline is the intrinsic rhythm of every sample.

Points are drawn in the unit cube, by scrambled Sobol (`scipy.stats.qmc`,
balanced at powers of two) or Latin hypercube, and mapped to each range;
a choice takes ``floor(u * k)``. The same seed gives the same samples.

Examples
--------
>>> space = response_space().fixed(scar=0)
>>> rows = space.sample(4, seed=1)
>>> len(rows), rows[0]["scar"]
(4, 0)
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.stats import qmc

from simulators.errors import ParameterError

METHODS = ("sobol", "lhs")


@dataclass(frozen=True)
class Parameter:
    """One dimension of a space.

    Attributes
    ----------
    name : str
        Name with its unit (``v_fibre_mm_ms``).
    group : str
        ``shape``, ``tissue``, ``mechanics`` or ``therapy``.
    low, high : float
        Inclusive range; equal for a fixed value (no dimension drawn).
    unit : str
        Unit, ``1`` for a ratio or a flag.
    choices : int
        0 for a continuous value, else the number of integer levels
        0..choices-1 (``low`` and ``high`` are then 0 and choices-1).
    doc : str
        One line.
    """

    name: str
    group: str
    low: float
    high: float
    unit: str
    choices: int = 0
    doc: str = ""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            raise ParameterError(f"{self.name}: range must be finite")
        if self.low > self.high:
            raise ParameterError(
                f"{self.name}: low {self.low} must not exceed high {self.high}"
            )

    @property
    def is_fixed(self) -> bool:
        """True when the range is one value."""
        return self.low == self.high

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map unit-cube coordinates of shape (n,) onto the range."""
        if self.choices:
            level = np.minimum(np.floor(u * (self.high - self.low + 1)), self.high)
            return self.low + level
        return self.low + (self.high - self.low) * u


def _p(name, group, low, high, unit, doc, choices=0) -> Parameter:
    return Parameter(name, group, float(low), float(high), unit, choices, doc)


#: Ranges of issue 5's space. Shape: about +-15 % around the defaults of
#: `biv_ellipsoid` (LV cavity near the real heart's 120 mL); tissue: the
#: ranges of SCIENCE.md (Caldwell 2009; fast layers 2-4 mm/ms); mechanics:
#: inside `simulators.circulation.twin.RANGES`, weighted to heart failure.
RESPONSE_PARAMETERS = (
    _p("lv_endo_radius_mm", "shape", 21.0, 29.0, "mm", "LV cavity short radius"),
    _p("lv_endo_length_mm", "shape", 52.0, 70.0, "mm", "LV cavity long radius"),
    _p("lv_wall_mm", "shape", 8.0, 13.0, "mm", "LV wall and septum thickness"),
    _p("rv_depth_mm", "shape", 15.0, 25.0, "mm", "RV cavity depth"),
    _p("rv_radius_mm", "shape", 40.0, 56.0, "mm", "RV cavity half-width"),
    _p("rv_length_mm", "shape", 50.0, 66.0, "mm", "RV cavity long radius"),
    _p("rv_wall_mm", "shape", 4.0, 6.0, "mm", "RV free-wall thickness"),
    _p("base_z_mm", "shape", 14.0, 22.0, "mm", "base plane height"),
    _p("v_fibre_mm_ms", "tissue", 0.45, 0.8, "mm/ms", "velocity along the fibre"),
    _p("v_cross_mm_ms", "tissue", 0.15, 0.4, "mm/ms", "velocity across the fibre"),
    _p("v_endo_mm_ms", "tissue", 1.5, 4.0, "mm/ms", "fast endocardial layer"),
    _p("scar", "tissue", 0, 1, "1", "0 no scar, 1 an ischaemic scar", choices=2),
    _p("scar_radius_mm", "tissue", 8.0, 25.0, "mm", "scar ball radius"),
    _p("scar_apicobasal", "tissue", 0.2, 0.9, "1", "scar height, 0 apex .. 1 base"),
    _p("scar_rotational_deg", "tissue", -180.0, 180.0, "deg", "scar angle"),
    _p("scar_transmurality", "tissue", 0.3, 1.0, "1", "scarred wall fraction"),
    _p("scar_border_mm", "tissue", 1.0, 6.0, "mm", "border-zone width"),
    _p("contractility", "mechanics", 0.6, 1.2, "1", "active stress factor"),
    _p("stiffness", "mechanics", 0.8, 3.0, "1", "passive stress factor"),
    _p("lv_lead_apicobasal", "therapy", 0.35, 0.95, "1", "LV lead height"),
    _p("lv_lead_rotational_deg", "therapy", 60.0, 300.0, "deg",
       "LV lead angle from the septum (wrapped to [-180, 180))"),
    _p("vv_delay_ms", "therapy", -20.0, 60.0, "ms", "LV lead ahead of the RV"),
)  # fmt: skip


@dataclass(frozen=True)
class ParameterSpace:
    """A box of parameters to sample.

    Parameters
    ----------
    parameters : tuple of Parameter
        The dimensions, names unique.
    """

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ParameterError(f"parameter names given twice: {twice}")

    @property
    def names(self) -> list[str]:
        """Names in order."""
        return [p.name for p in self.parameters]

    @property
    def free(self) -> list[Parameter]:
        """Parameters that are drawn (not fixed)."""
        return [p for p in self.parameters if not p.is_fixed]

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ParameterError(f"no parameter {name!r}; the space has {self.names}")

    def narrowed(self, **ranges: tuple[float, float]) -> ParameterSpace:
        """The same space with some ranges replaced, each inside the old one."""
        out = []
        for p in self.parameters:
            if p.name in ranges:
                low, high = (float(v) for v in ranges[p.name])
                if not p.low <= low <= high <= p.high:
                    raise ParameterError(
                        f"{p.name}: new range [{low:g}, {high:g}] must lie inside "
                        f"[{p.low:g}, {p.high:g}] {p.unit}"
                    )
                p = replace(p, low=low, high=high)
            out.append(p)
        self._check_known(ranges)
        return ParameterSpace(tuple(out))

    def fixed(self, **values: float) -> ParameterSpace:
        """The same space with some parameters held at one value."""
        return self.narrowed(**{k: (v, v) for k, v in values.items()})

    def without(self, *groups: str) -> ParameterSpace:
        """The space without the parameters of some groups (``shape`` for a
        sweep on one real heart)."""
        return ParameterSpace(
            tuple(p for p in self.parameters if p.group not in groups)
        )

    def sample(self, n: int, seed: int, method: str = "sobol") -> list[dict]:
        """Draw `n` points, one dict per sample (name to value).

        Parameters
        ----------
        n : int
            Number of samples; a power of two keeps Sobol balanced.
        seed : int
            Seed of the scrambling (Sobol) or the permutations (LHS).
        method : {"sobol", "lhs"}

        Returns
        -------
        list of dict
            Continuous values as float, choices as int.
        """
        if method not in METHODS:
            raise ParameterError(f"method must be one of {METHODS}, got {method!r}")
        if n < 1:
            raise ParameterError(f"n must be at least 1, got {n}")
        u = self.unit_points(n, seed, method)

        # each free dimension from its column; fixed ones as they are
        columns, k = {}, 0
        for p in self.parameters:
            if p.is_fixed:
                columns[p.name] = np.full(n, p.low)
            else:
                columns[p.name] = p.from_unit(u[:, k])
                k += 1
        kinds = {p.name: int if p.choices else float for p in self.parameters}
        return [
            {name: kinds[name](col[i]) for name, col in columns.items()}
            for i in range(n)
        ]

    def unit_points(self, n: int, seed: int, method: str) -> np.ndarray:
        """Points in the unit cube of the free dimensions, (n, n_free)."""
        d = len(self.free)
        if d == 0:
            return np.zeros((n, 0))
        if method == "lhs":
            return qmc.LatinHypercube(d=d, seed=seed).random(n)
        if n & (n - 1):
            warnings.warn(
                f"{n} Sobol samples are not a power of two, so the sequence is "
                "not balanced; ask for 2**k samples or method='lhs'",
                UserWarning,
                stacklevel=3,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # scipy's, said above
            return qmc.Sobol(d=d, scramble=True, seed=seed).random(n)

    def as_dict(self) -> dict:
        """Plain dict for provenance."""
        return {"parameters": [asdict(p) for p in self.parameters]}

    def _check_known(self, names) -> None:
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise ParameterError(f"unknown parameters {unknown}; known: {self.names}")


def response_space() -> ParameterSpace:
    """The space of issue 5 (shape, tissue, mechanics, therapy)."""
    return ParameterSpace(RESPONSE_PARAMETERS)


#: Mechanics of the population sweeps (below a contractility of about 0.7
#: the healthy set-points dilate a weak heart without end).
POPULATION_MECHANICS = {"contractility": (0.75, 1.2), "stiffness": (0.8, 2.5)}


def population_space() -> ParameterSpace:
    """The box the population emulator's sweeps sample from.

    `response_space` with the mechanics of `POPULATION_MECHANICS`; the
    model card records these bounds as the training ranges.
    """
    return response_space().narrowed(**POPULATION_MECHANICS)


#: The LV wall's asymmetry (`biv_ellipsoid`'s ``lv_wall_asymmetry``): kept
#: out of `RESPONSE_PARAMETERS`, so that the sweeps drawn before it keep
#: their samples; `asymmetric_space` adds it. Up to 0.35 the septum holds
#: 0.31 of the LV free wall's volume on the default heart (0.49 when
#: symmetric): chronic LBBB thins the septum and thickens the lateral wall
#: (Vernooy et al. 2005, Eur Heart J 26:91), and real hearts' walls vary
#: regionally where the symmetric family's do not.
WALL_ASYMMETRY = _p(
    "lv_wall_asymmetry", "shape", 0.0, 0.35, "1",
    "LV epicardium's shift away from the septum, fraction of the wall",
)  # fmt: skip


def asymmetric_space(space: ParameterSpace) -> ParameterSpace:
    """A space with `WALL_ASYMMETRY` after its shape parameters."""
    params = list(space.parameters)
    if WALL_ASYMMETRY.name in space.names:
        raise ParameterError(f"{WALL_ASYMMETRY.name} is in the space already")
    last_shape = max(i for i, p in enumerate(params) if p.group == "shape")
    params.insert(last_shape + 1, WALL_ASYMMETRY)
    return ParameterSpace(tuple(params))


def shape_kwargs(sample: dict) -> dict:
    """The ``shape`` entries of a sample, as `biv_ellipsoid` keywords."""
    shape = {
        p.name for p in (*RESPONSE_PARAMETERS, WALL_ASYMMETRY) if p.group == "shape"
    }
    return {k: float(v) for k, v in sample.items() if k in shape}


def wrap_deg(angle: float) -> float:
    """An angle in degrees wrapped to [-180, 180)."""
    return (float(angle) + 180.0) % 360.0 - 180.0
