"""The browser half, as static files the servers serve: ``earlgate.js`` (the
browser client), ``dashboard/`` (the hub's live page) and ``vendor/`` (pinned
third-party modules, each with its licence). No build step: the files here
are what the browser runs.
"""
