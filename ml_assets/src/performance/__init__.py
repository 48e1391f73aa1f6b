"""The model-performance component: exported predictions joined with ground-truth labels, scored."""
