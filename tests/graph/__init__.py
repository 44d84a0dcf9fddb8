"""Tests of the Microsoft Graph adapter against a fake Graph server."""
