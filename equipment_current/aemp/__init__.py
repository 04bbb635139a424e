"""ISO 15143-3 (AEMP 2.0) fleet API over the stored state, history and usage (docs/AEMP.md)."""
