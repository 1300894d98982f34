"""The `render` fixture: tests/k8s's renderings of k8s/, cached for the session (k8s_support.py)."""

import pytest
from k8s_support import render_named


@pytest.fixture(scope="session")
def render(tmp_path_factory):
    """render(name) -> the rendered objects of a rendering (cached for the session)."""
    scratch = str(tmp_path_factory.mktemp("kustomizations"))
    return lambda name: list(render_named(name, scratch))
