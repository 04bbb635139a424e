"""The embedded development stack: the Tansu broker, the litemongo store, the fleet simulator (docs/ARCHITECTURE.md)."""
