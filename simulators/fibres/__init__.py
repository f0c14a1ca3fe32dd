"""Myocardial fibre fields."""
