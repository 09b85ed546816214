"""Monitoring: what a serving deployment collected, read and measured against its
model's training data."""
