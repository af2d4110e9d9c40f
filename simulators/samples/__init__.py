"""Built-in sample visits (scripts in the codec's format, written for this project)."""

from pathlib import Path

SAMPLE_VISIT = Path(__file__).with_name("sample_visit.json")
