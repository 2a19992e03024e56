"""One module per CLI stage: each reads its inputs, does one job, writes its outputs atomically."""
