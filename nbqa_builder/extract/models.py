"""Machine-learning tasks: a scikit-learn model fitted on a stated split, and its test score.

The spec reader (extract/interpret.py) follows the usual shape of a notebook's first model:

    X = df[["rooms", "area"]]
    y = df["price"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    model = LinearRegression()
    model.fit(X_train, y_train)
    model.score(X_test, y_test)            # or r2_score(y_test, model.predict(X_test)), ...

and states every part of it: the features and the target, the split with its `test_size` and
`random_state`, the model with its settings, the metric. A model that draws random numbers
(forests, trees, boosting) needs a fixed `random_state`, or no task is made; `verify` re-runs the
solution and the reference program twice, and the task is `deterministic` only when they agree.
Anything else (a pipeline, a scaler, cross-validation, a split without `random_state`) stays
`Unknown`, and the cell gives no task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract import spec as S
from nbqa_builder.extract.descriptions import Const, FrameV, SeriesV
from nbqa_builder.extract.spec import Frame, column, columns_text, quote
from nbqa_builder.extract.statistics import Statistic, VarOf, answer_name

# model class -> (its scikit-learn module, draws random numbers: needs a fixed random_state)
MODEL_CLASSES: dict[str, tuple[str, bool]] = {
    "LinearRegression": ("sklearn.linear_model", False),
    "Ridge": ("sklearn.linear_model", False),
    "Lasso": ("sklearn.linear_model", False),
    "LogisticRegression": ("sklearn.linear_model", False),
    "KNeighborsRegressor": ("sklearn.neighbors", False),
    "KNeighborsClassifier": ("sklearn.neighbors", False),
    "DecisionTreeRegressor": ("sklearn.tree", True),
    "DecisionTreeClassifier": ("sklearn.tree", True),
    "RandomForestRegressor": ("sklearn.ensemble", True),
    "RandomForestClassifier": ("sklearn.ensemble", True),
    "GradientBoostingRegressor": ("sklearn.ensemble", True),
    "GradientBoostingClassifier": ("sklearn.ensemble", True),
}
# metric function -> (how the question names it, the answer's name)
METRICS = {
    "r2_score": ("the R² score (coefficient of determination)", "r2"),
    "mean_squared_error": ("the mean squared error", "mse"),
    "mean_absolute_error": ("the mean absolute error", "mae"),
    "accuracy_score": ("the accuracy (the share of rows predicted right)", "accuracy"),
}
DEFAULT_TEST_SIZE = 0.25  # train_test_split's

MODEL_HELPER = '''def model_metric(frame, features, target, test_size, random_state, model, metric):
    """The model fitted on the training rows and measured on the test rows (scikit-learn)."""
    from sklearn import metrics
    from sklearn.model_selection import train_test_split
    X_train, X_test, y_train, y_test = train_test_split(frame[features], frame[target], test_size=test_size,
                                                        random_state=random_state)
    model.fit(X_train, y_train)
    if metric == "score":
        return model.score(X_test, y_test)
    return getattr(metrics, metric)(y_test, model.predict(X_test))


import sklearn.ensemble, sklearn.linear_model, sklearn.neighbors, sklearn.tree  # noqa: E401,E402
'''


# -- what the spec reader binds names to ---------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """`train_test_split(X, y, test_size=..., random_state=...)` of one table's columns."""

    frame: Frame
    features: tuple
    target: Any
    test_size: float
    random_state: int


@dataclass(eq=False)
class SplitPartV:
    split: Split
    role: str  # "X" or "y"
    part: str  # "train" or "test"


@dataclass(eq=False)
class ModelV:
    name: str  # a key of MODEL_CLASSES
    params: tuple  # ((keyword, constant), ...)


@dataclass(eq=False)
class FittedV:
    model: ModelV
    split: Split


@dataclass(eq=False)
class PredictionV:
    fitted: FittedV
    part: str


# -- the statistic --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelMetric(Statistic):
    split: Split
    model: str
    params: tuple
    metric: str  # "score" or a key of METRICS
    kind = "model_metric"
    helper = MODEL_HELPER

    @property
    def frame(self) -> Frame:  # (pruning and the file list read it as other statistics' frame)
        return self.split.frame

    def model_code(self) -> str:
        module, _ = MODEL_CLASSES[self.model]
        return f"{module}.{self.model}({', '.join(f'{k}={quote(v)}' for k, v in self.params)})"

    def measured(self) -> tuple[str, str]:
        """(how the question names the metric, the answer's name): `score` is the accuracy of a
        classifier and the R² of a regressor."""
        if self.metric != "score":
            return METRICS[self.metric]
        classifier = self.model.endswith("Classifier") or self.model == "LogisticRegression"
        return METRICS["accuracy_score" if classifier else "r2_score"]

    def text(self) -> str:
        measured = self.measured()[0]
        split = self.split
        features = (f"{column(split.features[0])} as the only feature" if len(split.features) == 1
                    else f"{columns_text(split.features)} as the features")
        return (f"{measured} on the test rows of scikit-learn's `{self.model_code().rsplit('.', 1)[1]}` fitted on "
                f"the training rows, with {features} and {column(split.target)} "
                f"as the target, the rows split by scikit-learn's `train_test_split(features, target, "
                f"test_size={split.test_size!r}, random_state={split.random_state!r})`")

    def expression(self, var_of: VarOf) -> str:
        split = self.split
        return (f"model_metric({var_of(split.frame)}, {quote(list(split.features))}, {quote(split.target)}, "
                f"{split.test_size!r}, {split.random_state!r}, {self.model_code()}, {quote(self.metric)})")

    def frames(self) -> list[Frame]:
        return [self.split.frame]

    def columns(self) -> set[Any] | None:
        return set(self.split.features) | {self.split.target}

    def name(self) -> str:
        return answer_name(self.measured()[1], self.split.target)

    def notes(self) -> list[str]:
        return ["Use scikit-learn with the settings stated and its defaults otherwise; the split, the fit and "
                "the metric are scikit-learn's."]


# -- reading the calls ----------------------------------------------------------------------------


def split_of(features: Any, target: Any, kwargs: dict[str, Any]) -> Split | None:
    """The split `train_test_split(X, y, ...)` makes, when X is some columns of the table y is a
    column of, and the split is fixed (a `random_state`)."""
    if not (isinstance(features, FrameV) and isinstance(target, SeriesV) and isinstance(target.expr, S.Col)):
        return None
    ops = features.frame.ops
    if not ops or not isinstance(ops[-1], S.SelectColumns) or S.Frame(features.frame.source, ops[:-1]) != target.frame:
        return None
    if set(kwargs) - {"test_size", "random_state"} or not all(isinstance(v, Const) for v in kwargs.values()):
        return None
    test_size = kwargs.get("test_size", Const(DEFAULT_TEST_SIZE)).value
    random_state = kwargs.get("random_state", Const(None)).value
    if type(random_state) is not int or not (isinstance(test_size, float) and 0 < test_size < 1):
        return None
    return Split(target.frame, tuple(ops[-1].names), target.expr.name, test_size, random_state)


def model_of(name: str, kwargs: dict[str, Any]) -> ModelV | None:
    short = name.rsplit(".", 1)[-1]
    if short not in MODEL_CLASSES or not all(isinstance(v, Const) for v in kwargs.values()):
        return None
    params = tuple(sorted((k, v.value) for k, v in kwargs.items()))
    if MODEL_CLASSES[short][1] and type(dict(params).get("random_state")) is not int:
        return None  # a forest without a fixed random_state gives another score each run
    return ModelV(short, params)


def metric_of(name: str, args: list[Any]) -> Any:
    """`r2_score(y_test, y_pred)` and the like: the metric of a fitted model on the test rows."""
    short = name.rsplit(".", 1)[-1]
    if short not in METRICS or len(args) != 2:
        return None
    truth, predicted = args
    if not (isinstance(truth, SplitPartV) and truth.role == "y" and truth.part == "test"
            and isinstance(predicted, PredictionV) and predicted.part == "test" and predicted.fitted.split == truth.split):
        return None
    fitted = predicted.fitted
    return ModelMetric(fitted.split, fitted.model.name, fitted.model.params, short)


def model_method(owner: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`model.fit(X_train, y_train)`, `model.predict(X_test)`, `model.score(X_test, y_test)`."""
    if kwargs:
        return None
    if isinstance(owner, ModelV) and name == "fit" and len(args) == 2:
        features, target = args
        if (isinstance(features, SplitPartV) and isinstance(target, SplitPartV) and features.split == target.split
                and (features.role, features.part, target.role, target.part) == ("X", "train", "y", "train")):
            return FittedV(owner, features.split)
    if isinstance(owner, FittedV) and name == "predict" and len(args) == 1:
        (features,) = args
        if isinstance(features, SplitPartV) and features.split == owner.split and features.role == "X":
            return PredictionV(owner, features.part)
    if isinstance(owner, FittedV) and name == "score" and len(args) == 2:
        features, target = args
        if (isinstance(features, SplitPartV) and isinstance(target, SplitPartV) and features.split == owner.split
                and target.split == owner.split and (features.role, features.part, target.role, target.part)
                == ("X", "test", "y", "test")):
            return ModelMetric(owner.split, owner.model.name, owner.model.params, "score")
    return None
