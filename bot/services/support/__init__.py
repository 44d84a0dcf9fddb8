"""Support brokerage: schools ask for help, alliances with the expertise offer it.

`catalogue` is the data of what may be asked for: categories, the alliance expertise tags that
can serve each, and which are routed to the LA rather than traded.
"""
