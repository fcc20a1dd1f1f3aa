"""The Jinja2 environment of the templates under `templates/jinja2/` (what the deployment page renders by the
thousand: see checklists/views/rows.py)."""

import jinja2

from checklists.templatetags.ctrlready import block_md, percent


def environment(**options) -> jinja2.Environment:
    """Django's options, except that a name missing from the context is an error, never an empty string."""
    options["undefined"] = jinja2.StrictUndefined
    env = jinja2.Environment(**options)
    env.filters["percent"] = percent
    env.filters["block_md"] = block_md
    return env
