"""Spark-free text cores: sentence splitting and rule tokenization on character spans."""
