"""Development stack: model freshness (train only when inputs changed) and starting every process."""
