"""Sphinx configuration of the skrecover documentation."""

import skrecover

project = "skrecover"
author = "the skrecover developers"
copyright = "2026, the skrecover developers"
release = skrecover.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = []
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = "skrecover"
html_theme_options = {"navigation_with_keys": False}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Document skrecover's own members only: the methods scikit-learn's mixins and
    metadata routing add (``score``, ``set_fit_request``, ...) are documented there."""
    module = getattr(obj, "__module__", "") or ""
    return True if module.startswith("sklearn") else skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
