"""irisnet: read the iris measurements, scale them, and train a small Keras classifier on them."""
