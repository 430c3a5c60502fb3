"""Machine-learning tasks (extract/models.py): a scikit-learn model fitted on a stated split, and
its score on the test rows. The truth is computed here with scikit-learn from the raw file; every
task must state the features, the target, the split, the model and the metric, and `verify` must
find the solution deterministic and the reference program in agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from extraction_fixtures import extracted_and_verified, kept
from notebook_factory import NotebookFactory

READ = 'import pandas as pd\nfrom sklearn.model_selection import train_test_split\ndf = pd.read_csv("data/homes.csv")'


def homes() -> pd.DataFrame:
    rng = np.random.RandomState(0)
    n = 300
    rooms, area = rng.randint(1, 6, n), np.round(rng.uniform(30, 150, n), 1)
    return pd.DataFrame({"rooms": rooms, "area": area, "price": np.round(20 * rooms + 3 * area + rng.normal(0, 30, n), 1),
                         "big": (area > 90).astype(int)})


def split(d: pd.DataFrame, features: list[str], target: str, **options):
    return train_test_split(d[features], d[target], **options)


# name -> (cells after the read, truth from the raw frame, what the task must say)
MODELS = {
    "score": (['from sklearn.linear_model import LinearRegression\nX = df[["rooms", "area"]]\ny = df["price"]\n'
               'X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)',
               "model = LinearRegression()\nmodel.fit(X_train, y_train)", "model.score(X_test, y_test)"],
              lambda d: LinearRegression().fit(*split(d, ["rooms", "area"], "price", test_size=0.2, random_state=42)[::2])
              .score(*split(d, ["rooms", "area"], "price", test_size=0.2, random_state=42)[1::2]),
              ["R² score", "`LinearRegression()`", "`rooms` and `area` as the features and `price`",
               "test_size=0.2, random_state=42"]),
    "accuracy": (['from sklearn.ensemble import RandomForestClassifier\nfrom sklearn.metrics import accuracy_score\n'
                  'X = df[["rooms", "price"]]\ny = df["big"]\n'
                  'X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)\n'
                  'clf = RandomForestClassifier(n_estimators=20, random_state=1).fit(X_train, y_train)\n'
                  'pred = clf.predict(X_test)\naccuracy_score(y_test, pred)'],
                 lambda d: (lambda X_train, X_test, y_train, y_test: (RandomForestClassifier(n_estimators=20, random_state=1)
                            .fit(X_train, y_train).predict(X_test) == y_test).mean())(
                     *split(d, ["rooms", "price"], "big", test_size=0.3, random_state=0)),
                 ["accuracy", "`RandomForestClassifier(n_estimators=20, random_state=1)`", "`big` as the target"]),
    # a filter before the split is a step of the question
    "filtered_mse": (['from sklearn.linear_model import LinearRegression\nfrom sklearn.metrics import mean_squared_error\n'
                      'df = df[df["rooms"] >= 2]\nX = df[["area"]]\ny = df["price"]\n'
                      'X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=7)\nlr = LinearRegression()\n'
                      'lr.fit(X_train, y_train)\nmean_squared_error(y_test, lr.predict(X_test))'],
                     lambda d: (lambda X_train, X_test, y_train, y_test: mean_squared_error(
                         y_test, LinearRegression().fit(X_train, y_train).predict(X_test)))(
                         *split(d[d.rooms >= 2], ["area"], "price", random_state=7)),
                     ["Keep only the rows where `rooms` >= 2", "mean squared error", "`area` as the only feature",
                      "test_size=0.25, random_state=7"]),
}
# cells that fit a model but give no task: (cells after the read, the drop reason's start)
NO_TASK = {
    # a forest without a fixed random_state scores differently on each run
    "unseeded_model": (['from sklearn.ensemble import RandomForestRegressor\nX = df[["rooms"]]\ny = df["price"]\n'
                        'X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=7)\n'
                        'm = RandomForestRegressor(n_estimators=10)\nm.fit(X_train, y_train)\nm.score(X_test, y_test)'],
                       "unrenderable_preprocessing: RandomForestRegressor(n_estimators=10)"),
    # a split that draws other rows on each run
    "unseeded_split": (['from sklearn.linear_model import LinearRegression\nX = df[["rooms"]]\ny = df["price"]\n'
                        'X_train, X_test, y_train, y_test = train_test_split(X, y)\n'
                        'm = LinearRegression().fit(X_train, y_train)\nm.score(X_test, y_test)'],
                       "unrenderable_preprocessing: train_test_split(X, y)"),
    # scored on the rows it was fitted on: the text would have to say so; no task is made
    "train_score": (['from sklearn.linear_model import LinearRegression\nX = df[["rooms"]]\ny = df["price"]\n'
                     'X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)\n'
                     'm = LinearRegression().fit(X_train, y_train)\nm.score(X_train, y_train)'],
                    "unrenderable_preprocessing: m.score(X_train, y_train)"),
}


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    repo = tmp_path_factory.mktemp("homes")
    (repo / "data").mkdir()
    homes().to_csv(repo / "data" / "homes.csv", index=False)
    factory = NotebookFactory()
    try:
        for name, (cells, *_rest) in {**MODELS, **NO_TASK}.items():
            factory.write(repo, f"{name}.ipynb", [READ, *cells])
    finally:
        factory.close()
    return extracted_and_verified(repo)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_fitted_model_gives_its_test_score_with_every_setting_stated(notebooks, name):
    cells, truth, words = MODELS[name]
    (task,) = kept(notebooks[f"{name}.ipynb"])
    for phrase in words:
        assert phrase in task.task, (phrase, task.task)
    assert task.category == "Machine Learning" and task.question_kind == "model_metric"
    (answer,) = task.answers
    assert float(answer.value) == pytest.approx(round(float(truth(homes())), 2), abs=0.006), (task.label, truth(homes()))
    assert task.verified and task.deterministic and task.reference_agrees


@pytest.mark.parametrize("name", list(NO_TASK))
def test_a_model_the_spec_cannot_state_exactly_gives_no_task(notebooks, name):
    notebook = notebooks[f"{name}.ipynb"]
    assert not kept(notebook)
    reasons = [t.drop_reason for t in notebook.tasks]
    assert any(reason.startswith(NO_TASK[name][1]) for reason in reasons), reasons
