"""The eight NbQA task categories, recognised from the functions and methods code calls."""

from __future__ import annotations

SUMMARY = "Summary Statistics"
DISTRIBUTION = "Distribution Analysis"
CORRELATION = "Correlation Analysis"
OUTLIERS = "Outlier Detection"
PREPROCESSING = "Data Preprocessing"
FEATURES = "Feature Engineering"
MACHINE_LEARNING = "Machine Learning"
VISUALIZATION = "Visualization"

CONCEPTS = (SUMMARY, DISTRIBUTION, CORRELATION, OUTLIERS, PREPROCESSING, FEATURES, MACHINE_LEARNING, VISUALIZATION)

# function or method name (last part of the dotted name) -> category
CALL_CONCEPTS: dict[str, str] = {
    **dict.fromkeys(
        ["mean", "median", "sum", "std", "var", "min", "max", "count", "describe", "nunique", "mode",
         "agg", "aggregate", "idxmax", "idxmin", "nlargest", "nsmallest", "cumsum", "prod", "sem"],
        SUMMARY,
    ),
    **dict.fromkeys(
        ["skew", "kurt", "kurtosis", "quantile", "value_counts", "shapiro", "normaltest", "kstest",
         "percentile", "histogram", "ttest_ind", "ttest_1samp", "chi2_contingency", "anderson"],
        DISTRIBUTION,
    ),
    **dict.fromkeys(["corr", "corrwith", "cov", "pearsonr", "spearmanr", "kendalltau", "corrcoef"], CORRELATION),
    **dict.fromkeys(["zscore", "iqr", "clip", "IsolationForest", "LocalOutlierFactor"], OUTLIERS),
    **dict.fromkeys(
        ["dropna", "fillna", "drop_duplicates", "astype", "to_datetime", "to_numeric", "replace", "rename",
         "merge", "concat", "join", "drop", "isnull", "isna", "notnull", "sort_values", "reset_index",
         "set_index", "query", "interpolate", "strip", "duplicated", "pivot_table", "melt", "groupby"],
        PREPROCESSING,
    ),
    **dict.fromkeys(
        ["get_dummies", "cut", "qcut", "StandardScaler", "MinMaxScaler", "LabelEncoder", "OneHotEncoder",
         "PolynomialFeatures", "transform", "fit_transform", "shift", "diff", "pct_change", "rolling",
         "resample", "apply", "map"],
        FEATURES,
    ),
    **dict.fromkeys(
        ["fit", "predict", "predict_proba", "score", "train_test_split", "cross_val_score",
         "LinearRegression", "LogisticRegression", "RandomForestClassifier", "RandomForestRegressor",
         "KMeans", "DecisionTreeClassifier", "DecisionTreeRegressor", "SVC", "KNeighborsClassifier",
         "accuracy_score", "mean_squared_error", "r2_score", "f1_score", "GridSearchCV", "PCA", "ols"],
        MACHINE_LEARNING,
    ),
    **dict.fromkeys(["plot", "hist", "scatter", "bar", "boxplot", "heatmap", "lineplot", "barplot",
                     "histplot", "pairplot", "savefig", "imshow", "countplot", "distplot"], VISUALIZATION),
}


def concepts_of(call_names: list[str]) -> list[str]:
    """Categories of the given calls, first-seen order, each once."""
    seen: list[str] = []
    for name in call_names:
        concept = CALL_CONCEPTS.get(name.rsplit(".", 1)[-1])
        if concept and concept not in seen:
            seen.append(concept)
    return seen
