"""The intake's routers, one per concern; ``intake.app`` includes each."""
