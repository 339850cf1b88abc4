"""Interoperability tests against QuickFIX (C++ executor and the Python binding)."""
