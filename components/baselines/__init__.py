"""Count-based baselines (n-gram, unigram) for the quality bench."""
