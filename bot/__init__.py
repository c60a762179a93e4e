"""The Rasa assistant: YAML (config, domain, stories, rules) and its custom NLU components.

Only `bot.components` holds Python; it runs inside the Rasa environment (`.venv-rasa`).
"""
