"""Healthcheck surveys: the question templates and the storage-level rules for answers.

Templates (`templates`) are YAML files validated at load; rounds keep a snapshot of the template
they were launched with. `responses` records submissions, named or anonymous, so that in an
anonymous round nothing in the database links an answer to a person.
"""

from __future__ import annotations

from bot.services.healthcheck.templates import (
    Question,
    Template,
    TemplateError,
    load_template,
    load_templates,
    shipped_templates,
)

__all__ = [
    "Question",
    "Template",
    "TemplateError",
    "load_template",
    "load_templates",
    "shipped_templates",
]
