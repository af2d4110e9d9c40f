"""medscribe's composition root: the `medscribe` command, `demo`/`up` and the evaluation.

Layers point one way: medscribe → services (independent of each other) → shared;
simulators → shared. Import contracts in pyproject.toml ([tool.importlinter]) hold this.
"""

from shared import __version__

__all__ = ["__version__"]
