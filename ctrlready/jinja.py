"""The Jinja2 environment of the templates under `templates/jinja2/` (the item rows: see checklists/views/rows.py)."""

import jinja2


def environment(**options) -> jinja2.Environment:
    """Django's options, except that a name missing from the context is an error, never an empty string."""
    options["undefined"] = jinja2.StrictUndefined
    return jinja2.Environment(**options)
