"""The local sandbox: a Slack of its own inside the bot's server, and a page at /sandbox to use
it from a browser, with no workspace or tenant.

The bot's Slack Web API client points at the sandbox's Web API (`web_api`), which keeps the
workspace's messages, modals and App Home tabs (`workspace`). What a person does on the page
becomes a correctly signed Slack request to the bot's own `/slack/events` (`events`), so the
bot's real Slack code runs end to end. It listens on 127.0.0.1 only, and answers only requests
addressed to 127.0.0.1 or localhost (`guard`).
"""
