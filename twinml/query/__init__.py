"""What-if queries on a twin."""
