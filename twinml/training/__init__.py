"""Lightning training and MLflow tracking around `twinml.models`."""
