"""Data protection for one person: what the bot holds about them (a subject access export) and
erasing them (removing or irreversibly anonymising them everywhere)."""

from bot.services.privacy.erase import Erasure, ErasureResult
from bot.services.privacy.export import PrivacyExport, SubjectAccessExport

__all__ = ["Erasure", "ErasureResult", "PrivacyExport", "SubjectAccessExport"]
