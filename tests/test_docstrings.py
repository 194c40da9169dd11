"""Every public object has a numpydoc docstring with a runnable example."""

import importlib
import inspect

import pytest

PUBLIC_MODULES = [
    "skrecover",
    "skrecover.activations",
    "skrecover.datasets",
    "skrecover.exceptions",
    "skrecover.experiments",
    "skrecover.inspection",
    "skrecover.metrics",
    "skrecover.model_selection",
    "skrecover.patches",
]


def public_objects():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


@pytest.mark.parametrize("name, obj", list(public_objects()), ids=lambda x: str(x))
def test_public_object_has_an_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "Examples\n--------" in doc, f"{name} has no Examples section"
    assert ">>> " in doc.split("Examples\n--------")[1], f"{name} has no doctest"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_modules_have_docstrings(module_name):
    assert importlib.import_module(module_name).__doc__
