"""The Slack adapter: renderers, signing, and the app end to end over HTTP."""
