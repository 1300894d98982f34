"""Fingerprints of tandem's own code, so that TFX's cache notices edits.

TFX keys its cache on a component's inputs and exec properties. Code is named by module
path (run_fn, preprocessing_fn, a custom component's executor), and that path does not
change when the code does: an edited gate or trainer would be served from cache. Each
component that runs tandem code carries `code_fingerprint(<its module>, ...)` in an exec
property, so any edit to the code it can run is a cache miss.

What "the code it can run" is, is found, not listed: starting from the given modules,
every module of tandem's packages that they import, or name as a dotted module path in a
string (a module run as a child process, a function named by module path), and so on.
No module is imported to find it.
"""

import ast
import hashlib
import os
import re
from functools import cache
from importlib.util import find_spec

PACKAGES = ("components", "pipelines", "serving")  # tandem's code that components run
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


@cache
def _package_dir(top: str) -> str:
    spec = find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cannot find package {top!r}")
    return list(spec.submodule_search_locations)[0]


def source_file(module: str) -> str | None:
    """The file of a module of PACKAGES (a package's __init__.py), or None."""
    top, *rest = module.split(".")
    if top not in PACKAGES:
        return None
    path = os.path.join(_package_dir(top), *rest)
    for candidate in (path + ".py", os.path.join(path, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _referenced(module: str, source: str) -> set[str]:
    """Modules that `module` imports or names in a string, as candidate dotted names."""
    names = set()
    package = module if source_file(module).endswith("__init__.py") else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED.match(node.value):
            names.add(node.value)
            names.add(node.value.rsplit(".", 1)[0])  # "module.function"
    return names


def code_closure(*roots: str) -> list[str]:
    """The modules `roots` can run (themselves included), sorted. A root may be a package:
    all of its modules count then."""
    todo, seen = [], set()
    for root in roots:
        if source_file(root) is None:
            raise ImportError(f"no module or package {root!r} in {PACKAGES}")
        todo.append(root)
        if source_file(root).endswith("__init__.py"):  # a package: every module in it
            folder = os.path.dirname(source_file(root))
            for directory, _, files in os.walk(folder):
                relative = os.path.relpath(directory, folder)
                prefix = root if relative == "." else f"{root}.{relative.replace(os.sep, '.')}"
                todo += [f"{prefix}.{f[:-3]}" for f in files if f.endswith(".py") and f != "__init__.py"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        with open(source_file(module)) as f:
            referenced = _referenced(module, f.read())
        todo += [name for name in referenced if name not in seen and source_file(name)]
        # A module imports its packages' __init__ first.
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) not in seen]
    return sorted(seen)


def code_fingerprint(*roots: str) -> str:
    digest = hashlib.sha256()
    for module in code_closure(*roots):
        with open(source_file(module), "rb") as f:
            digest.update(module.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:16]
