"""Interpretable heads: diagnosis and prognosis with per-patient explanations.

scikit-learn compatible estimators built on additive spline bases
(`design`): `AdditiveClassifier` (calibrated additive logits) and
`AdditiveCox` (penalised additive Cox model with survival curves).
`cohort` fits them on the virtual heart-failure cohort
(`twinml.data.hf_cohort`); `plots` renders shape functions,
contributions and calibration to PNG. Only permissive dependencies
(numpy, scipy, scikit-learn).
"""

from twinml.heads.checks import FeatureError
from twinml.heads.diagnosis import AdditiveClassifier
from twinml.heads.prognosis import AdditiveCox

__all__ = ["AdditiveClassifier", "AdditiveCox", "FeatureError"]
