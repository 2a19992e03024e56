"""Models: the tiny embedded default, its pre-training, and loading any model directory."""
