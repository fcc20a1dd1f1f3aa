"""ctrlready's own settings, with a URLconf that adds the bare view `bench/ticks.py` compares it with."""

from ctrlready.settings import *  # noqa: F403 (every production setting, unchanged)

ROOT_URLCONF = "ticks_urls"
