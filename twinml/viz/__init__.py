"""Rendering to PNG (off-screen)."""
