"""The Microsoft Teams adapter: the Bot Framework endpoint (tokens checked on the way in), msal
tokens on the way out, pure Adaptive Card renderers and the Messenger."""

import os

# The Teams SDK loads a .env from the working directory or any parent when microsoft_teams.apps
# is first imported, and a DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS there would switch its
# token checks off; python-dotenv loads nothing while this is set. Set here, before any module
# of this package can import the SDK. (The bot reads its own .env through its settings.)
os.environ["PYTHON_DOTENV_DISABLED"] = "1"
