"""From plain text to relations: mentions, their types and entities, then relations, in one model.

``model.task = end_to_end`` (config section ``e2e``) builds a :class:`docre.e2e.model.JointModel`:
the shared document encoder, span-based mention detection and typing as in SpERT
(:mod:`docre.e2e.spans`), mention-pair coreference with agglomerative clustering into entities as
in JEREX (:mod:`docre.e2e.coref`), and the relation head of ``model.head`` (ATLOP or KMGRE) on
the predicted entities. :mod:`docre.e2e.extract` runs it on text (``docre extract``,
``Pipeline.extract``); :mod:`docre.e2e.evaluate` scores it end to end against gold documents
(``docre evaluate --end-to-end``, metrics in :mod:`docre.evaluation.end_to_end`).
"""
