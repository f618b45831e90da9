"""Baseline vs current: findings per tier, then one exit code."""
