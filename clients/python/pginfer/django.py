"""pg_infer's functions as Django expressions:

    from pginfer.django import Predict, PredictClass
    Digit.objects.annotate(digit=PredictClass("mnist", "features")).filter(digit=7)

The model name is a value (not a field); features is a field name or an
expression of a real[] (or numeric array), or a Python list."""
from django.contrib.postgres.fields import ArrayField
from django.db.models import FloatField, Func, IntegerField, Value


def _arguments(model, features, version):
    if isinstance(features, (list, tuple)) or hasattr(features, "tolist"):
        values = features.tolist() if hasattr(features, "tolist") else list(features)
        features = Value(values, output_field=ArrayField(FloatField()))
    args = [Value(model), features]
    if version is not None:
        args.append(Value(version))
    return args


class Predict(Func):
    """predict(model, features [, version]): the model's first output, real[]."""
    function = "predict"
    output_field = ArrayField(FloatField())

    def __init__(self, model, features, version=None, **extra):
        super().__init__(*_arguments(model, features, version), **extra)


class PredictClass(Func):
    """predict_class(model, features [, version]): the class, counted from 0."""
    function = "predict_class"
    output_field = IntegerField()

    def __init__(self, model, features, version=None, **extra):
        super().__init__(*_arguments(model, features, version), **extra)
