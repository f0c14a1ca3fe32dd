"""Exception types raised where data enters the reference physics.

Every error says what was expected and what was found, naming the element,
node or field, so that the fix is obvious from the message alone.
"""


class TwinmlInputError(ValueError):
    """Base class for bad input: the command line maps it to exit code 2."""


class MeshError(TwinmlInputError):
    """A mesh is degenerate, inconsistent or not a tetrahedral mesh."""


class UnitsError(TwinmlInputError):
    """A quantity is in the wrong unit (for example a mesh in metres)."""


class FieldError(TwinmlInputError):
    """A point or cell field is missing, mis-sized or non-finite."""


class SiteError(TwinmlInputError):
    """A pacing or lead site is malformed or outside its allowed region."""


class DataError(RuntimeError):
    """External data (a download, a cache entry) is missing or corrupt."""


class ParameterError(TwinmlInputError):
    """A model or run parameter is outside its allowed range."""


class ConvergenceError(RuntimeError):
    """An iterative solve (an equilibrium, a periodic steady state) failed."""
