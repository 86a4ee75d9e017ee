"""The knowledge base: schema and validation, loading and hot reload, answer rendering, training-data export.

Public API (other capabilities code against these):
``bot.knowledge.loader``: ``load_knowledge(dir) -> KnowledgeBase``, ``KnowledgeStore(dir).get()``, ``KnowledgeError``;
``bot.knowledge.check``: ``check_knowledge(dir, overrides=None) -> list[Problem]``;
``bot.knowledge.answers``: ``render_answer``, ``render_overview``, ``render_clarify_program``,
``render_service_list``, ``render_contact``, ``render_all_aspects``;
``bot.knowledge.export``: ``export_training_data(kb, build_dir)``.
"""
