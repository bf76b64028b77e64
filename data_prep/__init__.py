"""Scripts that obtain and convert the datasets docre trains on (see README.md).

``python -m data_prep.fetch`` downloads and verifies DocRED and Re-DocRED;
``python -m data_prep.convert_biomed`` turns CDR/GDA ``.data`` files into DocRED JSON.
"""
