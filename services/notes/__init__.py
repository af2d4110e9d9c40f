"""medscribe notes service."""
