"""What every app may import: errors, actors, roles, API tokens, the history of events, encryption.

Nothing here imports `checklists` or `probes`; they import it.
"""
