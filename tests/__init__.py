"""The project's tests (a regular package: medspaCy's dependency medspacy_quickumls installs a
top-level ``tests`` package into site-packages, which would shadow a namespace package)."""
