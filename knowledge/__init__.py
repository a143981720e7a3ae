"""Runbooks and past incidents in a hybrid (full text + vector) redisvl index.

The rest of opsbot uses :class:`knowledge.service.KnowledgeBase`; ``knowledge.cli`` holds
`opsbot kb ingest` / `opsbot kb search`. One concept per module: ``chunking`` (Markdown ->
sections), ``text`` (tokens), ``glossary`` (English <-> Chinese terms), ``embedders``,
``index`` (Redis storage), ``retrieval`` and ``fusion`` (hybrid search), ``ingest``,
``answer`` (chat cards) and ``incidents`` (incident memory).
"""
