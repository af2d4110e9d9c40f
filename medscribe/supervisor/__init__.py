"""medscribe supervisor service."""
