"""``python -m twinml``: the same command line as the ``twinml`` script."""

from twinml.cli import app

app(prog_name="twinml")
