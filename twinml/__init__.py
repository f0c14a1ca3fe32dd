"""twinml: cardiac digital twins with learned surrogates for what-if answers."""

__version__ = "0.1.0"
