"""Writes to the command queue. Every state change goes through transitions.command_transition."""
