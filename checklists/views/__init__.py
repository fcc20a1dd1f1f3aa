"""The pages.  Each module is one area; `checklists/urls.py` names their URLs."""
