#!/usr/bin/env python3
"""Train the tabular test models for pg_infer and export them to ONNX.

Run by hand when the models must be regenerated, never in CI:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install scikit-learn \\
        skl2onnx onnxmltools xgboost lightgbm onnxruntime onnx numpy pandas
    /tmp/venv/bin/python test/onnx/make_tabular.py

Each model is trained on a dataset that scikit-learn ships (breast_cancer,
iris, wine, diabetes, digits) and written in the layout of ONNX's backend
tests (the test rows of the models that handle missing values, XGBoost,
LightGBM and HistGradientBoosting, have 5% of their values NaN):

    test/onnx/tabular/<name>/model.onnx
    test/onnx/tabular/<name>/test_data_set_0/input_<i>.pb    every row
    test/onnx/tabular/<name>/test_data_set_0/output_<j>.pb

The outputs are the LIBRARY's own answers, not ONNX Runtime's: a
classifier's output 0 is predict() (the labels), output 1 predict_proba()
(or decision_function() where the model has no probabilities, in the
layout the exporter writes); a regressor's output 0 is predict() as
[N, 1].  pg_infer must agree with them on every row (test/onnx/conformance
--tolerance 1e-5 in make check-onnx, and test/e2e/test_tabular.py through
SQL).  Before writing, the script checks that ONNX Runtime agrees with the
library too (labels on every row, values to 1e-5 relative) and prints what
it finds; the models are ZipMap-free (zipmap=False) so that every output is
a tensor.

Also written: test/onnx/tabular/MANIFEST (one folder per line, with the
library, dataset and rows) and VERSIONS.txt.

Two workarounds for the exporter versions of VERSIONS.txt: skl2onnx 1.20
passes Python booleans in nodes_missing_value_tracks_true, which onnx 1.23's
make_attribute refuses (make_attribute is wrapped below to turn them into
integers; the values are unchanged), and it registers LinearSVC without the
zipmap option that its pipeline parser asks every classifier for (the
converter is registered again with it; LinearSVC has no probabilities, so
there is no ZipMap either way).
"""
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
import onnx.helper
import onnxruntime as ort
import pandas as pd
import sklearn
from onnx import numpy_helper
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

warnings.filterwarnings("ignore")

_make_attribute = onnx.helper.make_attribute


def _make_attribute_ints(key, value, *args, **kwargs):
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
        value = [int(v) for v in value]
    return _make_attribute(key, value, *args, **kwargs)


onnx.helper.make_attribute = _make_attribute_ints

import lightgbm  # noqa: E402
import onnxmltools  # noqa: E402
import skl2onnx  # noqa: E402
import xgboost  # noqa: E402
from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat  # noqa: E402
from skl2onnx import convert_sklearn, to_onnx  # noqa: E402
from skl2onnx.common._registration import register_converter  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType, StringTensorType  # noqa: E402
from skl2onnx.operator_converters.linear_classifier import convert_sklearn_linear_classifier  # noqa: E402

register_converter("SklearnLinearSVC", convert_sklearn_linear_classifier, overwrite=True,
                   options={"zipmap": [True, False, "columns"], "nocl": [True, False],
                            "output_class_labels": [False, True], "raw_scores": [True, False]})

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tabular")
SEED = 0


def dataset(name):
    """Features as float32 and targets of a scikit-learn dataset."""
    loader = {"breast_cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine,
              "diabetes": load_diabetes, "digits": load_digits}[name]
    x, y = loader(return_X_y=True)
    return x.astype(np.float32), y


def customers():
    """A table with string columns, made from wine: four numeric features,
    two of them also binned into named categories, and a class."""
    x, y = dataset("wine")
    alcohol, malic, color, proline = x[:, 0], x[:, 1], x[:, 9], x[:, 12]
    frame = pd.DataFrame({
        "alcohol": alcohol, "malic_acid": malic, "proline": proline,
        "hue": x[:, 10],
        "color": np.array(["pale", "light", "medium", "deep"])[np.digitize(color, [3, 5, 7])],
        "region": np.array(["north", "south", "east"])[(np.argsort(np.argsort(proline)) * 3) // len(y)],
    })
    return frame, y


def tensor_file(path, array, name):
    if array.dtype == object:
        t = onnx.helper.make_tensor(name, onnx.TensorProto.STRING, array.shape,
                                    [s.encode() for s in array.ravel()])
    else:
        t = numpy_helper.from_array(array, name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def ort_outputs(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def agreement(got, want, labels):
    """How far got is from want: classes equal, else max relative error."""
    got, want = np.asarray(got), np.asarray(want)
    if labels:
        return float(np.mean(got.ravel() == want.ravel()))
    got, want = got.astype(np.float64).reshape(want.shape), want.astype(np.float64)
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))


def write(name, model, feeds, outputs, note):
    """Writes the model and its test data; checks ONNX Runtime against the library."""
    onnx.checker.check_model(model)
    model.graph.name = name
    folder = os.path.join(ROOT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    inputs = [i.name for i in model.graph.input]
    for k, input_name in enumerate(inputs):
        tensor_file(os.path.join(folder, "test_data_set_0", f"input_{k}.pb"), feeds[input_name], input_name)
    runtime = ort_outputs(model, feeds)
    report = []
    for k, (out, want) in enumerate(zip(model.graph.output, outputs)):
        tensor_file(os.path.join(folder, "test_data_set_0", f"output_{k}.pb"), want, out.name)
        labels = want.dtype == object or np.issubdtype(want.dtype, np.integer)
        score = agreement(runtime[k], want, labels)
        report.append(f"{out.name}: ORT {'classes equal' if labels else 'max rel. error'} {score:.3g}")
        if (labels and score < 1.0) or (not labels and score > 1e-5):
            print(f"WARNING {name}: ONNX Runtime and the library differ: {report[-1]}", file=sys.stderr)
    size = os.path.getsize(os.path.join(folder, "model.onnx"))
    print(f"{name}: {size // 1024} KB, {'; '.join(report)}")
    return f"{name}\t{note}\t{len(next(iter(feeds.values())))} rows"


def with_missing(x, fraction=0.05):
    """x with a fraction of its values NaN, for models that handle missing values."""
    x = x.copy()
    x[np.random.default_rng(SEED).random(x.shape) < fraction] = np.nan
    return x


def classifier_outputs(est, x, labels_dtype=np.int64):
    labels = np.asarray(est.predict(x))
    labels = labels.astype(object) if labels.dtype.kind in "OU" else labels.astype(labels_dtype)
    if hasattr(est, "predict_proba"):
        scores = est.predict_proba(x)
    else:
        scores = est.decision_function(x)
        if scores.ndim == 1:
            scores = np.stack([-scores, scores], axis=1)
    return [labels, scores.astype(np.float32)]


def sklearn_model(est, x, zipmap=True):
    options = {id(est): {"zipmap": False}} if zipmap else None
    return to_onnx(est, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options=options)


def tree_models():
    specs = [
        ("rf_classifier_breast_cancer", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=SEED), "breast_cancer"),
        ("rf_classifier_wine", RandomForestClassifier(n_estimators=20, max_depth=5, random_state=SEED), "wine"),
        ("extra_trees_classifier_iris", ExtraTreesClassifier(n_estimators=20, max_depth=5, random_state=SEED), "iris"),
        ("decision_tree_classifier_digits", DecisionTreeClassifier(max_depth=10, random_state=SEED), "digits"),
        ("gb_classifier_breast_cancer", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=SEED), "breast_cancer"),
        ("gb_classifier_wine", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=SEED), "wine"),
        ("hgb_classifier_breast_cancer", HistGradientBoostingClassifier(max_iter=30, random_state=SEED), "breast_cancer"),
        ("hgb_classifier_iris", HistGradientBoostingClassifier(max_iter=20, random_state=SEED), "iris"),
    ]
    lines = []
    for name, est, data in specs:
        x, y = dataset(data)
        est.fit(x, y)
        model = sklearn_model(est, x)
        if name.startswith("hgb"):
            x = with_missing(x)
        lines.append(write(name, model, {"X": x}, classifier_outputs(est, x),
                           f"scikit-learn {type(est).__name__}, {data}" + (", 5% of the values NaN" if name.startswith("hgb") else "")))
    specs = [
        ("rf_regressor_diabetes", RandomForestRegressor(n_estimators=20, max_depth=6, random_state=SEED)),
        ("extra_trees_regressor_diabetes", ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=SEED)),
        ("decision_tree_regressor_diabetes", DecisionTreeRegressor(max_depth=8, random_state=SEED)),
        ("gb_regressor_diabetes", GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=SEED)),
        ("hgb_regressor_diabetes", HistGradientBoostingRegressor(max_iter=30, random_state=SEED)),
    ]
    for name, est in specs:
        x, y = dataset("diabetes")
        est.fit(x, y)
        model = sklearn_model(est, x, zipmap=False)
        if name.startswith("hgb"):
            x = with_missing(x)
        want = est.predict(x).astype(np.float32).reshape(-1, 1)
        lines.append(write(name, model, {"X": x}, [want], f"scikit-learn {type(est).__name__}, diabetes" +
                           (", 5% of the values NaN" if name.startswith("hgb") else "")))
    return lines


def linear_models():
    lines = []
    frame, y = customers()
    numeric = ["alcohol", "malic_acid", "proline", "hue"]
    strings = ["color", "region"]
    types = [(c, FloatTensorType([None, 1])) for c in numeric] + [(c, StringTensorType([None, 1])) for c in strings]
    feeds = {c: frame[[c]].to_numpy().astype(np.float32) for c in numeric}
    feeds.update({c: frame[[c]].to_numpy().astype(object) for c in strings})
    for name, clf, unknown in [
            ("logistic_regression_customers", LogisticRegression(max_iter=2000), "ignore"),
            ("linear_svc_customers", LinearSVC(max_iter=20000, random_state=SEED), "ignore"),
            ("sgd_classifier_customers", SGDClassifier(loss="log_loss", random_state=SEED), "ignore"),
            ("logistic_regression_customers_strict", LogisticRegression(max_iter=2000), "error")]:
        pre = ColumnTransformer([("num", StandardScaler(), numeric),
                                 ("cat", OneHotEncoder(handle_unknown=unknown), strings)])
        pipe = make_pipeline(pre, clf).fit(frame, y)
        options = {id(clf): {"zipmap": False}} if hasattr(clf, "predict_proba") else None
        model = convert_sklearn(pipe, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3},
                                options=options)
        lines.append(write(name, model, feeds, classifier_outputs(pipe, frame),
                           f"scikit-learn StandardScaler + OneHotEncoder(handle_unknown='{unknown}') (ColumnTransformer) + {type(clf).__name__}, wine as a table with string columns"))
    # a string target: the classes are labels
    x, yi = dataset("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[yi]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, names)
    model = to_onnx(pipe, x[:1], target_opset={"": 17, "ai.onnx.ml": 3},
                    options={id(pipe.steps[-1][1]): {"zipmap": False}})
    lines.append(write("logistic_regression_iris_names", model, {"X": x}, classifier_outputs(pipe, x),
                       "scikit-learn StandardScaler + LogisticRegression, iris with string class labels"))
    return lines


def boosted_models():
    lines = []
    for name, est, data in [
            ("xgboost_classifier_breast_cancer", xgboost.XGBClassifier(n_estimators=30, max_depth=4, random_state=SEED), "breast_cancer"),
            ("xgboost_classifier_wine", xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=SEED), "wine"),
            ("lightgbm_classifier_breast_cancer", lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, random_state=SEED, verbose=-1), "breast_cancer"),
            ("lightgbm_classifier_iris", lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, random_state=SEED, verbose=-1), "iris")]:
        x, y = dataset(data)
        est.fit(x, y)
        types = [("input", MlFloat([None, x.shape[1]]))]
        if name.startswith("xgboost"):
            model = onnxmltools.convert_xgboost(est, initial_types=types, target_opset=15)
        else:
            model = onnxmltools.convert_lightgbm(est, initial_types=types, target_opset=15, zipmap=False)
        x = with_missing(x)
        lines.append(write(name, model, {"input": x}, classifier_outputs(est, x),
                           f"{type(est).__module__.split('.')[0]} {type(est).__name__}, {data}, 5% of the values NaN"))
    for name, est in [("xgboost_regressor_diabetes", xgboost.XGBRegressor(n_estimators=40, max_depth=4, random_state=SEED)),
                      ("lightgbm_regressor_diabetes", lightgbm.LGBMRegressor(n_estimators=40, num_leaves=15, random_state=SEED, verbose=-1))]:
        x, y = dataset("diabetes")
        est.fit(x, y)
        types = [("input", MlFloat([None, x.shape[1]]))]
        convert = onnxmltools.convert_xgboost if name.startswith("xgboost") else onnxmltools.convert_lightgbm
        model = convert(est, initial_types=types, target_opset=15)
        x = with_missing(x)
        want = est.predict(x).astype(np.float32).reshape(-1, 1)
        lines.append(write(name, model, {"input": x}, [want],
                           f"{type(est).__module__.split('.')[0]} {type(est).__name__}, diabetes, 5% of the values NaN"))
    return lines


def main():
    os.makedirs(ROOT, exist_ok=True)
    lines = tree_models() + linear_models() + boosted_models()
    with open(os.path.join(ROOT, "MANIFEST"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(ROOT, "VERSIONS.txt"), "w") as f:
        for module in (sklearn, skl2onnx, onnxmltools, xgboost, lightgbm, onnx, ort, np):
            f.write(f"{module.__name__} {module.__version__}\n")


if __name__ == "__main__":
    main()
