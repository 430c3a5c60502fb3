"""Well-known teaching and competition datasets, recognised three ways.

1. Loader calls: `sklearn.datasets.load_iris()`, `sns.load_dataset("titanic")`,
   `keras.datasets.mnist.load_data()`, `fetch_openml("mnist_784")`.
2. File names: `titanic.csv`, `train.csv` next to `gender_submission.csv`, `winequality-red.csv`.
3. Header signatures: the first line of a found CSV holds the dataset's column names, so a renamed
   `titanic.csv` is still caught.
"""

from __future__ import annotations

import re

# sklearn loaders that ship toy data (every load_* and the fetch_* of famous sets)
SKLEARN_TOY_LOADERS = re.compile(
    r"^sklearn\.datasets\.(load_(iris|boston|wine|breast_cancer|digits|diabetes|linnerud)"
    r"|fetch_(openml|olivetti_faces|lfw_people|lfw_pairs|20newsgroups|20newsgroups_vectorized|"
    r"california_housing|covtype|kddcup99|rcv1|species_distributions))$"
)
# frameworks' built-in dataset modules: keras.datasets.mnist.load_data(), torchvision.datasets.MNIST
FRAMEWORK_DATASET_MODULES = re.compile(
    r"^(tensorflow\.keras|keras|tf\.keras|torchvision|tensorflow_datasets|tfds)\.datasets?\b|^tensorflow_datasets\.load$"
)
# names as they appear in loader arguments and file names
TEACHING_NAMES = {
    "iris", "titanic", "boston", "boston_housing", "housing_boston", "wine", "winequality",
    "wine_quality", "winequality-red", "winequality-white", "mnist", "mnist_784", "fashion_mnist",
    "fashion-mnist", "cifar10", "cifar-10", "cifar100", "tips", "penguins", "diamonds", "mpg",
    "flights", "planets", "exercise", "car_crashes", "attention", "anscombe", "breast_cancer",
    "digits", "diabetes", "gender_submission", "chipotle", "pima-indians-diabetes",
}
_NAME_SPLIT = re.compile(r"[^a-z0-9]+")
# words that name a teaching dataset wherever they appear in a path
UNMISTAKABLE = {"iris", "titanic", "mnist", "winequality", "cifar10", "boston"}

# first-line signatures: every listed column must appear (case-insensitive)
HEADER_SIGNATURES = {
    "titanic": {"passengerid", "survived", "pclass", "sex", "age"},
    "titanic (seaborn)": {"survived", "pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"},
    "iris": {"sepal_length", "sepal_width", "petal_length", "petal_width"},
    "iris (spaced)": {"sepal length (cm)", "sepal width (cm)", "petal length (cm)"},
    "iris (kaggle)": {"sepallengthcm", "sepalwidthcm", "petallengthcm", "species"},
    "boston housing": {"crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio"},
    "wine quality": {"fixed acidity", "volatile acidity", "citric acid", "residual sugar", "quality"},
    "tips": {"total_bill", "tip", "sex", "smoker", "day", "time", "size"},
    "pima diabetes": {"pregnancies", "glucose", "bloodpressure", "skinthickness", "insulin"},
    "penguins": {"species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"},
}


def teaching_name(text: str) -> str | None:
    """The teaching dataset a file path or loader argument names, if any.

    The file's stem may be the name (`titanic.csv`, `winequality-red.csv`), or a word of the stem
    or of a folder may be one of the unmistakable names (`datasets/titanic/train.csv`).
    """
    parts = [p for p in text.lower().replace("\\", "/").split("/") if p]
    if not parts:
        return None
    stem = parts[-1]
    for suffix in (".gz", ".zip", ".bz2", ".csv", ".tsv", ".txt", ".data", ".xls", ".xlsx", ".json", ".npz", ".pkl"):
        stem = stem.removesuffix(suffix)
    if stem in TEACHING_NAMES:
        return stem
    for part in parts[:-1] + [stem]:
        for token in _NAME_SPLIT.split(part):
            if token in UNMISTAKABLE:
                return token
    return None


def header_signature(first_line: str) -> str | None:
    """The dataset whose column names the header line carries, if any."""
    columns = {c.strip().strip('"\'').lower() for c in re.split(r"[,;\t|]", first_line)}
    if len(columns) < 3:
        columns = {c.lower() for c in first_line.split()}
    for dataset, signature in HEADER_SIGNATURES.items():
        if signature <= columns:
            return dataset.split(" (")[0]
    return None
