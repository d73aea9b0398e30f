"""jobspec: declarative reconciliation for DryvIQ transfer jobs."""

__version__ = "0.1.0"
