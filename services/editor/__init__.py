"""medscribe editor service."""
