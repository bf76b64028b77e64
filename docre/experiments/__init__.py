"""Experiments over seeds: ``docre train --seeds`` and ``docre compare``."""
