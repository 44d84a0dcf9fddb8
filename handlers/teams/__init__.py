"""The Microsoft Teams adapter: the Bot Framework endpoint (tokens checked on the way in), msal
tokens on the way out, pure Adaptive Card renderers and the Messenger."""
