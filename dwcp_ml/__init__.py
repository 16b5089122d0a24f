"""dwcp-ml: the machine-learning layer of DWCP.

Subpackages map the repository's folders: ``feature_core`` (the C feature library through
cffi), ``training``, ``golden``.
"""

__version__ = "0.1.0"
