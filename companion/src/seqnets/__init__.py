"""seqnets: the companion package of *Autoregressive, Convolutional and Recurrent Networks*.

The most used names are importable from the top level; everything else lives in the module named
after the idea a chapter teaches (``seqnets.models.scratch``, ``seqnets.models.conv``, ...).
Importing ``seqnets`` has no side effects beyond importing torch and NumPy.
"""

from seqnets.train import History, evaluate, fit, predict
from seqnets.utils import Timer, check_shape, count_parameters, pick_device, seed_everything

#: The package version.
__version__ = "0.1.0"

__all__ = [
    "History",
    "Timer",
    "check_shape",
    "count_parameters",
    "evaluate",
    "fit",
    "pick_device",
    "predict",
    "seed_everything",
    "__version__",
]
