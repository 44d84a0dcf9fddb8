"""Quadrant meetings: availability polls, booking, invitations, agendas, minutes and actions."""
