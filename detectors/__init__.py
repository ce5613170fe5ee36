"""Judging pixels and metadata we did not write: forensic features, the classifier, generator
metadata parsers and public watermark detectors. Grows with the verify and forensics work."""
