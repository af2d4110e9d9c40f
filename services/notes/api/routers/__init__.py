"""Route modules of the staff API."""
