"""Plain torch.nn emulators (no Lightning, no MLflow here)."""
