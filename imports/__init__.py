"""Archives that others made, loaded as crawls are (`newscorpus import`)."""
