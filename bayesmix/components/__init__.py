"""Component families: what each mixture component is."""
