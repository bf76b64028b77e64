"""Inspection: why did the model predict a triple? (mention-pair attribution, spec 3.6)

- :mod:`docre.inspect.attribution`: attribution records per document and their aggregate.
- :mod:`docre.inspect.report`: one self-contained HTML page over the records.
- :mod:`docre.inspect.cli`: ``docre inspect``.
"""
