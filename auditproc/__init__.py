"""auditproc: Linux audit logs in, ECS process events and EQL detection alerts out."""

__version__ = "0.1.0"
