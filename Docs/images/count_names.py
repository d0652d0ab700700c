def count_names(block):
    """Return how often each name is bound in a block."""
    counts = {}
    for name in block.names:
        counts[name] = counts.get(name, 0) + 1
    return counts
