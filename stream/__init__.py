"""The stream framework: the consumer loop and what it reads, checks and reports (docs/ARCHITECTURE.md).

Knows no app, no Django project module and no dev-stack module."""
