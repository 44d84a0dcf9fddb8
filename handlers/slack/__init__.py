"""The Slack adapter: Bolt registration, Block Kit renderers, profiles and messenger."""
