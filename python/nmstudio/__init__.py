"""nmstudio for Python: record training runs in nmstudio's run-file format (schema version 1).

    from nmstudio import Recorder

Only numpy and h5py are needed; torch tensors are accepted wherever numbers or arrays are.
"""

__version__ = "0.1.0"  # the project version (CMakeLists.txt, project(nmstudio VERSION ...))

from .recorder import Recorder  # noqa: E402

__all__ = ["Recorder", "__version__"]
