"""Rendering analysis results: text tables, CSV, JSON, PNG figures and one HTML page."""
