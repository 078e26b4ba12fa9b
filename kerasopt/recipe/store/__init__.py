"""The run directory on disk: claim, lock, manifest, progress and backups."""
