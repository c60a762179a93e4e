"""``python -m crmbot ...``: the ``crmbot`` command (how ``crmbot up`` starts its own helpers)."""

from crmbot.cli import main

main()
