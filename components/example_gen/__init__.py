"""ExampleGen for text files of names: spans, line rules and tf.Examples."""
