"""Retrieval quality evaluation on BEIR-format datasets, run through the real pipeline."""
