"""The test kit: plain helpers shared by the test folders.

Tests import helpers from here, never from a ``conftest`` module: pytest imports conftests
itself, and importing one from a test ties that test to another folder's fixtures.
"""
