"""Thin chat-platform adapters: parse a payload, ask the core, render the answer."""
