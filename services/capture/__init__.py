"""medscribe capture service."""
