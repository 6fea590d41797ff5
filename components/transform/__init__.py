"""Transform: the character vocabulary and padding, as a TFT preprocessing_fn."""
