"""The Microsoft Graph adapter: Outlook calendar events with Teams online meetings."""
