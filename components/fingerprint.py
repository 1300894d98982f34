"""A fingerprint of user code, so that TFX's cache notices edits.

Components name user code by dotted module path (never by file), and TFX's cache key
holds only that path: an edited `preprocessing_fn` or `run_fn` would be served from
cache. Passing this fingerprint in the component's custom_config makes an edit a cache miss.
"""

import hashlib
import importlib.util


def source_fingerprint(*modules: str) -> str:
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise ImportError(f"cannot find the source of module {name!r}")
        with open(spec.origin, "rb") as source:
            digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]
