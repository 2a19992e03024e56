"""Training: the SCoRe losses (pure tensor functions) and the loop that applies them."""
