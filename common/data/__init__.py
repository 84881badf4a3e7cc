"""The canonical datasets: generators, the user's files, the cache, split and preparation."""
