"""medscribe stt_bridge service."""
