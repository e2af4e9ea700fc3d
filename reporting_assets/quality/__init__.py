"""Pandera schemas and the four quality gates."""
