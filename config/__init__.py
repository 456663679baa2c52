"""Settings every stage may read: where runtime data lives, and the defaults the
environment overrides (config/settings.py).

Every process of newscorpus imports this package before its stages allocate, so Arrow's
allocator and glibc's number of heaps are chosen here (config/memory.py).
"""

from config import memory

memory.arrow_on_glibc()
memory.few_arenas()
