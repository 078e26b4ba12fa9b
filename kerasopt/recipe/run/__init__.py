"""Running a validated recipe: the run, its stages, techniques, callbacks and export gate."""
