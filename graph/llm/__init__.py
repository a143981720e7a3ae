"""Optional LLM mode: an OpenAI-compatible model for routing when the offline classifier
is unsure, a read-only tool loop for compound live questions, and narratives grounded
in collected evidence.

Import the submodules (`graph.llm.features` is the entry point); this package imports
nothing itself, so offline runs never load a model client.
"""

__all__: list[str] = []
