"""Entity linking: each entity's Wikipedia title (or NIL) with a bi-encoder on the shared encoder.

- :mod:`docre.linking.aliases`: the alias table (surface form -> titles with priors) from training data;
- :mod:`docre.linking.features`: candidates and features of every entity;
- :mod:`docre.linking.model`: :class:`~docre.linking.model.LinkerModel` (``model.task = linker``);
- :mod:`docre.linking.predict`: ``docre link`` / ``Pipeline.link``;
- :mod:`docre.linking.evaluate`: ``docre evaluate --linking``.
"""
