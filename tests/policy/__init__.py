"""Repository policy: the layout's house rules and the shipped compose/image files, read from the source."""
