"""Offline estimators: regressors of power, energy and duration per epoch, fitted on a dataset.

As del Rey et al.: kernel ridge regression with an RBF kernel is the
estimator; ordinary least squares and an RBF support vector regressor are
there for comparison. Every regressor sees log1p of the features,
standardised, and fits the log of its target (energies and powers span
orders of magnitude across GPUs and workloads; a log fit weighs a 1 % error
the same on a small run as on a large one). Hyperparameters are chosen by
grouped k-fold cross-validation (no setup in two folds) on RMSE.

The model file (:func:`save` / :func:`load`) is a joblib pickle, like every
scikit-learn model: load only files you made. It carries the regressors,
their features and the workload catalogue of :mod:`.workload`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import EstimateError
from ..paths import atomic_path
from .features import TARGETS, FeatureFrame, transform

#: Regressors by name; the first is the default (the study's choice).
METHODS: tuple[str, ...] = ("kernel-ridge", "linear", "svr")
#: Hyperparameter grids (scikit-learn parameter names inside the pipeline).
GRIDS: dict[str, dict[str, list[float]]] = {
    "kernel-ridge": {"regressor__model__alpha": [1e-3, 1e-2, 1e-1, 1.0],
                     "regressor__model__gamma": [0.01, 0.03, 0.1, 0.3, 1.0]},
    "linear": {},
    "svr": {"regressor__model__C": [1.0, 10.0, 100.0], "regressor__model__gamma": [0.01, 0.1, 1.0],
            "regressor__model__epsilon": [0.01, 0.1]},
}
MAX_FOLDS = 5
FORMAT = "energybench-estimator"
FORMAT_VERSION = 1


def _pipeline(method: str) -> Any:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVR

    model = {"kernel-ridge": lambda: KernelRidge(kernel="rbf", alpha=0.1, gamma=0.1),
             "linear": LinearRegression, "svr": lambda: SVR(kernel="rbf")}[method]()
    inner = Pipeline([("log", FunctionTransformer(transform)), ("scale", StandardScaler()), ("model", model)])
    return TransformedTargetRegressor(regressor=inner, func=np.log, inverse_func=np.exp)


def fit_regressor(x: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str) -> tuple[Any, dict[str, Any]]:
    """One target's regressor, hyperparameters by grouped CV; returns (fitted model, CV summary)."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from threadpoolctl import threadpool_limits

    if method not in METHODS:
        raise EstimateError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    n_groups = len(np.unique(groups))
    grid = GRIDS[method]
    # Problems are small (runs, not samples): BLAS threads would only contend for the cores.
    with threadpool_limits(limits=1):
        if not grid or n_groups < 2:
            model = _pipeline(method).fit(x, y)
            return model, {"params": {}, "cv_rmse": None, "folds": 0}
        folds = min(MAX_FOLDS, n_groups)
        search = GridSearchCV(_pipeline(method), grid, cv=GroupKFold(n_splits=folds),
                              scoring="neg_root_mean_squared_error", n_jobs=1, error_score="raise")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            search.fit(x, y, groups=groups)
    params = {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()}
    return search.best_estimator_, {"params": params, "cv_rmse": float(-search.best_score_), "folds": folds}


@dataclass
class EstimatorModel:
    """Fitted offline estimators and what predicting with them needs."""

    method: str
    features: tuple[str, ...]
    regressors: dict[str, Any]  # target -> fitted regressor
    cv: dict[str, dict[str, Any]]  # target -> chosen hyperparameters, CV RMSE, folds
    catalogue: dict[str, dict[str, Any]] = field(default_factory=dict)  # workload key -> features
    epochs: dict[str, float] = field(default_factory=dict)  # lookup key -> mean epochs
    trained_on: dict[str, Any] = field(default_factory=dict)  # source, runs, hardware, paradigms

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every target for the feature matrix ``x`` (columns = :attr:`features`)."""
        return {t: np.asarray(r.predict(x), dtype=float) for t, r in self.regressors.items()}


def fit(ff: FeatureFrame, groups: np.ndarray, method: str = METHODS[0]) -> EstimatorModel:
    """Fit one regressor per target on the runs of ``ff`` (grouped CV inside)."""
    x = ff.matrix()
    regressors, cv = {}, {}
    for target in TARGETS:
        y = ff.frame[target].to_numpy().astype(float)
        regressors[target], cv[target] = fit_regressor(x, y, groups, method)
    return EstimatorModel(method=method, features=ff.features, regressors=regressors, cv=cv)


def save(model: EstimatorModel, path: Path) -> Path:
    """Write ``model`` atomically (joblib)."""
    import joblib
    import sklearn

    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "energybench": __version__,
               "sklearn": sklearn.__version__, "model": model}
    with atomic_path(Path(path)) as tmp:
        joblib.dump(payload, tmp)
    return Path(path)


def load(path: Path) -> EstimatorModel:
    """Read a model file written by :func:`save`; EstimateError naming the file otherwise."""
    import joblib
    import sklearn

    path = Path(path)
    if not path.is_file():
        raise EstimateError(f"{path}: no such model file; make one with `energybench estimate fit DIR`")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            payload = joblib.load(path)
    except Exception as exc:  # a foreign or truncated file fails in many ways
        raise EstimateError(f"{path}: not a readable model file ({type(exc).__name__}); "
                            "fit it again with `energybench estimate fit DIR`") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EstimateError(f"{path}: not an energybench estimator model file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise EstimateError(f"{path}: model format version {payload.get('format_version')} is not "
                            f"{FORMAT_VERSION}; fit it again with this energybench version")
    if payload.get("sklearn") != sklearn.__version__ and caught:
        warnings.warn(f"{path}: fitted with scikit-learn {payload.get('sklearn')}, loaded with "
                      f"{sklearn.__version__}; refit if predictions look wrong", stacklevel=2)
    return payload["model"]
