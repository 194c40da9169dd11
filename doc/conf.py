"""Sphinx configuration of the skrecover documentation."""

import importlib
import inspect
import sys
from pathlib import Path

import skrecover

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import benchmark_tables  # noqa: E402
import offline_inventories  # noqa: E402

project = "skrecover"
author = "the skrecover developers"
copyright = "2026, the skrecover developers"
release = skrecover.__version__
version = release
repository = "https://github.com/skrecover/skrecover"

nitpicky = True

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
# The signature is in the class's heading; the class docstring alone follows it.
autoclass_content = "class"
autodoc_class_signature = "mixed"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "array-like": ":term:`sklearn:array-like`",
    "RandomState": "numpy.random.RandomState",
    "Generator": "numpy.random.Generator",
    "Bunch": "sklearn.utils.Bunch",
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    "Network": "skrecover.Network",
    "Activation": "skrecover.activations.Activation",
    "TeacherNetwork": "skrecover.datasets.TeacherNetwork",
    "callable": "callable",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "str": "str",
    "dict": "dict",
    "tuple": "tuple",
    "list": "list",
}
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates"]

intersphinx_mapping = offline_inventories.intersphinx_mapping(
    HERE / "_build" / "inventories"
)

html_theme = "pydata_sphinx_theme"
html_title = f"skrecover {release}"
html_static_path = ["_static"]
html_css_files = ["skrecover.css"]
# The wide benchmark tables get the page's full width.
html_sidebars = {"benchmarks": [], "choosing": []}
html_theme_options = {
    "navigation_with_keys": False,
    "icon_links": [
        {"name": "Source code", "url": repository, "icon": "fa-brands fa-github"}
    ],
}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    # "Examples using X" on each API page; links from example code to the API
    # pages here and, through intersphinx, to those of the other projects.
    "doc_module": ("skrecover",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skrecover": None},
    "min_reported_time": 1,
}

# The links checked by ``-b linkcheck`` in CI are the site's own: the other
# projects' sites are not reachable from every build machine.
linkcheck_ignore = [r"https?://"]


def scikit_learn_methods(module, name):
    """The public methods ``module.name`` inherits from scikit-learn, as links to
    scikit-learn's documentation (listed on the class page, not repeated there)."""
    cls = getattr(importlib.import_module(module), name)
    if not inspect.isclass(cls):
        return []
    links, requests = [], []
    for method in sorted(dir(cls)):
        if method.startswith("_") or not callable(getattr(cls, method, None)):
            continue
        if method.startswith("set_") and method.endswith("_request"):
            requests.append(f"``{method}``")
            continue
        owner = next(base for base in cls.__mro__ if method in vars(base))
        if not owner.__module__.startswith("sklearn"):
            continue
        # Documented on the first public scikit-learn class that has it.
        page = next(
            base
            for base in cls.__mro__
            if base.__module__.startswith("sklearn")
            and "._" not in base.__module__
            and not base.__name__.startswith("_")
            and hasattr(base, method)
        )
        links.append(f":meth:`~{page.__module__}.{page.__qualname__}.{method}`")
    if requests:
        links.append(
            ", ".join(requests)
            + " (:ref:`metadata routing <sklearn:metadata_routing>`)"
        )
    return links


def _documented_classes():
    for module_name in (
        "skrecover",
        "skrecover.datasets",
        "skrecover.inspection",
        "skrecover.activations",
        "skrecover.exceptions",
        "skrecover.utils.estimator_checks",
    ):
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and not name.startswith("_"):
                yield obj.__module__, module_name, name


autosummary_context = {
    "scikit_learn_methods": {
        f"{documented}.{name}": scikit_learn_methods(module, name)
        for module, documented, name in _documented_classes()
    }
}


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Document skrecover's own members: those scikit-learn's mixins and metadata
    routing add (``score``, ``set_fit_request``, ...) are listed with links to
    scikit-learn's documentation instead. Returns None (the default rules: no
    private or special members) for all others."""
    module = getattr(obj, "__module__", "") or ""
    if (
        module.startswith("sklearn")
        or name.startswith("set_")
        and name.endswith("_request")
    ):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
    app.connect("builder-inited", benchmark_tables.write_tables)
