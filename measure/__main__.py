"""``python -m measure measure ...`` / ``python -m measure campaign FILE``."""

from measure.cli import make_app

make_app()(prog_name="python -m measure")
