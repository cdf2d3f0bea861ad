"""Audit events to ECS documents."""
